"""Shared harness for the black-box tests: run the built binaries the way a
user does, in a private temporary vault, and check what they print.

The meson test definitions set TIERVAULT_BIN and TIERVAULT_AGENT_BIN to the
built programs.  TIERVAULT_TEST_WRAPPER, when set (the valgrindbb
test setup), is put in front of every command, e.g. "valgrind -q".
"""

import os
import secrets
import shlex
import shutil
import subprocess
import tempfile
import unittest

TIERVAULT = os.environ.get("TIERVAULT_BIN", "tiervault")
AGENT = os.environ.get("TIERVAULT_AGENT_BIN", "tiervault-agent")
WRAPPER = shlex.split(os.environ.get("TIERVAULT_TEST_WRAPPER", ""))

# Variables a test must never inherit from the developer's shell.
_SCRUB = (
    "TIERVAULT_VAULT", "TIERVAULT_KEY_FILE", "TIERVAULT_PASSPHRASE",
    "TIERVAULT_PASSPHRASE_FILE", "TIERVAULT_PASSPHRASE_COMMAND",
    "TIERVAULT_TEST_NOW", "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID",
    "CLOUDFLARE_API_BASE_URL", "XDG_DATA_HOME",
)


def canary(label="CANARY"):
    """A value that must never show up anywhere but where it belongs."""
    return "%s-%s" % (label, secrets.token_hex(12))


def base_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB}
    env["NO_COLOR"] = "1"
    env["LC_ALL"] = "C"
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def run(argv, input=None, env=None, timeout=120, wrap=True):
    """Runs argv (a list) and returns the CompletedProcess (text mode)."""
    cmd = (WRAPPER if wrap else []) + list(argv)
    if isinstance(input, str):
        input = input.encode()
    # Without input, stdin is /dev/null: a test never waits on a terminal.
    stdin = subprocess.DEVNULL if input is None else None
    p = subprocess.run(cmd, input=input, stdin=stdin, env=env,
                       timeout=timeout, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    p.stdout = p.stdout.decode("utf-8", "replace")
    p.stderr = p.stderr.decode("utf-8", "replace")
    return p


class Vault:
    """A fresh vault in a private temporary directory, unlocked with a key
    file through TIERVAULT_KEY_FILE (fast: no Argon2)."""

    def __init__(self, init=True, init_args=None):
        self.tmp = tempfile.mkdtemp(prefix="tvtest-")  # mode 0700
        self.dir = os.path.join(self.tmp, "vault")
        self.keyfile = os.path.join(self.tmp, "vault.key")
        self.env = base_env(TIERVAULT_VAULT=self.dir,
                            TIERVAULT_KEY_FILE=self.keyfile)
        if init:
            args = init_args or ["init", "--key-file", self.keyfile,
                                 "--no-passphrase"]
            p = self.tv(*args)
            if p.returncode != 0:
                raise AssertionError("init failed: %s" % p.stderr)

    def tv(self, *args, input=None, env=None, timeout=120):
        e = dict(self.env)
        if env:
            for k, v in env.items():
                if v is None:
                    e.pop(k, None)
                else:
                    e[k] = v
        return run([TIERVAULT] + list(args), input=input, env=e,
                   timeout=timeout)

    def put(self, service, name, value, tier="core"):
        p = self.tv("put", service, name, "--tier", tier, input=value)
        if p.returncode != 0:
            raise AssertionError("put failed: %s" % p.stderr)
        return p

    def files(self):
        """Every file under the vault directory."""
        out = []
        for root, _dirs, names in os.walk(self.dir):
            out.extend(os.path.join(root, n) for n in names)
        return out

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


class TestCase(unittest.TestCase):
    """unittest.TestCase with a vault per test and output assertions."""

    def setUp(self):
        self.vault = Vault()
        self.addCleanup(self.vault.cleanup)

    def assertExit(self, p, code, msg=None):
        if p.returncode != code:
            self.fail("%sexit %d, expected %d\nstdout: %s\nstderr: %s" % (
                (msg + ": ") if msg else "", p.returncode, code,
                p.stdout[-2000:], p.stderr[-2000:]))

    def assertNoSecret(self, value, *texts):
        for t in texts:
            if isinstance(t, bytes):
                self.assertNotIn(value.encode(), t)
            else:
                self.assertNotIn(value, t)


def main():
    unittest.main(verbosity=2)
