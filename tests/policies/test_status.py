"""Black-box tests of `tiervault status --policy`: every state (filled,
missing, stale by age, stale by deletion), the JSON document, the table,
colour rules and the exit codes 0 and 4.  The clock is TIERVAULT_TEST_NOW.
"""

import json
import os
import pty
import subprocess

import tvtest

DAY = 86400
NOW = 1_800_000_000  # a fixed "today" for every test

POLICY = {
    "policy": 1,
    "tiers": [{"name": "core"}, {"name": "payment"},
              {"name": "ai", "enabled": False}],
    "workers": [
        {"name": "auth", "secrets": [
            {"name": "JWT_SECRET", "tier": "core", "max_age_days": 30},
            {"name": "INTERNAL_TOKEN", "tier": "core",
             "from": "shared/INTERNAL_TOKEN"},
        ]},
        {"name": "payments", "bindings": ["auth"], "secrets": [
            {"name": "INTERNAL_TOKEN", "tier": "core",
             "from": "shared/INTERNAL_TOKEN"},
            {"name": "STRIPE_WEBHOOK_SECRET", "tier": "payment",
             "max_age_days": 90},
            {"name": "STRIPE_PRICE_ID", "tier": "payment", "required": False},
        ]},
        {"name": "ai", "secrets": [
            {"name": "OPENAI_API_KEY", "tier": "ai"},
        ]},
    ],
}


