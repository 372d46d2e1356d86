"""Black-box tests of keys ls/add/rm and of log, log --json, log verify."""

import json
import os
import signal
import subprocess

import tvtest
from tvtest import TestCase


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


class Keys(TestCase):

    def slots(self, env=None):
        p = self.vault.tv("keys", "ls", env=env)
        self.assertExit(p, 0)
        return [line.split() for line in p.stdout.splitlines()]

    def test_add_passphrase_and_key_files_then_remove(self):
        v = self.vault
        v.put("api", "K", "value")
        self.assertEqual([(s[0], s[1]) for s in self.slots()],
                         [("1", "key-file")])
        pw = tvtest.canary("pw")
        p = v.tv("keys", "add", "--passphrase", "--kdf", "interactive",
                 input=pw + "\n")
        self.assertExit(p, 0)
        self.assertNotIn(pw, p.stdout + p.stderr)
        by_pass = {"TIERVAULT_KEY_FILE": None, "TIERVAULT_PASSPHRASE": pw}
        p = v.tv("get", "api", "K", env=by_pass)
        self.assertExit(p, 0)
        self.assertEqual(p.stdout, "value\n")
        self.assertIn("interactive", " ".join(self.slots()[1]))

        new = os.path.join(v.tmp, "new.key")
        p = v.tv("keys", "add", "--key-file", new)
        self.assertExit(p, 0)
        self.assertEqual(os.stat(new).st_mode & 0o777, 0o600)
        self.assertEqual(os.path.getsize(new), 32)
        by_new = {"TIERVAULT_KEY_FILE": new}
        self.assertExit(v.tv("get", "api", "K", env=by_new), 0)

        existing = os.path.join(v.tmp, "existing.key")
        fd = os.open(existing, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        os.write(fd, os.urandom(32))
        os.close(fd)
        before = read_bytes(existing)
        self.assertExit(v.tv("keys", "add", "--key-file", existing), 0)
        self.assertEqual(read_bytes(existing), before)
        self.assertExit(v.tv("get", "api", "K",
                             env={"TIERVAULT_KEY_FILE": existing}), 0)
        self.assertEqual([s[1] for s in self.slots()],
                         ["key-file", "passphrase", "key-file", "key-file"])

        self.assertExit(v.tv("keys", "rm", "1", env=by_new), 0)
        self.assertExit(v.tv("get", "api", "K"), 3)  # the old key file
        self.assertExit(v.tv("keys", "rm", "99", env=by_new), 1)
        self.assertExit(v.tv("keys", "rm", "2", env=by_new), 0)
        self.assertExit(v.tv("get", "api", "K", env=by_pass), 3)
        self.assertExit(v.tv("keys", "rm", "4", env=by_new), 0)
        p = v.tv("keys", "rm", "3", env=by_new)
        self.assertExit(p, 1)
        self.assertIn("last", p.stderr)
        self.assertExit(v.tv("get", "api", "K", env=by_new), 0)
        log = json.loads(v.tv("log", "--json", env=by_new).stdout)
        ops = [e["op"] for e in log["entries"]]
        self.assertEqual(ops.count("keys-add"), 3)
        self.assertEqual(ops.count("keys-rm"), 3)
        self.assertNotIn(pw, json.dumps(log))

    def test_refusals(self):
        p = self.vault.tv("keys", "add", "--passphrase", input="\n")
        self.assertExit(p, 1)
        self.assertIn("empty passphrase", p.stderr)
        loose = os.path.join(self.vault.tmp, "loose.key")
        fd = os.open(loose, os.O_CREAT | os.O_WRONLY, 0o644)
        os.write(fd, os.urandom(32))
        os.close(fd)
        os.chmod(loose, 0o644)
        p = self.vault.tv("keys", "add", "--key-file", loose)
        self.assertExit(p, 1)
        self.assertIn("chmod", p.stderr)
        p = self.vault.tv("keys", "add", "--key-file", self.vault.tmp)
        self.assertExit(p, 1)
        self.assertEqual(len(self.slots()), 1)
        p = self.vault.tv("keys", "add", "--key-file", "x", "--kdf",
                          "moderate")
        self.assertExit(p, 2)


class PassphraseCommandStdin(TestCase):
    """A value or a new passphrase piped into tiervault must not reach
    TIERVAULT_PASSPHRASE_COMMAND, which reads /dev/null as its input."""

    def setUp(self):
        super().setUp()
        self.pw = tvtest.canary("pw")
        p = self.vault.tv("keys", "add", "--passphrase", "--kdf",
                          "interactive", input=self.pw + "\n")
        self.assertExit(p, 0)
        self.seen = os.path.join(self.vault.tmp, "seen")
        # A helper that reads its standard input (as ssh does) and then
        # prints the passphrase.
        self.env = {"TIERVAULT_KEY_FILE": None,
                    "TIERVAULT_PASSPHRASE_COMMAND":
                        "cat >> '%s'; printf '%%s' '%s'" % (self.seen,
                                                            self.pw)}

    def seen_text(self):
        with open(self.seen) as f:
            return f.read()

    def test_put_value_not_seen_by_the_command(self):
        value = tvtest.canary("value")
        p = self.vault.tv("put", "api", "K", "--tier", "core",
                          input=value + "\n", env=self.env)
        self.assertExit(p, 0)
        self.assertNoSecret(value, self.seen_text())
        p = self.vault.tv("get", "api", "K")
        self.assertExit(p, 0)
        self.assertEqual(p.stdout, value + "\n")

    def test_command_reads_nothing_from_tiervaults_stdin(self):
        piped = tvtest.canary("piped")
        self.vault.put("api", "K", "v")
        p = self.vault.tv("get", "api", "K", input=piped + "\n",
                          env=self.env)
        self.assertExit(p, 0)
        self.assertEqual(p.stdout, "v\n")
        self.assertEqual(self.seen_text(), "")

    def test_keys_add_passphrase_not_seen_by_the_command(self):
        new = tvtest.canary("newpw")
        p = self.vault.tv("keys", "add", "--passphrase", "--kdf",
                          "interactive", input=new + "\n", env=self.env)
        self.assertExit(p, 0)
        self.assertNoSecret(new, self.seen_text())
        p = self.vault.tv("ls", env={"TIERVAULT_KEY_FILE": None,
                                     "TIERVAULT_PASSPHRASE": new})
        self.assertExit(p, 0)

    def test_failing_command_is_unlock_failure_with_sigchld_ignored(self):
        # A parent may start tiervault with SIGCHLD ignored; a command
        # that prints the right passphrase but fails must still fail.
        env = dict(self.vault.env)
        env.pop("TIERVAULT_KEY_FILE")
        env["TIERVAULT_PASSPHRASE_COMMAND"] = "printf '%%s' '%s'; exit 1" % (
            self.pw)
        p = subprocess.run(
            tvtest.WRAPPER + [tvtest.TIERVAULT, "ls"], env=env,
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=60,
            preexec_fn=lambda: signal.signal(signal.SIGCHLD, signal.SIG_IGN))
        self.assertExit(p, 3)
        self.assertIn("TIERVAULT_PASSPHRASE_COMMAND failed", p.stderr)


class Log(TestCase):

    def test_log_text_json_verify(self):
        v = self.vault
        v.put("api", "K", "one")
        v.put("api", "K", "two", tier="payment")
        v.tv("rm", "api", "K")
        v.tv("rollback", "api", "K", "1")
        p = v.tv("log")
        self.assertExit(p, 0)
        lines = p.stdout.splitlines()
        self.assertEqual([line.split()[0] for line in lines],
                         ["1", "2", "3", "4", "5"])
        self.assertEqual([line.split()[3] for line in lines],
                         ["init", "put", "put", "rm", "rollback"])
        self.assertIn("api/K v2", lines[2])
        doc = json.loads(v.tv("log", "--json").stdout)
        entries = doc["entries"]
        self.assertEqual([e["seq"] for e in entries], [1, 2, 3, 4, 5])
        self.assertEqual(entries[1]["service"], "api")
        self.assertEqual(entries[1]["name"], "K")
        self.assertEqual(entries[1]["version"], 1)
        self.assertRegex(entries[1]["fingerprint"], "^[0-9a-f]{16}$")
        self.assertEqual(entries[4]["fingerprint"], entries[1]["fingerprint"])
        for e in entries:
            self.assertIn("@", e["actor"])
            self.assertRegex(e["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        p = v.tv("log", "verify")
        self.assertExit(p, 0)
        self.assertEqual(p.stdout, "audit log verified: 5 entries\n")

    def test_clock_override_shows_in_times(self):
        v = self.vault
        p = v.tv("put", "api", "OLD", "--tier", "core", input="x",
                 env={"TIERVAULT_TEST_NOW": "1700000000"})
        self.assertExit(p, 0)
        doc = json.loads(v.tv("ls", "--json").stdout)
        self.assertEqual(doc["secrets"][0]["updated"], "2023-11-14T22:13:20Z")


if __name__ == "__main__":
    tvtest.main()
