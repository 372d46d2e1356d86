"""Rollout with strategy bulk: tiers in order, gates, rollback, reruns."""

import json

import agentlib
import tvtest
from agentlib import AUTH

PAYMENT_NAMES = {"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET",
                 "STRIPE_PRICE_ID", "CREEM_WEBHOOK_SECRET"}


def touched_names(writes):
    names = set()
    for r in writes:
        names.update(r["secret_names"] or [])
    return names


class BulkRollout(agentlib.AgentTestCase):

    def test_happy_path_then_rerun_sends_no_write(self):
        doc, _ = self.agent_json("rollout")
        self.assertEqual(doc["result"], "done")
        self.assertEqual([t["result"] for t in doc["tiers"]],
                         ["verified", "verified", "verified"])
        self.assertAllPushed()
        bulk = [r for r in self.writes() if r["op"] == "bulk"]
        self.assertEqual(len(self.writes()), len(bulk))
        # One secrets-bulk request per Worker per tier that has secrets.
        self.assertEqual(len(bulk), 10 + 3 + 1)

        since = self.last_seq()
        doc, _ = self.agent_json("rollout")
        self.assertEqual(doc["result"], "done")
        self.assertEqual([t["result"] for t in doc["tiers"]],
                         ["skipped", "skipped", "skipped"])
        self.assertEqual(self.writes(since), [])

        st, _ = self.agent_json("status")
        self.assertTrue(all(t["verified"] and t["current"]
                            for t in st["tiers"]))

    def test_tiers_in_order_waves_respected(self):
        self.assertExit(self.agent("rollout"), 0)
        order = [(r["script"], tuple(sorted(r["secret_names"])))
                 for r in self.writes()]
        first_payment = min(i for i, (_, n) in enumerate(order)
                            if set(n) & PAYMENT_NAMES)
        last_core = max(i for i, (_, n) in enumerate(order)
                        if "INTERNAL_TOKEN" in n)
        self.assertLess(last_core, first_payment)
        # node1 (wave 0) before everything bound to it; node7 before node9.
        self.assertEqual(order[0][0], AUTH)
        scripts = [s for s, _ in order]
        core9 = scripts.index("node9-payment-service")
        self.assertLess(scripts.index("node7-billing-service"), core9)
        # The audit log records each verified tier.
        log = self.vault.tv("log", "--json")
        self.assertExit(log, 0)
        self.assertEqual(log.stdout.count("tier-verified"), 3)

    def test_through_core_only(self):
        doc, _ = self.agent_json("rollout", "--through", "core")
        self.assertEqual([t["tier"] for t in doc["tiers"]], ["core"])
        self.assertAllPushed(tiers=("core",))
        self.assertFalse(touched_names(self.writes()) & PAYMENT_NAMES)
        st, _ = self.agent_json("status")
        by = {t["tier"]: t for t in st["tiers"]}
        self.assertTrue(by["core"]["verified"])
        self.assertFalse(by["payment"]["verified"])

    def test_missing_required_secret_holds_before_tier(self):
        self.assertExit(self.vault.tv("rm", "node7-billing-service",
                                      "STRIPE_WEBHOOK_SECRET"), 0)
        p = self.agent("rollout")
        self.assertExit(p, 4)
        self.assertIn("STRIPE_WEBHOOK_SECRET", p.stderr)
        self.assertIn("held before tier 'payment'", p.stderr)
        self.assertAllPushed(tiers=("core",))
        self.assertFalse(touched_names(self.writes()) & PAYMENT_NAMES)

    def test_optional_secret_absent_is_fine(self):
        # STRIPE_PRICE_ID is optional and not in the vault.
        self.assertExit(self.agent("rollout"), 0)
        self.assertNotIn("STRIPE_PRICE_ID",
                         self.deployed("node7-billing-service"))

    def test_plan_shows_changes_by_fingerprint(self):
        doc, _ = self.agent_json("plan")
        acts = {s["action"] for t in doc["tiers"] for w in t["workers"]
                for s in w["secrets"]}
        self.assertEqual(acts, {"add", "absent"})
        self.assertExit(self.agent("rollout"), 0)

        new = "sk_test_" + "6" * 20
        self.vault.put("node9-payment-service", "STRIPE_SECRET_KEY", new,
                       tier="payment")
        self.fake.edit([{"op": "set_secrets", "script": AUTH,
                         "secrets": {"LEGACY_KEY": "x"}}])
        since = self.last_seq()
        doc, p = self.agent_json("plan")
        self.assertEqual(self.writes(since), [])
        changed = [(t["tier"], w["worker"], s["name"])
                   for t in doc["tiers"] for w in t["workers"]
                   for s in w["secrets"] if s["action"] == "change"]
        self.assertEqual(changed, [("payment", "node9-payment-service",
                                    "STRIPE_SECRET_KEY")])
        for t in doc["tiers"]:
            for w in t["workers"]:
                for s in w["secrets"]:
                    if s["action"] == "change":
                        self.assertNotEqual(s["fp"], s["previous_fp"])
                        self.assertEqual(len(s["fp"]), 16)
        unknown = {w["worker"]: w["unknown"] for w in doc["workers"]}
        self.assertEqual(unknown[AUTH], ["LEGACY_KEY"])
        self.assertNoSecret(new, p.stdout, p.stderr)
        text = self.agent("plan")
        self.assertExit(text, 0)
        self.assertIn("LEGACY_KEY", text.stdout)
        self.assertNoSecret(new, text.stdout, text.stderr)

        # Only the changed Worker is written, in the changed tier.
        since = self.last_seq()
        doc, _ = self.agent_json("rollout")
        self.assertEqual([t["result"] for t in doc["tiers"]],
                         ["skipped", "verified", "skipped"])
        w = self.writes(since)
        self.assertEqual([r["script"] for r in w], ["node9-payment-service"])
        self.assertDeployed("node9-payment-service", "STRIPE_SECRET_KEY",
                            new)