class StatusTest(tvtest.TestCase):

    def setUp(self):
        super().setUp()
        self.policy = os.path.join(self.vault.tmp, "policy.json")
        self.write_policy(POLICY)
        self.values = {}

    def write_policy(self, doc):
        with open(self.policy, "w") as f:
            json.dump(doc, f)

    def put_at(self, service, name, tier, when):
        value = tvtest.canary(name)
        self.values[(service, name)] = value
        p = self.vault.tv("put", service, name, "--tier", tier, input=value,
                          env={"TIERVAULT_TEST_NOW": str(when)})
        self.assertExit(p, 0, "put")

    def status(self, *extra, now=NOW, env=None):
        e = {"TIERVAULT_TEST_NOW": str(now)}
        e.update(env or {})
        p = self.vault.tv("status", "--policy", self.policy, *extra, env=e)
        for v in self.values.values():
            self.assertNoSecret(v, p.stdout, p.stderr)
        return p

    def status_json(self, now=NOW, code=None):
        p = self.status("--json", now=now)
        if code is not None:
            self.assertExit(p, code)
        doc = json.loads(p.stdout)
        return p, doc, {(s["worker"], s["name"]): s for s in doc["secrets"]}

    def fingerprints(self):
        p = self.vault.tv("ls", "--json")
        self.assertExit(p, 0, "ls")
        return {(s["service"], s["name"]): s["fingerprint"]
                for s in json.loads(p.stdout)["secrets"]}

    def test_every_state_and_json_shape(self):
        self.put_at("auth", "JWT_SECRET", "core", NOW - 31 * DAY - 5)
        self.put_at("shared", "INTERNAL_TOKEN", "core", NOW - 2 * DAY)
        self.put_at("payments", "STRIPE_WEBHOOK_SECRET", "payment",
                    NOW - 10 * DAY)
        self.put_at("payments", "STRIPE_PRICE_ID", "payment", NOW - DAY)
        fps = self.fingerprints()
        p = self.vault.tv("rm", "payments", "STRIPE_PRICE_ID",
                          env={"TIERVAULT_TEST_NOW": str(NOW - 3600)})
        self.assertExit(p, 0, "rm")

        p, doc, by = self.status_json(code=4)
        self.assertEqual(set(doc), {"secrets", "tiers", "ready"})
        self.assertIs(doc["ready"], False)
        self.assertEqual(
            [(s["worker"], s["name"]) for s in doc["secrets"]],
            [("auth", "JWT_SECRET"), ("auth", "INTERNAL_TOKEN"),
             ("payments", "INTERNAL_TOKEN"),
             ("payments", "STRIPE_WEBHOOK_SECRET"),
             ("payments", "STRIPE_PRICE_ID"), ("ai", "OPENAI_API_KEY")])
        for s in doc["secrets"]:
            self.assertLessEqual(
                {"worker", "name", "tier", "required", "state", "version",
                 "age_days", "fingerprint", "source"}, set(s))

        jwt = by[("auth", "JWT_SECRET")]
        self.assertEqual(jwt["state"], "stale")
        self.assertEqual(jwt["reason"], "older than 30 days")
        self.assertEqual(jwt["age_days"], 31)
        self.assertEqual(jwt["version"], 1)
        self.assertEqual(jwt["tier"], "core")
        self.assertIs(jwt["required"], True)
        self.assertEqual(jwt["fingerprint"], fps[("auth", "JWT_SECRET")])
        self.assertEqual(jwt["source"], "auth/JWT_SECRET")

        for w in ("auth", "payments"):
            tok = by[(w, "INTERNAL_TOKEN")]
            self.assertEqual(tok["state"], "filled")
            self.assertEqual(tok["source"], "shared/INTERNAL_TOKEN")
            self.assertEqual(tok["age_days"], 2)
            self.assertEqual(tok["fingerprint"],
                             fps[("shared", "INTERNAL_TOKEN")])
            self.assertNotIn("reason", tok)

        wh = by[("payments", "STRIPE_WEBHOOK_SECRET")]
        self.assertEqual((wh["state"], wh["age_days"]), ("filled", 10))

        price = by[("payments", "STRIPE_PRICE_ID")]
        self.assertEqual(price["state"], "stale")
        self.assertEqual(price["reason"], "deleted from the vault")
        self.assertEqual(price["version"], 2)
        self.assertIsNone(price["fingerprint"])
        self.assertIs(price["required"], False)

        ai = by[("ai", "OPENAI_API_KEY")]
        self.assertEqual(ai["state"], "missing")
        self.assertEqual(ai["reason"], "not in the vault")
        self.assertIsNone(ai["version"])
        self.assertIsNone(ai["age_days"])
        self.assertIsNone(ai["fingerprint"])

        self.assertEqual(doc["tiers"], [
            {"name": "core", "enabled": True, "required": 3, "filled": 2,
             "ready": False},
            {"name": "payment", "enabled": True, "required": 1, "filled": 1,
             "ready": True},
            {"name": "ai", "enabled": False, "required": 1, "filled": 0,
             "ready": False},
        ])

    def test_ready_exit_0(self):
        # optional secrets and disabled tiers do not hold the policy back
        self.put_at("auth", "JWT_SECRET", "core", NOW - DAY)
        self.put_at("shared", "INTERNAL_TOKEN", "core", NOW - DAY)
        self.put_at("payments", "STRIPE_WEBHOOK_SECRET", "payment", NOW)
        p, doc, by = self.status_json(code=0)
        self.assertIs(doc["ready"], True)
        self.assertEqual(by[("payments", "STRIPE_PRICE_ID")]["state"],
                         "missing")
        self.assertEqual(by[("ai", "OPENAI_API_KEY")]["state"], "missing")
        p = self.status()
        self.assertExit(p, 0)
        self.assertIn("overall: ready", p.stdout)

    def test_enabling_a_tier_holds_it(self):
        self.put_at("auth", "JWT_SECRET", "core", NOW)
        self.put_at("shared", "INTERNAL_TOKEN", "core", NOW)
        self.put_at("payments", "STRIPE_WEBHOOK_SECRET", "payment", NOW)
        doc = json.loads(json.dumps(POLICY))
        doc["tiers"][2]["enabled"] = True
        self.write_policy(doc)
        p, doc, _ = self.status_json(code=4)
        self.assertEqual([t["ready"] for t in doc["tiers"]],
                         [True, True, False])

    def test_max_age_boundary(self):
        self.put_at("auth", "JWT_SECRET", "core", NOW - 30 * DAY)
        self.put_at("shared", "INTERNAL_TOKEN", "core", NOW)
        self.put_at("payments", "STRIPE_WEBHOOK_SECRET", "payment", NOW)
        _, _, by = self.status_json(code=0)
        self.assertEqual(by[("auth", "JWT_SECRET")]["state"], "filled")
        _, _, by = self.status_json(now=NOW + 1, code=4)
        self.assertEqual(by[("auth", "JWT_SECRET")]["state"], "stale")
        # a new version makes it current again
        self.put_at("auth", "JWT_SECRET", "core", NOW)
        _, _, by = self.status_json(now=NOW + 1, code=0)
        self.assertEqual(by[("auth", "JWT_SECRET")]["version"], 2)

    def test_table_grouped_by_tier(self):
        self.put_at("auth", "JWT_SECRET", "core", NOW - 40 * DAY)
        self.put_at("shared", "INTERNAL_TOKEN", "core", NOW)
        p = self.status()
        self.assertExit(p, 4)
        lines = p.stdout.splitlines()
        heads = [ln for ln in lines if ln.startswith("tier ")]
        self.assertEqual(heads, [
            "tier core: not ready, 2/3 required filled",
            "tier payment: not ready, 0/1 required filled",
            "tier ai: disabled, 0/1 required filled",
        ])
        self.assertEqual(lines[-1], "overall: not ready")
        core = lines[lines.index(heads[0]) + 1:lines.index(heads[1])]
        self.assertEqual(core[0].split(), ["WORKER", "SECRET", "REQ", "STATE",
                                           "VERSION", "AGE", "FINGERPRINT",
                                           "SOURCE"])
        rows = [r.split() for r in core[1:]]
        self.assertEqual([(r[0], r[1], r[3]) for r in rows],
                         [("auth", "JWT_SECRET", "stale"),
                          ("auth", "INTERNAL_TOKEN", "filled"),
                          ("payments", "INTERNAL_TOKEN", "filled")])
        self.assertEqual(rows[0][5], "40d")
        self.assertIn("(older than 30 days)", core[1])
        self.assertNotIn("\033[", p.stdout)

    def run_on_tty(self, env):
        """Runs status with stdout on a pseudo-terminal; returns its bytes."""
        master, slave = pty.openpty()
        e = dict(self.vault.env)
        e.pop("NO_COLOR", None)
        e.update(env)
        try:
            proc = subprocess.Popen(
                tvtest.WRAPPER + [tvtest.TIERVAULT, "status", "--policy",
                                  self.policy],
                stdin=subprocess.DEVNULL, stdout=slave,
                stderr=subprocess.PIPE, env=e)
            os.close(slave)
            slave = -1
            out = b""
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            proc.wait(timeout=120)
            proc.stderr.close()
        finally:
            if slave >= 0:
                os.close(slave)
            os.close(master)
        self.assertEqual(proc.returncode, 4)
        return out

    def test_colour_only_on_a_terminal_without_no_color(self):
        self.put_at("auth", "JWT_SECRET", "core", NOW)
        env = {"TIERVAULT_TEST_NOW": str(NOW)}
        out = self.run_on_tty(env)
        self.assertIn(b"\033[32mfilled", out)
        self.assertIn(b"\033[31mmissing", out)
        env["NO_COLOR"] = "1"
        self.assertNotIn(b"\033[", self.run_on_tty(env))

    def test_bad_policy_is_refused_before_the_vault(self):
        doc = json.loads(json.dumps(POLICY))
        doc["workers"][1]["secrets"][1]["tier"] = "paymnet"
        self.write_policy(doc)
        # no unlock source: the policy error must come first
        p = self.status(env={"TIERVAULT_KEY_FILE": None})
        self.assertExit(p, 1)
        self.assertEqual(p.stdout, "")
        self.assertIn('policy.json: workers[1].secrets[1].tier: unknown tier '
                      '"paymnet"', p.stderr)
        p = self.vault.tv("status", "--policy",
                          os.path.join(self.vault.tmp, "none.json"))
        self.assertExit(p, 1)
        self.assertIn("none.json", p.stderr)

    def test_wrong_key_is_an_unlock_failure(self):
        other = os.path.join(self.vault.tmp, "other.key")
        with open(other, "wb") as f:
            f.write(os.urandom(32))
        os.chmod(other, 0o600)
        p = self.status(env={"TIERVAULT_KEY_FILE": other})
        self.assertExit(p, 3)
        self.assertEqual(p.stdout, "")

    def test_usage(self):
        p = self.vault.tv("status")
        self.assertExit(p, 2)
        self.assertIn("--policy", p.stderr)
        p = self.vault.tv("status", "--policy", self.policy, "extra")
        self.assertExit(p, 2)
        p = self.vault.tv("status", "--policy", self.policy, "--policy",
                          self.policy)
        self.assertExit(p, 2)
        p = self.vault.tv("status", "--colour")
        self.assertExit(p, 2)
        p = self.vault.tv("status", "--help")
        self.assertExit(p, 0)
        self.assertTrue(p.stdout.startswith("usage: tiervault status"))


if __name__ == "__main__":
    tvtest.main()
