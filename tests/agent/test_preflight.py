"""Preflight: the read-only account check, and the gates it holds."""

import json
import os
import subprocess

import agentlib
from agentlib import ACCOUNT, AUTH, OTHER_ACCOUNT


class PreflightOk(agentlib.AgentTestCase):

    def test_passes_and_never_writes(self):
        doc, p = self.agent_json("preflight")
        self.assertTrue(doc["ok"])
        self.assertTrue(all(c["ok"] for c in doc["checks"]))
        self.assertEqual(self.writes(), [])
        d1 = [r for r in self.fake.requests() if r["op"] == "d1_query"]
        self.assertEqual(len(d1), 1)
        self.assertEqual(d1[0]["d1_verbs"], ["SELECT"])
        self.assertFalse(d1[0]["d1_write"])

    def test_few_round_trips(self):
        self.assertExit(self.agent("preflight"), 0)
        # Two batches: token, accounts and scripts; then per-Worker reads.
        ops = [r["op"] for r in self.fake.requests()]
        self.assertEqual(ops.count("scripts"), 1)
        self.assertEqual(ops.count("settings"), len(agentlib.WORKERS))

    def test_text_output(self):
        p = self.agent("preflight")
        self.assertExit(p, 0)
        self.assertIn("the api token is active (user token)", p.stdout)
        self.assertIn("account '%s' is reachable" % ACCOUNT, p.stdout)
        self.assertNotIn("FAIL", p.stdout)

    def test_token_from_vault(self):
        self.vault.put("_cloudflare", "API_TOKEN", agentlib.TOKEN)
        env = self.agent_env(CLOUDFLARE_API_TOKEN=None)
        self.assertExit(self.agent("preflight", env=env), 0)

    def test_no_token(self):
        env = self.agent_env(CLOUDFLARE_API_TOKEN=None)
        p = self.agent("preflight", env=env)
        self.assertExit(p, 2)
        self.assertIn("CLOUDFLARE_API_TOKEN", p.stderr)
        self.assertEqual(self.fake.requests(), [])

    def test_account_token(self):
        self.fake.edit([{"op": "set_token", "spec": {
            "token": "acct-token-1", "kind": "account",
            "accounts": [ACCOUNT]}}])
        env = self.agent_env(CLOUDFLARE_API_TOKEN="acct-token-1")
        p = self.agent("preflight", env=env)
        self.assertExit(p, 0)
        self.assertIn("account token", p.stdout)

    def test_disabled_token(self):
        self.fake.edit([{"op": "set_token", "spec": {
            "token": agentlib.TOKEN, "status": "disabled",
            "accounts": [ACCOUNT]}}])
        p = self.agent("preflight")
        self.assertExit(p, 4)
        self.assertIn("not active", p.stderr)
        self.assertIn("disabled", p.stderr)

    def test_unknown_token(self):
        p = self.agent("preflight", env=self.agent_env(
            CLOUDFLARE_API_TOKEN="not-a-known-token"))
        self.assertExit(p, 4)
        self.assertIn("the api token was refused", p.stderr)
        self.assertNoSecret("not-a-known-token", p.stdout, p.stderr)
        self.assertEqual(self.writes(), [])

    def test_plain_http_only_to_loopback(self):
        p = self.agent("preflight", env=self.agent_env(
            CLOUDFLARE_API_BASE_URL="http://api.example.com/client/v4"))
        self.assertExit(p, 1)
        self.assertIn("api.example.com", p.stderr)
        self.assertEqual(self.fake.requests(), [])

    def test_missing_ca_bundle_is_named(self):
        missing = self.vault.tmp + "/no-such-ca.pem"
        p = self.agent("preflight", "--cacert", missing)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no-such-ca.pem", p.stderr)
        p = self.agent("preflight",
                       env=self.agent_env(TIERVAULT_CA_BUNDLE=missing))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no-such-ca.pem", p.stderr)
        self.assertEqual(self.fake.requests(), [])

    def test_wrong_key_is_unlock_failure(self):
        other = os.path.join(self.vault.tmp, "other.key")
        with open(os.open(other, os.O_WRONLY | os.O_CREAT, 0o600),
                  "wb") as f:
            f.write(os.urandom(32))
        p = self.agent("preflight",
                       env=self.agent_env(TIERVAULT_KEY_FILE=other))
        self.assertExit(p, 3)
        self.assertEqual(self.fake.requests(), [])


class WrongAccount(agentlib.AgentTestCase):

    def test_policy_account_not_reachable(self):
        pol = agentlib.policy(self.fake, account=OTHER_ACCOUNT)
        self.write_policy(pol)
        p = self.agent("rollout")
        self.assertExit(p, 4)
        self.assertIn("wrong account", p.stderr)
        self.assertIn(OTHER_ACCOUNT, p.stderr)
        self.assertIn("'%s' (Acme)" % ACCOUNT, p.stderr)
        self.assertEqual(self.writes(), [])

    def test_env_account_differs(self):
        env = self.agent_env(CLOUDFLARE_ACCOUNT_ID=OTHER_ACCOUNT)
        doc, p = self.agent_json("preflight", code=4, env=env)
        self.assertFalse(doc["ok"])
        self.assertIn(OTHER_ACCOUNT, p.stderr)
        self.assertIn(ACCOUNT, p.stderr)
        self.assertEqual(self.writes(), [])


