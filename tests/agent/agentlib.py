"""Helpers for the agent's end-to-end tests: a team of ten Workers in three
tiers as a fake Cloudflare scenario, the matching policy, a vault filled
with the tiervault CLI, and a runner for tiervault-agent.

The fake (tests/fake_cf/fake_cf.py) runs in a thread of the test process on
127.0.0.1 port 0; the agent and the CLI run as child processes, as a user
runs them.
"""

import json
import os
import subprocess
import sys
import tempfile

import tvtest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "fake_cf"))
from fake_cf import FakeCloudflare  # noqa: E402

ACCOUNT = "0123456789abcdef0123456789abcdef"
OTHER_ACCOUNT = "fedcba9876543210fedcba9876543210"
TOKEN = "tok-" + "a1b2c3d4e5f6a7b8c9d0"
DB_UUID = "6f1c2a4e-0000-4000-8000-000000000001"

AUTH = "node1-auth-service"
# (name, tier-of-own-secrets, extra bindings)
WORKERS = [
    AUTH,
    "node2-user-service",
    "node3-catalog-service",
    "node4-search-service",
    "node5-notify-service",
    "node6-gateway-service",
    "node7-billing-service",
    "node8-invoice-service",
    "node9-payment-service",
    "node10-ai-service",
]


def default_values():
    """The vault's contents: {(service, name): (tier, value)}."""
    v = {
        ("shared", "INTERNAL_TOKEN"): ("core", "itk_" + "5" * 24),
        (AUTH, "JWT_SECRET"): ("core", "jwt_" + "7" * 28),
        ("node7-billing-service", "STRIPE_SECRET_KEY"):
            ("payment", "sk_test_" + "4" * 20),
        ("node7-billing-service", "STRIPE_WEBHOOK_SECRET"):
            ("payment", "whsec_" + "3" * 24),
        ("node8-invoice-service", "CREEM_WEBHOOK_SECRET"):
            ("payment", "creem_whsec_" + "2" * 20),
        ("node9-payment-service", "STRIPE_SECRET_KEY"):
            ("payment", "sk_test_" + "9" * 20),
        ("node10-ai-service", "OPENAI_API_KEY"):
            ("ai", "sk-proj-" + "8" * 24),
    }
    return v


def scenario(missing=(), drop_binding=None, applied=None, staged=()):
    """The Cloudflare account: every Worker exists and is deployed with no
    secrets; health checks only what the core tier provides."""
    scripts = []
    for w in WORKERS:
        if w in missing:
            continue
        health = [{"name": "INTERNAL_TOKEN", "prefix": "itk_"}]
        if w == AUTH:
            health.append("JWT_SECRET")
        else:
            health.append({"name": "INTERNAL_TOKEN", "same_as": AUTH})
        behaviour = {"health": health}
        if w == "node7-billing-service":
            behaviour["stripe_webhook"] = "STRIPE_WEBHOOK_SECRET"
        if w == "node8-invoice-service":
            behaviour["creem_webhook"] = "CREEM_WEBHOOK_SECRET"
        spec = {"name": w, "secrets": {}, "behaviour": behaviour}
        if w != AUTH and w != drop_binding:
            spec["bindings"] = [{"name": "AUTH", "service": AUTH}]
        if w == "node9-payment-service" and w != drop_binding:
            spec["bindings"].append(
                {"name": "BILLING", "service": "node7-billing-service"})
        if w in staged:
            spec["staged"] = True
        scripts.append(spec)
    return {
        "tokens": [{"token": TOKEN, "kind": "user",
                    "accounts": [ACCOUNT]}],
        "accounts": [
            {"id": ACCOUNT, "name": "Acme", "scripts": scripts,
             "d1": [{"uuid": DB_UUID, "name": "payments",
                     "applied": (["0001_init.sql", "0002_prices.sql"]
                                 if applied is None else applied)}]},
            {"id": OTHER_ACCOUNT, "name": "Elsewhere"},
        ],
    }


def policy(fake, strategy="bulk", migrations=None, concurrency=4,
           account=ACCOUNT):
    """The policy for the team, probing the fake's data plane."""
    def health(w, tier=None):
        p = {"kind": "http", "url": "%s/w/%s/health" % (fake.url, w),
             "attempts": 2, "interval_ms": 50, "timeout_ms": 3000}
        if tier:
            p["tier"] = tier
        return p

    def webhook(w, kind):
        secret = {"stripe": "STRIPE_WEBHOOK_SECRET",
                  "creem": "CREEM_WEBHOOK_SECRET"}[kind]
        return {"kind": kind + "-webhook", "tier": "payment",
                "secret": secret, "attempts": 2, "interval_ms": 50,
                "url": "%s/w/%s/webhooks/%s" % (fake.url, w, kind)}

    workers = []
    for w in WORKERS:
        spec = {"name": w, "secrets": [
            {"name": "INTERNAL_TOKEN", "tier": "core",
             "from": "shared/INTERNAL_TOKEN"}], "verify": [health(w)]}
        if w != AUTH:
            spec["bindings"] = [AUTH]
        if w == AUTH:
            spec["secrets"].append({"name": "JWT_SECRET", "tier": "core"})
        if w == "node7-billing-service":
            spec["secrets"] += [
                {"name": "STRIPE_SECRET_KEY", "tier": "payment"},
                {"name": "STRIPE_WEBHOOK_SECRET", "tier": "payment"},
                {"name": "STRIPE_PRICE_ID", "tier": "payment",
                 "required": False}]
            spec["verify"].append(webhook(w, "stripe"))
        if w == "node8-invoice-service":
            spec["secrets"].append(
                {"name": "CREEM_WEBHOOK_SECRET", "tier": "payment"})
            spec["verify"].append(webhook(w, "creem"))
        if w == "node9-payment-service":
            spec["bindings"].append("node7-billing-service")
            spec["secrets"].append(
                {"name": "STRIPE_SECRET_KEY", "tier": "payment"})
            spec["verify"].append(health(w, "payment"))
        if w == "node10-ai-service":
            spec["secrets"].append({"name": "OPENAI_API_KEY", "tier": "ai"})
            spec["verify"].append(health(w, "ai"))
        workers.append(spec)
    return {
        "policy": 1,
        "account_id": account,
        "tiers": [{"name": "core"}, {"name": "payment"}, {"name": "ai"}],
        "workers": workers,
        "d1": [{"database_id": DB_UUID, "name": "payments",
                "migrations": migrations or ["0001_init.sql",
                                             "0002_prices.sql"]}],
        "rollout": {"strategy": strategy, "on_failure": "rollback",
                    "concurrency": concurrency},
    }