class BadCoreValue(agentlib.AgentTestCase):

    def setUp(self):
        super().setUp()
        # The auth Worker's health wants an "itk_" token: this one fails.
        self.vault.put("shared", "INTERNAL_TOKEN", "bad-" + "1" * 20)

    def test_core_rolled_back_payments_never_written(self):
        doc, p = self.agent_json("rollout", code=4)
        self.assertEqual(doc["result"], "held")
        self.assertEqual([t["result"] for t in doc["tiers"]],
                         ["rolled-back", "not-reached", "not-reached"])
        self.assertIn("verification failed", p.stderr)
        self.assertIn(AUTH, p.stderr)
        self.assertFalse(touched_names(self.writes()) & PAYMENT_NAMES)
        # Wave 0 failed: nothing bound to the auth Worker was written.
        self.assertEqual({r["script"] for r in self.writes()}, {AUTH})
        # First rollout: the added secrets are deleted again.
        self.assertNotIn("INTERNAL_TOKEN", self.deployed(AUTH))
        self.assertNotIn("JWT_SECRET", self.deployed(AUTH))
        log = self.vault.tv("log", "--json")
        self.assertIn("tier-rolled-back", log.stdout)
        st, _ = self.agent_json("status")
        core = st["tiers"][0]
        self.assertFalse(core["verified"])
        self.assertIn(AUTH, core["last_failure"])


