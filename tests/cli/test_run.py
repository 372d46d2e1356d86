"""Black-box tests of run (secrets into a child's environment, no shell,
exit status passed through) and of run/import with a policy."""

import json
import os
import signal
import subprocess

import tvtest
from tvtest import TestCase

POLICY = {
    "policy": 1,
    "tiers": [{"name": "core"}, {"name": "payment"},
              {"name": "ai", "enabled": False}],
    "workers": [
        {
            "name": "node9-payment-service",
            "service": "payments",
            "secrets": [
                {"name": "INTERNAL_TOKEN", "tier": "core",
                 "from": "shared/INTERNAL_TOKEN"},
                {"name": "STRIPE_WEBHOOK_SECRET", "tier": "payment"},
                {"name": "STRIPE_PRICE_ID", "tier": "payment",
                 "required": False},
                {"name": "OPENAI_API_KEY", "tier": "ai"},
            ],
        },
        {"name": "node1-auth-service",
         "secrets": [{"name": "JWT_SECRET", "tier": "core"}]},
    ],
}

ENV_DUMP = ["python3", "-c",
            "import json, os; print(json.dumps(dict(os.environ)))"]


class RunService(TestCase):

    def setUp(self):
        super().setUp()
        self.vault.put("web", "A", "alpha", tier="core")
        self.vault.put("web", "B", "be ta\nwith newline", tier="payment")
        self.vault.put("web", "C", "gamma", tier="ai")
        self.vault.put("other", "X", "not mine", tier="core")

    def env_of(self, *args, env=None):
        p = self.vault.tv("run", *args, "--", *ENV_DUMP, env=env)
        self.assertExit(p, 0)
        return json.loads(p.stdout)

    def test_env_added_and_kept(self):
        env = self.env_of("--service", "web",
                          env={"A": "overridden", "KEEP": "kept"})
        self.assertEqual(env["A"], "alpha")
        self.assertEqual(env["B"], "be ta\nwith newline")
        self.assertEqual(env["C"], "gamma")
        self.assertEqual(env["KEEP"], "kept")
        self.assertNotIn("X", env)
        # the key to the whole vault is not handed on, nor where it is
        env = self.env_of("--service", "web",
                          env={"TIERVAULT_PASSPHRASE": "pw"})
        self.assertNotIn("TIERVAULT_PASSPHRASE", env)
        self.assertNotIn("TIERVAULT_KEY_FILE", env)
        self.assertEqual(env["TIERVAULT_VAULT"], self.vault.dir)

    def test_no_unlock_source_reaches_the_child(self):
        pfile = os.path.join(self.vault.tmp, "pass")
        fd = os.open(pfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        # The key file comes first, so the others are never used to unlock.
        env = self.env_of("--service", "web", env={
            "TIERVAULT_PASSPHRASE_FILE": pfile,
            "TIERVAULT_PASSPHRASE_COMMAND": "echo pw",
            "TIERVAULT_PASSPHRASE": "pw"})
        for name in ("TIERVAULT_KEY_FILE", "TIERVAULT_PASSPHRASE_FILE",
                     "TIERVAULT_PASSPHRASE_COMMAND", "TIERVAULT_PASSPHRASE"):
            self.assertNotIn(name, env)
        self.assertEqual(env["A"], "alpha")

    def test_tiers(self):
        env = self.env_of("--service", "web", "--tier", "core")
        self.assertEqual((env.get("A"), env.get("B"), env.get("C")),
                         ("alpha", None, None))
        env = self.env_of("--service", "web", "--tier", "core", "--tier",
                          "ai")
        self.assertEqual((env.get("A"), env.get("B"), env.get("C")),
                         ("alpha", None, "gamma"))
        p = self.vault.tv("run", "--service", "web", "--tier", "nope", "--",
                          "true")
        self.assertExit(p, 1)
        self.assertIn("no secrets", p.stderr)

    def test_exit_status_and_signals(self):
        p = self.vault.tv("run", "--service", "web", "--", "sh", "-c",
                          "echo out; echo err >&2; exit 7")
        self.assertExit(p, 7)
        self.assertEqual(p.stdout, "out\n")
        self.assertEqual(p.stderr, "err\n")
        p = self.vault.tv("run", "--service", "web", "--", "sh", "-c",
                          "kill -TERM $$")
        self.assertExit(p, 128 + 15)
        p = self.vault.tv("run", "--service", "web", "--", "sh", "-c",
                          "kill -KILL $$")
        self.assertExit(p, 128 + 9)
        self.assertExit(self.vault.tv("run", "--service", "web", "--",
                                      "false"), 1)

    def test_exit_status_kept_when_sigchld_is_ignored(self):
        # A parent may start tiervault with SIGCHLD ignored (inherited
        # across exec); the program's exit status must still come back.
        def ignore_sigchld():
            signal.signal(signal.SIGCHLD, signal.SIG_IGN)

        cmd = tvtest.WRAPPER + [tvtest.TIERVAULT, "run", "--service", "web",
                                "--", "sh", "-c", "exit 7"]
        p = subprocess.run(cmd, env=self.vault.env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60,
                           preexec_fn=ignore_sigchld)
        self.assertExit(p, 7)

    def test_sigterm_passed_on(self):
        cmd = tvtest.WRAPPER + [tvtest.TIERVAULT, "run", "--service", "web",
                                "--", "sh", "-c", "echo ready; exec sleep 600"]
        p = subprocess.Popen(cmd, env=self.vault.env,
                             stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(p.stdout.readline(), b"ready\n")
        p.terminate()
        p.communicate(timeout=60)
        self.assertEqual(p.returncode, 128 + signal.SIGTERM)

    def test_no_shell(self):
        p = self.vault.tv("run", "--service", "web", "--", "echo", "$A",
                          "*", "a;b")
        self.assertExit(p, 0)
        self.assertEqual(p.stdout, "$A * a;b\n")

    def test_missing_command(self):
        p = self.vault.tv("run", "--service", "web", "--",
                          "no-such-command-here")
        self.assertExit(p, 1)
        self.assertIn("cannot run 'no-such-command-here'", p.stderr)
        self.assertNotIn("alpha", p.stderr)

    def test_locked_runs_nothing(self):
        marker = os.path.join(self.vault.tmp, "ran")
        p = self.vault.tv("run", "--service", "web", "--", "touch", marker,
                          env={"TIERVAULT_KEY_FILE": None})
        self.assertExit(p, 3)
        self.assertFalse(os.path.exists(marker))


class RunPolicy(TestCase):

    def setUp(self):
        super().setUp()
        self.policy = os.path.join(self.vault.tmp, "policy.json")
        with open(self.policy, "w") as f:
            json.dump(POLICY, f)
        self.marker = os.path.join(self.vault.tmp, "ran")

    def run_worker(self, *extra, worker="node9-payment-service"):
        return self.vault.tv("run", "--policy", self.policy, "--worker",
                             worker, *extra, "--", *ENV_DUMP)

    def test_through_tiers_and_from(self):
        v = self.vault
        v.put("shared", "INTERNAL_TOKEN", "tok-shared")
        p = self.run_worker("--through", "core")
        self.assertExit(p, 0)
        env = json.loads(p.stdout)
        self.assertEqual(env["INTERNAL_TOKEN"], "tok-shared")
        self.assertNotIn("STRIPE_WEBHOOK_SECRET", env)
        # the payment tier needs its required secret
        p = self.run_worker("--through", "payment")
        self.assertExit(p, 4)
        self.assertIn("payments/STRIPE_WEBHOOK_SECRET", p.stderr)
        self.assertIn("tier payment", p.stderr)
        self.assertEqual(p.stdout, "")
        v.put("payments", "STRIPE_WEBHOOK_SECRET", "whsec_1", tier="payment")
        v.put("payments", "OPENAI_API_KEY", "sk-ai", tier="ai")
        v.put("payments", "UNRELATED", "u", tier="core")
        for extra in ([], ["--through", "payment"], ["--through", "ai"]):
            p = self.run_worker(*extra)
            self.assertExit(p, 0, extra)
            if extra[1:] == ["ai"]:
                self.assertIn("tier 'ai' is disabled", p.stderr)
            env = json.loads(p.stdout)
            self.assertEqual(env["STRIPE_WEBHOOK_SECRET"], "whsec_1")
            self.assertEqual(env["INTERNAL_TOKEN"], "tok-shared")
            # optional and missing; ai is disabled; others are not needed
            self.assertNotIn("STRIPE_PRICE_ID", env)
            self.assertNotIn("OPENAI_API_KEY", env)
            self.assertNotIn("UNRELATED", env)
        v.put("payments", "STRIPE_PRICE_ID", "price_1", tier="payment")
        env = json.loads(self.run_worker().stdout)
        self.assertEqual(env["STRIPE_PRICE_ID"], "price_1")

    def test_missing_runs_nothing(self):
        p = self.vault.tv("run", "--policy", self.policy, "--worker",
                          "node1-auth-service", "--", "touch", self.marker)
        self.assertExit(p, 4)
        self.assertIn("node1-auth-service/JWT_SECRET", p.stderr)
        self.assertFalse(os.path.exists(self.marker))
        self.vault.put("node1-auth-service", "JWT_SECRET", "j")
        self.vault.tv("rm", "node1-auth-service", "JWT_SECRET")
        p = self.vault.tv("run", "--policy", self.policy, "--worker",
                          "node1-auth-service", "--", "touch", self.marker)
        self.assertExit(p, 4)
        self.assertFalse(os.path.exists(self.marker))

    def test_unknown_worker_tier_policy(self):
        p = self.run_worker(worker="node7-typo")
        self.assertExit(p, 1)
        self.assertIn("no worker 'node7-typo'", p.stderr)
        p = self.run_worker("--through", "paymnet")
        self.assertExit(p, 1)
        self.assertIn("no tier 'paymnet'", p.stderr)
        bad = os.path.join(self.vault.tmp, "bad.json")
        with open(bad, "w") as f:
            f.write('{"policy": 1, "tiers": [], "workerz": []}')
        p = self.vault.tv("run", "--policy", bad, "--worker", "w", "--",
                          "true")
        self.assertExit(p, 1)
        self.assertIn("bad.json", p.stderr)

    def test_import_with_policy(self):
        path = os.path.join(self.vault.tmp, ".dev.vars")
        with open(path, "w") as f:
            f.write("INTERNAL_TOKEN=t\nSTRIPE_WEBHOOK_SECRET=whsec_2\n")
        p = self.vault.tv("import", path, "--policy", self.policy,
                          "--worker", "node9-payment-service")
        self.assertExit(p, 0)
        doc = json.loads(self.vault.tv("ls", "--json").stdout)
        self.assertEqual([(s["service"], s["name"], s["tier"])
                          for s in doc["secrets"]],
                         [("payments", "STRIPE_WEBHOOK_SECRET", "payment"),
                          ("shared", "INTERNAL_TOKEN", "core")])
        self.assertExit(self.run_worker("--through", "payment"), 0)

    def test_import_with_policy_refuses_unknown_names(self):
        path = os.path.join(self.vault.tmp, ".dev.vars")
        with open(path, "w") as f:
            f.write("INTERNAL_TOKEN=t\nJWT_SECRET=not-for-this-worker\n")
        p = self.vault.tv("import", path, "--policy", self.policy,
                          "--worker", "node9-payment-service")
        self.assertExit(p, 1)
        self.assertIn("%s:2: 'JWT_SECRET' is not a secret of worker "
                      "'node9-payment-service'" % path, p.stderr)
        self.assertNotIn("not-for-this-worker", p.stderr)
        self.assertEqual(self.vault.tv("ls").stdout, "")
        p = self.vault.tv("import", path, "--policy", self.policy,
                          "--worker", "nobody")
        self.assertExit(p, 1)


if __name__ == "__main__":
    tvtest.main()
