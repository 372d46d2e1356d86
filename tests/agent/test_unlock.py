"""The agent unlocks the vault from the same sources as the CLI, in the
same order, and says so with exit code 3 when none opens it."""

import json
import os
import signal
import subprocess

import agentlib
import tvtest

PASS = "correct horse battery staple\nsecond line"


class Unlock(tvtest.TestCase):

    def setUp(self):
        self.vault = tvtest.Vault(init=False)
        self.addCleanup(self.vault.cleanup)
        self.vault.env.pop("TIERVAULT_KEY_FILE")
        # A passphrase slot of the fast profile; the passphrase holds a
        # newline, which the file and command sources keep.
        p = self.vault.tv("init", "--kdf", "interactive",
                          env={"TIERVAULT_PASSPHRASE": PASS})
        self.assertExit(p, 0)
        self.fake = agentlib.FakeCloudflare(agentlib.scenario()).start()
        self.addCleanup(self.fake.stop)
        self.policy = os.path.join(self.vault.tmp, "policy.json")
        with open(self.policy, "w") as f:
            json.dump(agentlib.policy(self.fake), f)

    def status(self, **env):
        e = dict(self.vault.env)
        e.update(env)
        return tvtest.run([tvtest.AGENT, "status", "--policy", self.policy],
                          env=e)

    def write(self, name, text):
        path = os.path.join(self.vault.tmp, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return path

    def test_each_source(self):
        self.assertExit(self.status(TIERVAULT_PASSPHRASE=PASS), 0)
        path = self.write("pass", PASS + "\n")
        self.assertExit(self.status(TIERVAULT_PASSPHRASE_FILE=path), 0)
        script = self.write("pass.sh", "printf '%s\\n' '" + PASS + "'\n")
        self.assertExit(self.status(
            TIERVAULT_PASSPHRASE_COMMAND="sh " + script), 0)

    def test_order_file_before_env(self):
        path = self.write("pass", PASS)
        p = self.status(TIERVAULT_PASSPHRASE_FILE=path,
                        TIERVAULT_PASSPHRASE="wrong")
        self.assertExit(p, 0)

    def test_passphrase_command_never_sees_the_token(self):
        seen = os.path.join(self.vault.tmp, "seen-env")
        script = self.write("pass.sh", "env > '%s'\nprintf '%%s\\n' '%s'\n"
                            % (seen, PASS))
        e = dict(self.vault.env)
        e.update(TIERVAULT_PASSPHRASE_COMMAND="sh " + script,
                 CLOUDFLARE_API_TOKEN=agentlib.TOKEN,
                 CLOUDFLARE_API_BASE_URL=self.fake.api_url)
        p = tvtest.run([tvtest.AGENT, "preflight", "--policy", self.policy],
                       env=e)
        # The token still reached Cloudflare: preflight passed.
        self.assertExit(p, 0)
        with open(seen) as f:
            child_env = f.read()
        self.assertIn("TIERVAULT_PASSPHRASE_COMMAND=", child_env)
        self.assertNoSecret(agentlib.TOKEN, child_env)
        self.assertNotIn("CLOUDFLARE_API_TOKEN=", child_env)

    def test_failing_command_is_exit_3_with_sigchld_ignored(self):
        # A parent may start the agent with SIGCHLD ignored; a command
        # that prints the right passphrase but fails must still fail.
        e = dict(self.vault.env)
        e["TIERVAULT_PASSPHRASE_COMMAND"] = "printf '%%s' '%s'; exit 1" % PASS
        p = subprocess.run(
            tvtest.WRAPPER + [tvtest.AGENT, "status", "--policy",
                              self.policy],
            env=e, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=60,
            preexec_fn=lambda: signal.signal(signal.SIGCHLD, signal.SIG_IGN))
        self.assertExit(p, 3)
        self.assertIn("TIERVAULT_PASSPHRASE_COMMAND failed", p.stderr)

    def test_result_not_written_is_exit_1(self):
        e = dict(self.vault.env)
        e["TIERVAULT_PASSPHRASE"] = PASS
        with open("/dev/full", "w") as full:
            p = subprocess.run(
                tvtest.WRAPPER + [tvtest.AGENT, "status", "--policy",
                                  self.policy],
                env=e, stdin=subprocess.DEVNULL, stdout=full,
                stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("cannot write to standard output", p.stderr)

    def test_wrong_or_failing_source_is_exit_3(self):
        p = self.status(TIERVAULT_PASSPHRASE="wrong passphrase")
        self.assertExit(p, 3)
        self.assertNoSecret("wrong passphrase", p.stdout, p.stderr)
        p = self.status(TIERVAULT_PASSPHRASE_COMMAND="exit 1")
        self.assertExit(p, 3)
        # No source, and no terminal to prompt on (a new session).
        p = subprocess.run([tvtest.AGENT, "status", "--policy", self.policy],
                           env=self.vault.env, start_new_session=True,
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60)
        self.assertExit(p, 3)
        self.assertIn("no unlock source", p.stderr)
        self.assertEqual(self.fake.requests(), [])


if __name__ == "__main__":
    tvtest.main()
