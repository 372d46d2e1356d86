"""Black-box tests of refusals and faults: tampered bytes in the vault,
wrong credentials, loose permissions, concurrent writers."""

import hashlib
import json
import os
import re
import subprocess

import tvtest
from tvtest import TestCase, Vault


def digest(paths):
    h = hashlib.sha256()
    for p in sorted(paths):
        if os.path.basename(p) == "lock.mdb":
            continue  # readers' lock table: not vault content
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def data_file(vault):
    return os.path.join(vault.dir, "data.mdb")


def longest_random_run(data):
    """(start, length) of the longest run holding no 8 zero bytes in a
    row: in a fresh vault that is the ciphertext of a long value (random
    bytes hold 8 zeros in a row with odds of 2**-64 a position, while
    LMDB pads its pages with long runs of them)."""
    best = (0, 0)
    start = 0
    for gap in re.finditer(rb"\x00{8,}", bytes(data)):
        if gap.start() - start > best[1]:
            best = (start, gap.start() - start)
        start = gap.end()
    if len(data) - start > best[1]:
        best = (start, len(data) - start)
    return best


class Tamper(TestCase):

    def patch(self, old, new):
        path = data_file(self.vault)
        with open(path, "rb") as f:
            data = f.read()
        self.assertIn(old, data)
        with open(path, "wb") as f:
            f.write(data.replace(old, new))

    def test_changed_ciphertext_names_secret(self):
        self.vault.put("api", "OTHER", "fine")
        big = "v" * 3000
        self.vault.put("api", "BIG", big)
        path = data_file(self.vault)
        with open(path, "rb") as f:
            data = bytearray(f.read())
        start, length = longest_random_run(data)
        self.assertGreater(length, 2900)
        data[start + length // 2] ^= 0x01
        with open(path, "wb") as f:
            f.write(data)
        p = self.vault.tv("get", "api", "BIG")
        self.assertExit(p, 3)
        self.assertIn("api/BIG", p.stderr)
        self.assertEqual(p.stdout, "")
        p = self.vault.tv("get", "api", "OTHER")
        self.assertExit(p, 0)
        self.assertEqual(p.stdout, "fine\n")
        p = self.vault.tv("export", "--service", "api")
        self.assertExit(p, 3)
        self.assertEqual(p.stdout, "")

    def test_changed_record_names_secret(self):
        self.vault.put("api", "KEY", "x", tier="zqzqtier")
        self.patch(b"zqzqtier", b"zqzqtiex")
        for args in (["ls"], ["get", "api", "KEY"],
                     ["history", "api", "KEY"]):
            p = self.vault.tv(*args)
            self.assertIn(p.returncode, (1, 3), args)
            self.assertIn("api/KEY", p.stderr, args)

    def test_changed_audit_entry(self):
        self.vault.put("api", "KEY", "x")
        self.assertExit(self.vault.tv("log", "verify"), 0)
        self.patch(b"format 1, 1 keyslot", b"format 1, 9 keyslot")
        p = self.vault.tv("log", "verify")
        self.assertExit(p, 3)
        self.assertIn("audit entry 1", p.stderr)
        self.assertEqual(p.stdout, "")


class Credentials(TestCase):

    def setUp(self):
        self.vault = Vault(init=False)
        self.addCleanup(self.vault.cleanup)
        self.pw = tvtest.canary("pass")
        p = self.vault.tv("init", "--kdf", "interactive",
                          env={"TIERVAULT_PASSPHRASE": self.pw})
        self.assertExit(p, 0)
        self.vault.env.pop("TIERVAULT_KEY_FILE")
        self.vault.env["TIERVAULT_PASSPHRASE"] = self.pw
        self.vault.put("api", "K", "v")

    def write(self, name, text, mode=0o600):
        path = os.path.join(self.vault.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def test_every_source(self):
        env_none = {"TIERVAULT_PASSPHRASE": None}
        good = self.write("pw", self.pw + "\n")
        for env in ({"TIERVAULT_PASSPHRASE_FILE": good},
                    {"TIERVAULT_PASSPHRASE_COMMAND":
                     "printf '%%s\\n' '%s'" % self.pw},
                    {}):
            e = dict(env_none) if env else {}
            e.update(env)
            p = self.vault.tv("get", "api", "K", env=e)
            self.assertExit(p, 0, env)
            self.assertEqual(p.stdout, "v\n")

    def test_readable_passphrase_file_warned(self):
        path = self.write("pw", self.pw, mode=0o644)
        p = self.vault.tv("get", "api", "K", env={
            "TIERVAULT_PASSPHRASE_FILE": path})
        self.assertExit(p, 0)
        self.assertIn("can be read by others (chmod 600", p.stderr)
        self.assertNotIn(self.pw, p.stderr)

    def test_source_order(self):
        bad = self.write("bad", "wrong\n")
        good = self.write("pw", self.pw)
        # the file comes before the command and the variable
        p = self.vault.tv("get", "api", "K", env={
            "TIERVAULT_PASSPHRASE_FILE": good,
            "TIERVAULT_PASSPHRASE_COMMAND": "echo wrong",
            "TIERVAULT_PASSPHRASE": "wrong"})
        self.assertExit(p, 0)
        p = self.vault.tv("get", "api", "K", env={
            "TIERVAULT_PASSPHRASE_FILE": bad})
        self.assertExit(p, 3)
        p = self.vault.tv("get", "api", "K", env={
            "TIERVAULT_PASSPHRASE_COMMAND": "echo wrong"})
        self.assertExit(p, 3)
        # a key file is tried first, and this vault has no key-file slot
        keyfile = os.path.join(self.vault.tmp, "k")
        with open(os.open(keyfile, os.O_CREAT | os.O_WRONLY, 0o600),
                  "wb") as f:
            f.write(os.urandom(32))
        p = self.vault.tv("get", "api", "K",
                          env={"TIERVAULT_KEY_FILE": keyfile})
        self.assertExit(p, 3)

    def test_wrong_passphrase_changes_nothing(self):
        before = digest(self.vault.files())
        for args, stdin in ((["put", "api", "K", "--tier", "core"], "new"),
                            (["rm", "api", "K"], None),
                            (["keys", "add", "--passphrase"], "another"),
                            (["get", "api", "K"], None)):
            p = self.vault.tv(*args, input=stdin,
                              env={"TIERVAULT_PASSPHRASE": "wrong"})
            self.assertExit(p, 3, args)
            self.assertNotIn("wrong", p.stderr.replace("wrong passphrase",
                                                       ""))
        self.assertEqual(digest(self.vault.files()), before)
        self.assertEqual(self.vault.tv("get", "api", "K").stdout, "v\n")

    def test_no_source_no_terminal(self):
        p = self.vault.tv("get", "api", "K",
                          env={"TIERVAULT_PASSPHRASE": None})
        self.assertExit(p, 3)
        for name in ("TIERVAULT_KEY_FILE", "TIERVAULT_PASSPHRASE_FILE",
                     "TIERVAULT_PASSPHRASE_COMMAND", "TIERVAULT_PASSPHRASE"):
            self.assertIn(name, p.stderr)

    def test_bad_sources(self):
        p = self.vault.tv("get", "api", "K", env={
            "TIERVAULT_PASSPHRASE_COMMAND": "exit 5"})
        self.assertExit(p, 3)
        self.assertIn("exit status 5", p.stderr)
        p = self.vault.tv("get", "api", "K", env={
            "TIERVAULT_PASSPHRASE_FILE": "/nonexistent/pw"})
        self.assertExit(p, 3)
        self.assertIn("/nonexistent/pw", p.stderr)
        short = self.write("short.key", "0123456789")
        p = self.vault.tv("get", "api", "K",
                          env={"TIERVAULT_KEY_FILE": short})
        self.assertExit(p, 3)
        self.assertIn("short.key", p.stderr)

    def test_loose_key_file_refused(self):
        v = Vault()
        self.addCleanup(v.cleanup)
        os.chmod(v.keyfile, 0o644)
        p = v.tv("ls")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("chmod", p.stderr)
        self.assertIn(v.keyfile, p.stderr)


class Permissions(TestCase):

    def test_loose_vault_refused_with_fix(self):
        self.vault.put("api", "K", "v")
        os.chmod(self.vault.dir, 0o755)
        p = self.vault.tv("get", "api", "K")
        self.assertExit(p, 1)
        self.assertIn("chmod", p.stderr)
        self.assertEqual(p.stdout, "")
        os.chmod(self.vault.dir, 0o700)
        os.chmod(data_file(self.vault), 0o640)
        p = self.vault.tv("ls")
        self.assertExit(p, 1)
        self.assertIn("chmod", p.stderr)
        os.chmod(data_file(self.vault), 0o600)
        self.assertExit(self.vault.tv("ls"), 0)

    def test_symlinked_vault_refused(self):
        link = os.path.join(self.vault.tmp, "link")
        os.symlink(self.vault.dir, link)
        p = self.vault.tv("--vault", link, "ls")
        self.assertExit(p, 1)
        self.assertIn("symbolic link", p.stderr)

    def test_new_files_private(self):
        for root, dirs, files in os.walk(self.vault.dir):
            for d in dirs:
                self.assertEqual(os.stat(os.path.join(root, d)).st_mode
                                 & 0o077, 0)
            for f in files:
                self.assertEqual(os.stat(os.path.join(root, f)).st_mode
                                 & 0o077, 0)
        self.assertEqual(os.stat(self.vault.keyfile).st_mode & 0o777, 0o600)
        self.assertEqual(os.path.getsize(self.vault.keyfile), 32)


class Concurrency(TestCase):

    def test_parallel_puts_all_land(self):
        n = 8
        procs = []
        for i in range(n):
            cmd = tvtest.WRAPPER + [tvtest.TIERVAULT, "put", "api",
                                    "SAME" if i % 2 else "K%d" % i,
                                    "--tier", "core"]
            procs.append(subprocess.Popen(
                cmd, env=self.vault.env, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE))
        for i, p in enumerate(procs):
            out, err = p.communicate(("value-%d" % i).encode(), timeout=60)
            self.assertEqual(p.returncode, 0, err.decode())
        doc = json.loads(self.vault.tv("history", "api", "SAME",
                                       "--json").stdout)
        self.assertEqual(len(doc["versions"]), n // 2)
        for i in range(0, n, 2):
            self.assertEqual(self.vault.tv("get", "api", "K%d" % i).stdout,
                             "value-%d\n" % i)
        self.assertExit(self.vault.tv("log", "verify"), 0)


if __name__ == "__main__":
    tvtest.main()