class RotationRolledBack(agentlib.AgentTestCase):

    def test_failed_rotation_restores_previous_value(self):
        self.assertExit(self.agent("rollout"), 0)
        old = self.values[("node7-billing-service", "STRIPE_SECRET_KEY")][1]
        self.billing_checks_stripe_key()
        self.vault.put("node7-billing-service", "STRIPE_SECRET_KEY",
                       "rk_live_" + "0" * 20, tier="payment")
        since = self.last_seq()
        doc, p = self.agent_json("rollout", code=4)
        self.assertEqual([t["result"] for t in doc["tiers"]],
                         ["skipped", "rolled-back", "not-reached"])
        self.assertDeployed("node7-billing-service", "STRIPE_SECRET_KEY",
                            old)
        w = self.writes(since)
        self.assertEqual([r["script"] for r in w],
                         ["node7-billing-service"] * 2)
        self.assertIn("restored values verify", p.stderr)

        # A good rotation goes through, and only touches that Worker.
        good = "sk_live_" + "2" * 20
        self.vault.put("node7-billing-service", "STRIPE_SECRET_KEY", good,
                       tier="payment")
        since = self.last_seq()
        self.assertExit(self.agent("rollout"), 0)
        self.assertDeployed("node7-billing-service", "STRIPE_SECRET_KEY",
                            good)
        self.assertEqual({r["script"] for r in self.writes(since)},
                         {"node7-billing-service"})


class ManySecrets(agentlib.AgentTestCase):
    """More than 100 secrets for one Worker and tier: split requests."""

    def setUp(self):
        super().setUp()
        pol = agentlib.policy(self.fake, strategy=self.strategy)
        names = ["K%03d" % i for i in range(110)]
        pol["workers"][0]["secrets"] += [{"name": n, "tier": "core"}
                                         for n in names]
        self.write_policy(pol)
        path = self.vault.tmp + "/many.env"
        with open(path, "w") as f:
            for n in names:
                f.write("%s=value-%s\n" % (n, n))
                self.values[(AUTH, n)] = ("core", "value-" + n)
        self.assertExit(self.vault.tv("import", path, "--service", AUTH,
                                      "--tier", "core"), 0)

    def test_split_at_100(self):
        self.assertExit(self.agent("rollout", "--through", "core"), 0)
        writes = [r for r in self.writes() if r["script"] == AUTH]
        self.assertEqual(len(writes), 2)
        self.assertEqual(sorted(len(r["secret_names"]) for r in writes),
                         [12, 100])
        self.assertEqual(len(self.deployed(AUTH)), 112)
        self.assertDeployed(AUTH, "K109", "value-K109")
        since = self.last_seq()
        self.assertExit(self.agent("rollout", "--through", "core"), 0)
        self.assertEqual(self.writes(since), [])


class ManySecretsStaged(ManySecrets):

    strategy = "staged"

    def test_split_at_100(self):
        self.assertExit(self.agent("rollout", "--through", "core"), 0)
        patches = [r for r in self.writes()
                   if r["script"] == AUTH and r["op"] == "patch_latest"]
        self.assertEqual(len(patches), 2)
        self.assertEqual(len(self.deployed(AUTH)), 112)
        self.assertDeployed(AUTH, "K000", "value-K000")


class StopOnFailure(agentlib.AgentTestCase):

    def test_on_failure_stop_keeps_the_push(self):
        pol = agentlib.policy(self.fake)
        pol["rollout"]["on_failure"] = "stop"
        self.write_policy(pol)
        self.vault.put("shared", "INTERNAL_TOKEN", "bad-" + "4" * 20)
        doc, p = self.agent_json("rollout", code=4)
        self.assertEqual(doc["tiers"][0]["result"], "failed-verification")
        # Not rolled back: the bad value stays for inspection; no more.
        self.assertIn("INTERNAL_TOKEN", self.deployed(AUTH))
        self.assertEqual({r["script"] for r in self.writes()}, {AUTH})
        self.assertNotIn("tier-rolled-back",
                         self.vault.tv("log", "--json").stdout)