class MissingWorker(agentlib.AgentTestCase):

    def make_scenario(self):
        return agentlib.scenario(missing=("node4-search-service",
                                          "node8-invoice-service"))

    def test_names_every_missing_worker(self):
        p = self.agent("rollout")
        self.assertExit(p, 4)
        self.assertIn("worker 'node4-search-service' does not exist",
                      p.stderr)
        self.assertIn("worker 'node8-invoice-service' does not exist",
                      p.stderr)
        self.assertIn("all must be created", p.stderr)
        self.assertIn("before any secret is pushed", p.stderr)
        self.assertEqual(self.writes(), [])
        # Never created by the agent either.
        scripts = self.fake.state()["accounts"][0]["scripts"]
        self.assertNotIn("node4-search-service", scripts)

    def test_json_report(self):
        doc, _ = self.agent_json("preflight", code=4)
        bad = sorted(c["subject"] for c in doc["checks"]
                     if not c["ok"] and c["check"] == "worker")
        self.assertEqual(bad, ["node4-search-service",
                               "node8-invoice-service"])


class MissingBindingTarget(agentlib.AgentTestCase):

    def make_scenario(self):
        return agentlib.scenario(missing=(AUTH,))

    def test_binding_target_named(self):
        p = self.agent("preflight")
        self.assertExit(p, 4)
        self.assertIn("worker 'node2-user-service' binds to '%s', which "
                      "does not exist" % AUTH, p.stderr)
        self.assertEqual(self.writes(), [])


class BindingNotInSettings(agentlib.AgentTestCase):

    def make_scenario(self):
        return agentlib.scenario(drop_binding="node3-catalog-service")

    def test_remote_settings_checked(self):
        p = self.agent("rollout")
        self.assertExit(p, 4)
        self.assertIn("worker 'node3-catalog-service': its remote settings "
                      "hold no service binding to '%s'" % AUTH, p.stderr)
        self.assertEqual(self.writes(), [])


class PendingMigration(agentlib.AgentTestCase):

    def make_scenario(self):
        return agentlib.scenario(applied=["0001_init.sql"])

    def test_pending_named_select_only(self):
        p = self.agent("rollout")
        self.assertExit(p, 4)
        self.assertIn("migration '0002_prices.sql' is not applied",
                      p.stderr)
        self.assertNotIn("'0001_init.sql' is not applied", p.stderr)
        self.assertEqual(self.writes(), [])
        for r in self.fake.requests():
            self.assertFalse(r["d1_write"])

    def test_migrations_dir(self):
        mig = os.path.join(self.vault.tmp, "migrations")
        os.mkdir(mig)
        for n in ("0001_init.sql", "0003_refunds.sql", "README.md"):
            open(os.path.join(mig, n), "w").close()
        pol = agentlib.policy(self.fake)
        pol["d1"] = [{"database_id": agentlib.DB_UUID, "name": "payments",
                      "migrations_dir": "migrations"}]
        self.write_policy(pol)
        p = self.agent("preflight")
        self.assertExit(p, 4)
        self.assertIn("migration '0003_refunds.sql' is not applied",
                      p.stderr)
        self.assertNotIn("README", p.stderr)
        self.assertNotIn("'0001_init.sql' is not applied", p.stderr)
        # The folder is relative to the policy file, not to the cwd.
        tmp = os.path.dirname(self.vault.tmp)
        rel = os.path.join(os.path.basename(self.vault.tmp), "policy.json")
        p = subprocess.run(
            [agentlib.tvtest.AGENT, "preflight", "--policy", rel],
            env=self.agent_env(), cwd=tmp, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=120)
        self.assertExit(p, 4)
        self.assertIn("'0003_refunds.sql' is not applied", p.stderr)

    def test_missing_table_never_created(self):
        self.fake.edit([{"op": "set_d1", "uuid": agentlib.DB_UUID,
                         "migrations_table_exists": False}])
        p = self.agent("preflight")
        self.assertExit(p, 4)
        self.assertIn("cannot read table 'd1_migrations'", p.stderr)
        db = self.fake.state()["accounts"][0]["d1"][0]
        self.assertFalse(db["migrations_table_exists"])
        self.assertEqual(self.writes(), [])


class StagedVersionPending(agentlib.AgentTestCase):

    def make_scenario(self):
        return agentlib.scenario(staged=("node5-notify-service",))

    def test_10215_explained_before_any_write(self):
        p = self.agent("rollout")
        self.assertExit(p, 4)
        self.assertIn("node5-notify-service", p.stderr)
        self.assertIn("10215", p.stderr)
        self.assertIn("not the deployed one", p.stderr)
        self.assertEqual(self.writes(), [])


class Usage(agentlib.AgentTestCase):

    def test_usage_errors(self):
        for args in (["bogus"], ["rollout", "--through"],
                     ["preflight", "--json", "--json"]):
            p = agentlib.tvtest.run(
                [agentlib.tvtest.AGENT] + args + ["--policy",
                                                  self.policy_path],
                env=self.agent_env())
            self.assertExit(p, 2, " ".join(args))
        p = agentlib.tvtest.run([agentlib.tvtest.AGENT, "preflight"],
                                env=self.agent_env())
        self.assertExit(p, 2)
        self.assertIn("--policy", p.stderr)

    def test_unknown_tier(self):
        p = self.agent("rollout", "--through", "paymnet")
        self.assertExit(p, 2)
        self.assertIn("'paymnet'", p.stderr)
        self.assertEqual(self.fake.requests(), [])

    def test_bad_policy(self):
        with open(self.policy_path, "w") as f:
            json.dump({"policy": 1, "tiers": [], "wrokers": []}, f)
        p = self.agent("preflight")
        self.assertExit(p, 1)
        self.assertEqual(self.fake.requests(), [])


if __name__ == "__main__":
    agentlib.main()
