"""One rollout at a time per vault: the rollout lock."""

import fcntl
import os
import stat

import agentlib
import tvtest


class RolloutLock(agentlib.AgentTestCase):

    def lock_path(self):
        return os.path.join(self.vault.dir, "agent.lock")

    def test_second_rollout_refused_while_one_holds_the_lock(self):
        fd = os.open(self.lock_path(), os.O_RDWR | os.O_CREAT, 0o600)
        self.addCleanup(os.close, fd)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        since = self.last_seq()

        p = self.agent("rollout")
        self.assertExit(p, 1)
        self.assertIn("another rollout is running on vault '%s'"
                      % self.vault.dir, p.stderr)
        self.assertEqual(self.writes(since), [])

        # Reading commands do not wait for the lock.
        self.assertExit(self.agent("plan"), 0)
        self.assertEqual(self.writes(since), [])

        # Once the holder lets go, the rollout goes through.
        fcntl.flock(fd, fcntl.LOCK_UN)
        self.assertExit(self.agent("rollout"), 0)
        self.assertAllPushed()

    def test_refused_before_asking_for_the_passphrase(self):
        fd = os.open(self.lock_path(), os.O_RDWR | os.O_CREAT, 0o600)
        self.addCleanup(os.close, fd)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        marker = os.path.join(self.vault.tmp, "asked")
        env = self.agent_env(
            TIERVAULT_KEY_FILE=None,
            TIERVAULT_PASSPHRASE_COMMAND="touch '%s'; echo pw" % marker)

        p = self.agent("rollout", env=env)
        self.assertExit(p, 1)
        self.assertIn("another rollout is running", p.stderr)
        self.assertFalse(os.path.exists(marker))

    def test_lock_file_is_private_and_vault_still_opens(self):
        self.assertExit(self.agent("rollout"), 0)
        sb = os.lstat(self.lock_path())
        self.assertTrue(stat.S_ISREG(sb.st_mode))
        self.assertEqual(stat.S_IMODE(sb.st_mode), 0o600)
        # The CLI's permission check accepts the vault with the lock file.
        self.assertExit(self.vault.tv("ls"), 0)
        # A rerun takes the lock again (it is not left held).
        self.assertExit(self.agent("rollout"), 0)

    def test_symlinked_lock_file_refused(self):
        target = os.path.join(self.vault.tmp, "elsewhere")
        os.symlink(target, self.lock_path())
        since = self.last_seq()
        p = self.agent("rollout")
        self.assertExit(p, 1)
        self.assertFalse(os.path.exists(target))
        self.assertEqual(self.writes(since), [])

    def test_loose_lock_file_refused(self):
        fd = os.open(self.lock_path(), os.O_RDWR | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o644)
        os.close(fd)
        since = self.last_seq()
        p = self.agent("rollout")
        self.assertExit(p, 1)
        self.assertIn("agent.lock", p.stderr)
        self.assertEqual(self.writes(since), [])


if __name__ == "__main__":
    tvtest.main()