class FaultsSurvived(agentlib.AgentTestCase):

    def test_500_429_reset(self):
        self.fake.add_faults([
            {"method": "PATCH", "path_regex": "node1-auth-service/secrets",
             "kind": "500", "count": 1},
            {"method": "PATCH", "path_regex": "node2-user-service/secrets",
             "kind": "429", "retry_after": 1, "count": 1},
            {"method": "PATCH", "path_regex": "node3-catalog-service/sec",
             "kind": "reset", "count": 1},
            {"method": "GET", "path_regex": "/workers/scripts$",
             "kind": "503", "count": 1},
            {"method": "GET", "path_regex": "/settings$",
             "kind": "reset", "count": 2},
        ])
        doc, _ = self.agent_json("rollout")
        self.assertEqual(doc["result"], "done")
        self.assertAllPushed()
        faults = [r["fault"] for r in self.fake.requests() if r["fault"]]
        self.assertEqual(sorted(faults), sorted(["500", "429", "reset",
                                                 "503", "reset", "reset"]))
        # Resets of a reused connection may be re-sent by libcurl itself.
        self.assertGreaterEqual(doc["requests"]["retries"], 3)

    def test_write_failing_for_good_rolls_the_tier_back(self):
        self.fake.add_faults([{
            "method": "PATCH", "path_regex": "node3-catalog-service/secrets",
            "kind": "500", "count": 10}])
        doc, p = self.agent_json("rollout", code=1)
        self.assertIn("node3-catalog-service", p.stderr)
        # What the tier wrote is undone (the broken Worker's own undo may
        # meet the same fault); nothing later was written.
        self.assertIn(doc["tiers"][0]["result"], ("rolled-back", "failed"))
        for w in agentlib.WORKERS:
            if w != "node3-catalog-service":
                self.assertNotIn("INTERNAL_TOKEN", self.deployed(w), w)
        self.assertFalse(touched_names(self.writes()) & PAYMENT_NAMES)
        # Once the API recovers, a rerun completes.
        self.fake.add_faults([], replace=True)
        self.assertExit(self.agent("rollout"), 0)
        self.assertAllPushed()

    def test_html_answer_is_an_error(self):
        self.fake.add_faults([{"method": "GET", "path_regex": "/accounts$",
                               "kind": "challenge", "count": 10}])
        p = self.agent("rollout")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("challenge", p.stderr)
        self.assertEqual(self.writes(), [])


class Canary(agentlib.AgentTestCase):

    def test_canary_never_in_output(self):
        canary = "itk_" + tvtest.canary()
        self.values[("shared", "INTERNAL_TOKEN")] = ("core", canary)
        self.vault.put("shared", "INTERNAL_TOKEN", canary)
        hook = "whsec_" + tvtest.canary()
        self.values[("node7-billing-service", "STRIPE_WEBHOOK_SECRET")] = (
            "payment", hook)
        self.vault.put("node7-billing-service", "STRIPE_WEBHOOK_SECRET",
                       hook, tier="payment")
        outputs = []
        for i, verb in enumerate((None, "-q", "-v")):
            if i > 0:
                # Rotate so that this rollout pushes again.
                canary = "itk_" + tvtest.canary()
                self.values[("shared", "INTERNAL_TOKEN")] = ("core", canary)
                self.vault.put("shared", "INTERNAL_TOKEN", canary)
            for cmd in (("preflight",), ("plan",), ("rollout",),
                        ("status",), ("plan", "--json"),
                        ("rollout", "--json")):
                p = self.agent(*cmd, verbosity=verb)
                self.assertIn(p.returncode, (0,), (cmd, verb, p.stderr))
                outputs += [p.stdout, p.stderr]
        self.assertAllPushed()
        for (_svc, _name), (_tier, value) in self.values.items():
            self.assertNoSecret(value, *outputs)
        self.assertNoSecret(agentlib.TOKEN, *outputs)
        # The audit log holds names and fingerprints, never values.
        log = self.vault.tv("log", "--json")
        self.assertNoSecret(canary, log.stdout)
        self.assertNoSecret(hook, log.stdout)


if __name__ == "__main__":
    agentlib.main()
