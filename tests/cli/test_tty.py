"""Black-box tests of the terminal prompts, on a pseudo-terminal: the
double no-echo prompt of init and put, a mismatch refused, and the
passphrase prompt when no other unlock source is set."""

import os
import pty
import select

import tvtest
from tvtest import TestCase, Vault

# A safety net against a hung child, not a timing assertion.
STUCK = 60


class Session:
    """tiervault ARGS running on a new pseudo-terminal as its controlling
    terminal (stdin, stdout and stderr)."""

    def __init__(self, args, env):
        cmd = tvtest.WRAPPER + [tvtest.TIERVAULT] + list(args)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execvpe(cmd[0], cmd, env)
        self.seen = b""

    def read_more(self):
        ready, _, _ = select.select([self.fd], [], [], STUCK)
        if not ready:
            raise AssertionError("no output; seen %r" % self.seen)
        try:
            data = os.read(self.fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            data = b""
        self.seen += data
        return data

    def expect(self, text):
        while text.encode() not in self.seen:
            if not self.read_more():
                raise AssertionError("%r not seen in %r" % (text, self.seen))
        self.seen = self.seen[self.seen.index(text.encode()) + len(text):]

    def send(self, line):
        os.write(self.fd, line.encode() + b"\n")

    def finish(self):
        """Reads to the end; returns (exit code, all output left)."""
        while self.read_more():
            pass
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status), self.seen.decode()


class Terminal(TestCase):

    def setUp(self):
        try:
            master, slave = os.openpty()
        except OSError as e:
            self.skipTest("no pseudo-terminals: %s" % e)
        os.close(master)
        os.close(slave)
        self.vault = Vault(init=False)
        self.addCleanup(self.vault.cleanup)
        self.env = dict(self.vault.env)
        self.env.pop("TIERVAULT_KEY_FILE")

    def session(self, *args):
        return Session(args, self.env)

    def test_init_prompts_twice_then_unlock_prompt(self):
        pw = tvtest.canary("pw")
        s = self.session("init", "--kdf", "interactive")
        s.expect("new passphrase: ")
        s.send(pw)
        s.expect("again, to confirm: ")
        s.send(pw)
        code, rest = s.finish()
        self.assertEqual(code, 0, rest)
        self.assertIn("created the vault", rest)
        self.assertNotIn(pw, rest)  # never echoed

        value = tvtest.canary("value")
        s = self.session("put", "api", "K", "--tier", "core")
        s.expect("passphrase for ")
        s.send(pw)
        s.expect("value for 'api/K': ")
        s.send(value)
        s.expect("again, to confirm: ")
        s.send(value)
        code, rest = s.finish()
        self.assertEqual(code, 0, rest)
        self.assertNotIn(value, rest)
        self.assertNotIn(pw, rest)

        p = self.vault.tv("get", "api", "K",
                          env={"TIERVAULT_KEY_FILE": None,
                               "TIERVAULT_PASSPHRASE": pw})
        self.assertExit(p, 0)
        self.assertEqual(p.stdout, value + "\n")

        s = self.session("get", "api", "K")
        s.expect("passphrase for ")
        s.send("not it")
        code, rest = s.finish()
        self.assertEqual(code, 3, rest)

    def test_colour_only_without_no_color(self):
        self.env.pop("NO_COLOR", None)
        code, out = self.session("frobnicate").finish()
        self.assertEqual(code, 2)
        self.assertIn("\033[31mtiervault: unknown command", out)
        self.env["NO_COLOR"] = "1"
        code, out = self.session("frobnicate").finish()
        self.assertEqual(code, 2)
        self.assertIn("tiervault: unknown command", out)
        self.assertNotIn("\033[", out)

    def test_mismatch_refused(self):
        s = self.session("init", "--kdf", "interactive")
        s.expect("new passphrase: ")
        s.send("one")
        s.expect("again, to confirm: ")
        s.send("two")
        code, rest = s.finish()
        self.assertEqual(code, 1, rest)
        self.assertIn("do not match", rest)
        self.assertFalse(os.path.exists(os.path.join(self.vault.dir,
                                                     "data.mdb")))

    def test_put_mismatch_refused(self):
        p = self.vault.tv("init", "--key-file", self.vault.keyfile,
                          "--no-passphrase")
        self.assertExit(p, 0)
        self.env["TIERVAULT_KEY_FILE"] = self.vault.keyfile
        s = self.session("put", "api", "K", "--tier", "core")
        s.expect("value for 'api/K': ")
        s.send("first")
        s.expect("again, to confirm: ")
        s.send("second")
        code, rest = s.finish()
        self.assertEqual(code, 1, rest)
        self.assertIn("do not match", rest)
        self.assertExit(self.vault.tv("get", "api", "K"), 1)


if __name__ == "__main__":
    tvtest.main()