class AgentTestCase(tvtest.TestCase):
    """A vault, a fake Cloudflare account and a policy file per test."""

    strategy = "bulk"

    def setUp(self):
        super().setUp()
        self.fake = FakeCloudflare(self.make_scenario()).start()
        self.addCleanup(self.fake.stop)
        self.policy_path = os.path.join(self.vault.tmp, "policy.json")
        self.write_policy(policy(self.fake, strategy=self.strategy))
        self.values = default_values()
        self.fill(self.values)

    def make_scenario(self):
        return scenario()

    def billing_checks_stripe_key(self):
        """From now on the billing Worker's /health wants an "sk_" key."""
        self.fake.edit([{"op": "set_behaviour",
                         "script": "node7-billing-service", "behaviour": {
                             "health": [{"name": "INTERNAL_TOKEN",
                                         "same_as": AUTH},
                                        {"name": "STRIPE_SECRET_KEY",
                                         "prefix": "sk_"}],
                             "stripe_webhook": "STRIPE_WEBHOOK_SECRET"}}])

    def write_policy(self, doc):
        with open(self.policy_path, "w") as f:
            json.dump(doc, f, indent=1)

    def fill(self, values):
        """Puts {(service, name): (tier, value)} into the vault."""
        for (service, name), (tier, value) in sorted(values.items()):
            self.vault.put(service, name, value, tier=tier)

    def agent_env(self, **extra):
        env = dict(self.vault.env)
        env["CLOUDFLARE_API_TOKEN"] = TOKEN
        env["CLOUDFLARE_API_BASE_URL"] = self.fake.api_url
        for k, v in extra.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        return env

    def agent_argv(self, *args, verbosity=None):
        argv = [tvtest.AGENT]
        if verbosity:
            argv.append(verbosity)
        cmd, rest = args[0], list(args[1:])
        return argv + [cmd, "--policy", self.policy_path] + rest

    def agent(self, *args, env=None, verbosity=None, timeout=120):
        """Runs tiervault-agent COMMAND --policy FILE ARGS."""
        return tvtest.run(self.agent_argv(*args, verbosity=verbosity),
                          env=env or self.agent_env(), timeout=timeout)

    def agent_json(self, *args, code=0, env=None):
        p = self.agent(*args, "--json", env=env)
        self.assertExit(p, code)
        return json.loads(p.stdout), p

    # What the fake saw.
    def writes(self, since=0):
        return [r for r in self.fake.requests(since) if r["write"]]

    def last_seq(self):
        reqs = self.fake.requests()
        return reqs[-1]["seq"] if reqs else 0

    def deployed(self, script):
        """The deployed secrets of script (compare in code, never print)."""
        for acc in self.fake.state()["accounts"]:
            if script in acc["scripts"]:
                return acc["scripts"][script]["deployed_secrets"]
        raise KeyError(script)

    def assertDeployed(self, script, name, value, msg=None):
        got = self.deployed(script).get(name)
        # Compare without printing either value.
        self.assertTrue(got == value, msg or "%s: %s is not the expected "
                        "value (present: %s)" % (script, name,
                                                 got is not None))

    def assertAllPushed(self, tiers=("core", "payment", "ai")):
        for w in WORKERS:
            want = expected_secrets(w, self.values, tiers)
            got = self.deployed(w)
            for name, value in want.items():
                self.assertDeployed(w, name, value)
            self.assertEqual(sorted(got), sorted(want), w)


def expected_secrets(worker, values, tiers):
    """{NAME: value} the policy gives worker for the tiers."""
    out = {}
    pol = policy(type("F", (), {"url": ""})())
    for spec in pol["workers"]:
        if spec["name"] != worker:
            continue
        for s in spec["secrets"]:
            if s["tier"] not in tiers:
                continue
            src = s.get("from", "%s/%s" % (worker, s["name"]))
            service, name = src.split("/", 1)
            if (service, name) in values:
                out[s["name"]] = values[(service, name)][1]
    return out


def main():
    tvtest.main()
