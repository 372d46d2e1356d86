"""Rollout with strategy staged: a new version per Worker and tier,
deployed at 0% beside the current one, smoke-tested through the version
override header, then promoted to 100%."""

import agentlib
from agentlib import AUTH

PAYMENT_NAMES = {"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET",
                 "CREEM_WEBHOOK_SECRET"}


class StagedRollout(agentlib.AgentTestCase):

    strategy = "staged"

    def script_state(self, name):
        return self.fake.state()["accounts"][0]["scripts"][name]

    def test_happy_path_then_rerun_sends_no_write(self):
        doc, _ = self.agent_json("rollout")
        self.assertEqual(doc["result"], "done")
        self.assertAllPushed()
        ops = [r["op"] for r in self.writes()]
        self.assertNotIn("bulk", ops)
        self.assertEqual(ops.count("patch_latest"), 14)
        # Two deployments per push: at 0% beside the old one, then 100%.
        self.assertEqual(ops.count("deploy"), 28)
        for name in agentlib.WORKERS:
            st = self.script_state(name)
            self.assertEqual(st["deployed_version"], st["latest_version"])
            deps = st["deployments"]
            shares = [sorted(v["percentage"] for v in d["versions"])
                      for d in deps[1:]]
            self.assertIn([0, 100], shares)
            self.assertEqual(deps[-1]["versions"][0]["percentage"], 100)
        # The smoke tests asked for the staged version by header.
        smoke = [r for r in self.fake.requests()
                 if r["plane"] == "data" and r["path"].endswith("/health")]
        staged_ids = {r["version_id"] for r in self.writes()
                      if r["op"] == "patch_latest"}
        self.assertTrue(staged_ids <= {r["version_id"] for r in smoke})

        since = self.last_seq()
        doc, _ = self.agent_json("rollout")
        self.assertEqual([t["result"] for t in doc["tiers"]],
                         ["skipped"] * 3)
        self.assertEqual(self.writes(since), [])

    def test_smoke_test_failure_keeps_previous_deployment(self):
        before = self.script_state(AUTH)["deployed_version"]
        self.vault.put("shared", "INTERNAL_TOKEN", "bad-" + "3" * 20)
        doc, p = self.agent_json("rollout", code=4)
        self.assertEqual(doc["tiers"][0]["result"], "rolled-back")
        self.assertIn("smoke test", p.stderr)
        st = self.script_state(AUTH)
        self.assertEqual(st["deployed_version"], before)
        # Never promoted, never pushed further.
        self.assertEqual({r["script"] for r in self.writes()}, {AUTH})
        names = set()
        for r in self.writes():
            names.update(r["secret_names"] or [])
        self.assertFalse(names & PAYMENT_NAMES)
        self.assertNotIn("INTERNAL_TOKEN", self.deployed(AUTH))

    def test_rotation_failure_restores_previous_deployment(self):
        self.assertExit(self.agent("rollout"), 0)
        old = self.values[("node7-billing-service", "STRIPE_SECRET_KEY")][1]
        # A good rotation of the webhook secret goes through.
        hook = "whsec_" + "8" * 24
        self.vault.put("node7-billing-service", "STRIPE_WEBHOOK_SECRET",
                       hook, tier="payment")
        self.assertExit(self.agent("rollout"), 0)
        self.assertDeployed("node7-billing-service", "STRIPE_WEBHOOK_SECRET",
                            hook)

        self.billing_checks_stripe_key()
        good = self.script_state("node7-billing-service")["deployed_version"]
        self.vault.put("node7-billing-service", "STRIPE_SECRET_KEY",
                       "rk_" + "5" * 20, tier="payment")
        doc, p = self.agent_json("rollout", code=4)
        self.assertEqual(doc["tiers"][1]["result"], "rolled-back")
        st = self.script_state("node7-billing-service")
        self.assertEqual(st["deployed_version"], good)
        self.assertDeployed("node7-billing-service", "STRIPE_SECRET_KEY",
                            old)
        self.assertDeployed("node7-billing-service", "STRIPE_WEBHOOK_SECRET",
                            hook)


if __name__ == "__main__":
    agentlib.main()
