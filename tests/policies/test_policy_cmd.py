"""Black-box tests of `tiervault policy check` (the whole corpus, the
shipped example) and `tiervault policy init` (wrangler.json, .jsonc and
.toml, --env, --tier-rule; what it prints passes `policy check`).
"""

import glob
import json
import os
import shutil
import tempfile
import unittest

import tvtest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")
EXAMPLES = os.path.join(ROOT, "policies", "examples")
FIXTURES = os.path.join(HERE, "wrangler")

# Every value in the example .dev.vars files contains one of these.
VALUE_MARKS = ("placeholder", "NOT_A_NAME")


class PolicyCommandTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="tvpolicy-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.env = tvtest.base_env()

    def tv(self, *args, cwd=None):
        old = os.getcwd()
        os.chdir(cwd or self.tmp)
        try:
            return tvtest.run([tvtest.TIERVAULT] + list(args), env=self.env)
        finally:
            os.chdir(old)

    def assertExit(self, p, code, what=""):
        if p.returncode != code:
            self.fail("%s: exit %d, expected %d\nstdout: %s\nstderr: %s" % (
                what, p.returncode, code, p.stdout[-2000:], p.stderr[-2000:]))

    # policy check

    def test_check_valid_corpus(self):
        files = sorted(glob.glob(os.path.join(CORPUS, "valid", "*.json")))
        self.assertGreaterEqual(len(files), 5)
        for f in files:
            p = self.tv("policy", "check", f)
            self.assertExit(p, 0, f)
            self.assertEqual(len(p.stdout.splitlines()), 1, f)
            self.assertTrue(p.stdout.startswith(f + ": valid: "), p.stdout)
            self.assertEqual(p.stderr, "")

    def test_check_invalid_corpus(self):
        files = sorted(glob.glob(os.path.join(CORPUS, "invalid", "*.json")))
        self.assertGreaterEqual(len(files), 90)
        for f in files:
            with self.subTest(case=os.path.basename(f)):
                # the expected messages name the file "policy.json"
                shutil.copyfile(f, os.path.join(self.tmp, "policy.json"))
                with open(f[:-5] + ".err") as e:
                    want = e.read().strip()
                p = self.tv("policy", "check", "policy.json")
                self.assertExit(p, 1, f)
                self.assertEqual(p.stdout, "")
                self.assertEqual(p.stderr.strip(), "tiervault: " + want)

    def test_check_example(self):
        p = self.tv("policy", "check",
                    os.path.join(EXAMPLES, "backend.json"))
        self.assertExit(p, 0)
        self.assertIn("3 tiers, 10 workers in 6 waves, 30 secrets, "
                      "4 d1 databases", p.stdout)

    def test_check_usage(self):
        self.assertExit(self.tv("policy", "check"), 2)
        self.assertExit(self.tv("policy", "check", "a.json", "b.json"), 2)
        self.assertExit(self.tv("policy", "check", "--strict", "a.json"), 2)
        p = self.tv("policy", "check", "missing.json")
        self.assertExit(p, 1)
        self.assertIn("'missing.json'", p.stderr)
        self.assertExit(self.tv("policy", "check", self.tmp), 1)
        self.assertExit(self.tv("policy"), 2)
        self.assertExit(self.tv("policy", "lint"), 2)
        for args in (("policy", "-h"), ("policy", "check", "-h"),
                     ("policy", "init", "--help")):
            p = self.tv(*args)
            self.assertExit(p, 0, " ".join(args))
            self.assertTrue(p.stdout.startswith("usage: tiervault policy"))

    # policy init

    def example_tree(self):
        """A copy of the example Wrangler tree in the temporary directory."""
        dst = os.path.join(self.tmp, "wrangler")
        shutil.copytree(os.path.join(EXAMPLES, "wrangler"), dst)
        return dst

    def init(self, *args, code=0):
        p = self.tv("policy", "init", *args)
        self.assertExit(p, code, "policy init")
        for mark in VALUE_MARKS:
            self.assertNotIn(mark, p.stdout)
            self.assertNotIn(mark, p.stderr)
        return p

    def check_output(self, p, name="generated.json"):
        """Saves what init printed and runs policy check on it."""
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(p.stdout)
        c = self.tv("policy", "check", name)
        self.assertExit(c, 0, "policy check of the generated policy")
        return json.loads(p.stdout)

    @staticmethod
    def workers(doc):
        return {w["name"]: w for w in doc["workers"]}

    @staticmethod
    def secrets(worker):
        return [(s["name"], s["tier"], s["required"])
                for s in worker.get("secrets", [])]

    def test_init_each_format(self):
        tree = self.example_tree()
        cases = {
            "toml": ("auth", "node1-auth-service"),
            "jsonc": ("gateway", "node2-gateway"),
            "json": ("payments", "node9-payment-service"),
        }
        for fmt, (d, name) in cases.items():
            with self.subTest(format=fmt):
                p = self.init("--from", os.path.join("wrangler", d))
                doc = self.check_output(p, fmt + ".json")
                self.assertIn(name, self.workers(doc))
                # the file itself works as well as its directory
                q = self.init("--from",
                              os.path.join("wrangler", d, "wrangler." + fmt))
                self.assertEqual(p.stdout, q.stdout)
        self.assertTrue(os.path.isdir(tree))

    def test_init_whole_tree(self):
        self.example_tree()
        p = self.init("--from", "wrangler/auth", "--from", "wrangler/gateway",
                      "--from", "wrangler/payments")
        doc = self.check_output(p)
        self.assertTrue(p.stdout.startswith('{\n  "policy": 1,\n'))
        self.assertEqual(doc["account_id"], "8d4f0c1e2b3a49567890abcdef123456")
        self.assertEqual([t["name"] for t in doc["tiers"]],
                         ["core", "payment", "ai"])
        ws = self.workers(doc)
        self.assertEqual(list(ws), ["node1-auth-service", "node2-gateway",
                                    "node9-payment-service",
                                    "node3-users-service"])
        self.assertEqual(ws["node2-gateway"]["bindings"],
                         ["node1-auth-service", "node9-payment-service",
                          "node3-users-service"])
        self.assertIn("'node3-users-service', which no given configuration "
                      "defines", p.stderr)
        self.assertEqual(self.secrets(ws["node1-auth-service"]),
                         [("JWT_SECRET", "core", True),
                          ("INTERNAL_TOKEN", "core", True)])
        pay = dict((n, (t, r)) for n, t, r in
                   self.secrets(ws["node9-payment-service"]))
        self.assertEqual(pay["STRIPE_WEBHOOK_SECRET"], ("payment", True))
        self.assertEqual(pay["CREEM_API_KEY"], ("payment", True))
        self.assertEqual(pay["OPENAI_API_KEY"], ("ai", False))
        self.assertEqual(pay["RECEIPT_SIGNING_KEY"], ("core", False))
        self.assertNotIn("NOT_A_NAME", pay)
        dirs = [d["migrations_dir"] for d in doc["d1"]]
        self.assertEqual(dirs, ["wrangler/auth/migrations",
                                "wrangler/payments/migrations"])
        for d in dirs:
            self.assertTrue(os.path.isdir(os.path.join(self.tmp, d)), d)

    def test_init_env_and_tier_rules(self):
        self.example_tree()
        p = self.init("--from", "wrangler/auth", "--from", "wrangler/gateway",
                      "--from", "wrangler/payments", "--env", "staging",
                      "--tier-rule", "INTERNAL_*=internal",
                      "--tier-rule", "STRIPE_*=stripe")
        doc = self.check_output(p)
        self.assertEqual([t["name"] for t in doc["tiers"]],
                         ["core", "internal", "stripe", "payment", "ai"])
        ws = self.workers(doc)
        self.assertEqual(sorted(ws), ["node1-auth-service-staging",
                                      "node2-gateway-staging",
                                      "node9-payment-service-staging"])
        self.assertEqual(ws["node2-gateway-staging"]["bindings"],
                         ["node1-auth-service-staging",
                          "node9-payment-service-staging"])
        self.assertEqual(self.secrets(ws["node2-gateway-staging"]),
                         [("INTERNAL_TOKEN", "internal", True)])
        pay = dict((n, (t, r)) for n, t, r in
                   self.secrets(ws["node9-payment-service-staging"]))
        self.assertEqual(pay["STRIPE_SECRET_KEY"], ("stripe", True))
        self.assertEqual(pay["CREEM_API_KEY"], ("payment", False))
        self.assertEqual([d["database_id"] for d in doc["d1"]],
                         ["7c1d2e3f-4a5b-4c6d-8e7f-90a1b2c3d4e5"])
        self.assertEqual(p.stderr, "")

    def test_init_lookup_order(self):
        for d, want in (("json", "from-json"), ("jsonc", "from-jsonc")):
            p = self.init("--from", os.path.join(FIXTURES, "order", d))
            self.assertEqual(json.loads(p.stdout)["workers"][0]["name"], want)

    def test_init_refusals(self):
        self.example_tree()
        self.init(code=2)
        self.init("--from", "wrangler/auth", "extra", code=2)
        self.init("--from", "wrangler/auth", "--tier-rule", "STRIPE_*",
                  code=2)
        self.init("--from", "wrangler/auth", "--env", "a", "--env", "b",
                  code=2)
        p = self.init("--from", "nowhere", code=1)
        self.assertIn("'nowhere'", p.stderr)
        p = self.init("--from", "wrangler", code=1)
        self.assertIn("no wrangler.json, wrangler.jsonc or wrangler.toml",
                      p.stderr)
        p = self.init("--from", "wrangler/auth", "--env", "prod", code=1)
        self.assertIn('no environment "prod"', p.stderr)
        p = self.init("--from", os.path.join(FIXTURES, "bad-toml"), code=1)
        self.assertIn("bad-toml/wrangler.toml:3:", p.stderr)
        p = self.init("--from", os.path.join(FIXTURES, "cycle-a"), "--from",
                      os.path.join(FIXTURES, "cycle-b"), code=1)
        self.assertIn("cycle: cycle-a -> cycle-b -> cycle-a", p.stderr)
        p = self.init("--from", "wrangler/auth", "--from",
                      os.path.join(FIXTURES, "other-account"), code=1)
        self.assertIn("account_id differs", p.stderr)
        self.assertEqual(p.stdout, "")


if __name__ == "__main__":
    tvtest.main()
