#!/usr/bin/env python3
"""Tests of the fake Cloudflare API (tests/fake_cf/fake_cf.py).

Each Cloudflare rule the agent relies on is checked over real HTTP with
urllib against an in-process fake; the command line is checked by running
the fake as a subprocess.
"""

import hashlib
import hmac
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from fake_cf import (FakeCloudflare, ScenarioError,  # noqa: E402
                     creem_signature, stripe_signature)

ACCT = "0123456789abcdef0123456789abcdef"
OTHER = "fedcba9876543210fedcba9876543210"
THIRD = "00000000000000000000000000000003"
DB = "6f1c2a4e-0000-4000-8000-000000000001"
NODB = "6f1c2a4e-0000-4000-8000-000000000002"
CANARY = "CANARY-5e1f0c2d9a7b"
MERGE = "application/merge-patch+json"


def scenario():
    """A small account: a payment Worker bound to an auth Worker."""
    return {
        "tokens": [
            {"token": "tok", "kind": "user", "accounts": [ACCT, OTHER,
                                                          THIRD]},
            {"token": "acct-tok", "kind": "account", "accounts": [ACCT]},
            {"token": "other-tok", "kind": "user", "accounts": [OTHER]},
            {"token": "off-tok", "status": "disabled"},
            {"token": "old-tok", "kind": "account", "status": "expired"},
        ],
        "accounts": [
            {"id": ACCT, "name": "Acme", "scripts": [
                {"name": "auth", "secrets": {"INTERNAL_TOKEN": "it-1"},
                 "behaviour": {"health": ["INTERNAL_TOKEN"]}},
                {"name": "pay",
                 "secrets": {"INTERNAL_TOKEN": "it-1",
                             "STRIPE_SECRET_KEY": "sk_test_" + CANARY,
                             "STRIPE_WEBHOOK_SECRET": "whsec_abc",
                             "CREEM_WEBHOOK_SECRET": "creem_xyz"},
                 "vars": {"MODE": "live"},
                 "bindings": [{"name": "AUTH", "service": "auth"}],
                 "d1": [{"name": "DB", "database_id": DB}],
                 "behaviour": {
                     "health": [
                         {"name": "INTERNAL_TOKEN", "same_as": "auth"},
                         {"name": "STRIPE_SECRET_KEY", "prefix": "sk_"}],
                     "stripe_webhook": "STRIPE_WEBHOOK_SECRET",
                     "creem_webhook": "CREEM_WEBHOOK_SECRET"}},
                {"name": "draft", "has_version": False},
                {"name": "busy", "secrets": {"A": "1"}, "staged": True},
            ], "d1": [
                {"uuid": DB, "applied": ["0001_init.sql", "0002_b.sql"]},
                {"uuid": NODB, "migrations_table_exists": False},
            ]},
            {"id": OTHER, "name": "Other", "subdomain": "other"},
            {"id": THIRD, "name": "Third"},
        ],
    }


class FakeTestCase(unittest.TestCase):
    """Starts a fresh fake for every test and talks to it with urllib."""

    def setUp(self):
        self.fake = FakeCloudflare(scenario()).start()
        self.addCleanup(self.fake.stop)

    def raw(self, method, path, body=None, token="tok", headers=None,
            ctype="application/json"):
        """(status, headers, body bytes) of one request."""
        hdrs = dict(headers or {})
        if token is not None:
            hdrs["Authorization"] = "Bearer " + token
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else \
                json.dumps(body).encode()
            hdrs["Content-Type"] = ctype
        req = urllib.request.Request(self.fake.url + path, data=data,
                                     headers=hdrs, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            with e:
                return e.code, e.headers, e.read()

    def api(self, method, path, body=None, **kw):
        """(status, envelope) of an API request (path under /client/v4)."""
        status, _, data = self.raw(method, "/client/v4" + path, body, **kw)
        env = json.loads(data)
        for key in ("success", "errors", "messages", "result",
                    "result_info"):
            self.assertIn(key, env)
        return status, env

    def ok(self, method, path, body=None, **kw):
        status, env = self.api(method, path, body, **kw)
        self.assertEqual(status, 200, env["errors"])
        self.assertTrue(env["success"])
        return env["result"]

    def fails(self, method, path, status, code, body=None, **kw):
        got, env = self.api(method, path, body, **kw)
        self.assertEqual(got, status)
        self.assertFalse(env["success"])
        self.assertIsNone(env["result"])
        self.assertEqual(env["errors"][0]["code"], code)
        return env

    def script_path(self, name, tail=""):
        return "/accounts/%s/workers/scripts/%s%s" % (ACCT, name, tail)

    def bulk(self, name, secrets, status=200, code=None):
        body = {"secrets": {
            k: (None if v is None else
                {"name": k, "text": v, "type": "secret_text"})
            for k, v in secrets.items()}}
        path = self.script_path(name, "/secrets-bulk")
        if code is not None:
            return self.fails("PATCH", path, status, code, body, ctype=MERGE)
        return self.ok("PATCH", path, body, ctype=MERGE)

    def deployed(self, name):
        st = self.fake.state()
        return st["accounts"][0]["scripts"][name]

    def data(self, path, method="GET", body=None, headers=None):
        status, hdrs, data = self.raw(method, "/w" + path, body, token=None,
                                      headers=headers)
        return status, hdrs, json.loads(data)


class TokenTests(FakeTestCase):
    """Token verification, accounts, memberships and authentication."""

    def test_user_token_verify(self):
        status, env = self.api("GET", "/user/tokens/verify")
        self.assertEqual(status, 200)
        self.assertEqual(env["result"]["status"], "active")
        self.assertEqual(env["messages"][0]["code"], 10000)
        self.assertEqual(env["errors"], [])

    def test_account_token_gets_1000_on_user_verify(self):
        self.fails("GET", "/user/tokens/verify", 401, 1000, token="acct-tok")
        res = self.ok("GET", "/accounts/%s/tokens/verify" % ACCT,
                      token="acct-tok")
        self.assertEqual(res["status"], "active")

    def test_account_verify_refuses_user_and_foreign_tokens(self):
        self.fails("GET", "/accounts/%s/tokens/verify" % ACCT, 401, 1000)
        self.fails("GET", "/accounts/%s/tokens/verify" % OTHER, 403, 10000,
                   token="acct-tok")
        self.fails("GET", "/accounts/%s/tokens/verify" % ACCT.upper(), 404,
                   7003, token="acct-tok")

    def test_verify_reports_disabled_and_expired(self):
        self.assertEqual(self.ok("GET", "/user/tokens/verify",
                                 token="off-tok")["status"], "disabled")
        res = self.ok("GET", "/accounts/%s/tokens/verify" % ACCT,
                      token="old-tok")
        self.assertEqual(res["status"], "expired")
        self.fails("GET", "/accounts", 403, 10000, token="off-tok")
        self.fails("GET", self.script_path("pay", "/settings"), 403, 10000,
                   token="old-tok")

    def test_missing_and_unknown_token(self):
        env = self.fails("GET", "/accounts", 401, 10000, token=None)
        self.assertEqual(env["errors"][0]["message"], "Authentication error")
        self.fails("GET", "/user/tokens/verify", 401, 10000, token="nope")
        self.fails("GET", "/accounts/%s/workers/scripts" % ACCT, 401,
                   10000, headers={"Authorization": "Basic tok"}, token=None)

    def test_token_on_unreachable_account(self):
        self.fails("GET", "/accounts/%s/workers/scripts" % ACCT, 403, 10000,
                   token="other-tok")
        self.fails("GET", "/accounts/%s/workers/scripts" % ("ab" * 16), 403,
                   10000)
        self.fails("GET", "/accounts/not-hex/workers/scripts", 404, 7003)

    def test_accounts_paging(self):
        status, env = self.api("GET", "/accounts?per_page=2")
        self.assertEqual([a["id"] for a in env["result"]], [ACCT, OTHER])
        self.assertEqual(env["result_info"], {
            "page": 1, "per_page": 2, "count": 2, "total_count": 3,
            "total_pages": 2})
        status, env = self.api("GET", "/accounts?per_page=2&page=2")
        self.assertEqual([a["id"] for a in env["result"]], [THIRD])
        self.assertEqual(env["result_info"]["count"], 1)
        self.assertEqual(self.ok("GET", "/accounts?page=9&per_page=2"), [])
        accs = self.ok("GET", "/accounts", token="acct-tok")
        self.assertEqual([a["id"] for a in accs], [ACCT])
        self.assertEqual(self.ok("GET", "/accounts/%s" % ACCT)["name"],
                         "Acme")

    def test_memberships(self):
        res = self.ok("GET", "/memberships", token="other-tok")
        self.assertEqual([m["account"]["id"] for m in res], [OTHER])
        self.fails("GET", "/memberships", 403, 9106, token="acct-tok")

    def test_fake_bug_is_a_500_not_a_reset(self):
        import fake_cf as module
        saved = module.ROUTES[:]
        self.addCleanup(module.ROUTES.__setitem__, slice(None), saved)
        module.ROUTES[:] = [("GET", "accounts", lambda req: 1 / 0)]
        with open(os.devnull, "w") as null:
            err, sys.stderr = sys.stderr, null
            try:
                self.fails("GET", "/accounts", 500, 10013)
            finally:
                sys.stderr = err

    def test_routing_errors(self):
        self.fails("GET", "/nothing/here", 404, 7003)
        self.fails("DELETE", "/accounts", 405, 10003)


class WorkerTests(FakeTestCase):
    """Scripts, settings, secrets and the never-create rule."""

    def test_scripts_list(self):
        names = [s["id"] for s in self.ok(
            "GET", "/accounts/%s/workers/scripts" % ACCT)]
        self.assertEqual(names, ["auth", "pay", "draft", "busy"])
        self.assertEqual(self.ok("GET", "/accounts/%s/workers/scripts" %
                                 OTHER), [])

    def test_unknown_worker_is_10007_and_never_created(self):
        for method, tail, body in (
                ("GET", "/settings", None), ("GET", "/secrets", None),
                ("PUT", "/secrets", {"name": "K", "text": "v",
                                     "type": "secret_text"}),
                ("DELETE", "/secrets/K", None),
                ("GET", "/versions", None), ("GET", "/deployments", None)):
            env = self.fails(method, self.script_path("typo", tail), 404,
                             10007, body)
            self.assertIn("does not exist", env["errors"][0]["message"])
        self.bulk("typo", {"K": "v"}, 404, 10007)
        self.fails("PATCH", "/accounts/%s/workers/workers/typo/versions/"
                   "latest" % ACCT, 404, 10007, {"env": {}}, ctype=MERGE)
        self.assertNotIn("typo", self.fake.state()["accounts"][0]["scripts"])

    def test_settings_bindings_never_hold_secret_values(self):
        status, _, data = self.raw("GET", "/client/v4" +
                                   self.script_path("pay", "/settings"))
        self.assertEqual(status, 200)
        self.assertNotIn(CANARY.encode(), data)
        binds = {b["name"]: b for b in json.loads(data)["result"]["bindings"]}
        self.assertEqual(binds["STRIPE_SECRET_KEY"],
                         {"name": "STRIPE_SECRET_KEY", "type": "secret_text"})
        self.assertEqual(binds["AUTH"], {"name": "AUTH", "type": "service",
                                         "service": "auth"})
        self.assertEqual(binds["DB"], {"name": "DB", "type": "d1",
                                       "database_id": DB})
        self.assertEqual(binds["MODE"], {"name": "MODE",
                                         "type": "plain_text",
                                         "text": "live"})

    def test_script_code_and_subdomains(self):
        status, hdrs, data = self.raw("GET", "/client/v4" +
                                      self.script_path("pay"))
        self.assertEqual(status, 200)
        self.assertIn("javascript", hdrs["Content-Type"])
        self.assertEqual(self.ok("GET", self.script_path("pay",
                                                         "/subdomain")),
                         {"enabled": True, "previews_enabled": True})
        self.assertEqual(self.ok("GET", "/accounts/%s/workers/subdomain" %
                                 OTHER), {"subdomain": "other"})
        self.assertEqual(self.ok("GET", "/accounts/%s/workers/subdomain" %
                                 ACCT), {"subdomain": "acme"})

    def test_put_secret_makes_one_deployed_version(self):
        before = self.deployed("auth")
        res = self.ok("PUT", self.script_path("auth", "/secrets"),
                      {"name": "NEW", "text": "v1", "type": "secret_text"})
        self.assertEqual(res, {"name": "NEW", "type": "secret_text"})
        after = self.deployed("auth")
        self.assertEqual(len(after["versions"]), len(before["versions"]) + 1)
        self.assertEqual(len(after["deployments"]),
                         len(before["deployments"]) + 1)
        self.assertEqual(after["deployed_version"], after["latest_version"])
        self.assertEqual(after["deployed_secrets"]["NEW"], "v1")
        names = [s["name"] for s in self.ok(
            "GET", self.script_path("auth", "/secrets"))]
        self.assertEqual(names, ["INTERNAL_TOKEN", "NEW"])
        self.fails("PUT", self.script_path("auth", "/secrets"), 400, 10001,
                   {"name": "X", "text": 5, "type": "secret_text"})
        self.fails("PUT", self.script_path("auth", "/secrets"), 400, 10001,
                   {"name": "X", "text": "x" * 5121, "type": "secret_text"})
        env = self.fails("PUT", self.script_path("auth", "/secrets"), 400,
                         10001, b'{"name": "X", "text": \x00"' +
                         CANARY.encode() + b'"}')
        self.assertIn("not JSON", env["errors"][0]["message"])
        self.assertNotIn(CANARY, env["errors"][0]["message"])

    def test_delete_secret_url_encoded(self):
        self.ok("PUT", self.script_path("auth", "/secrets"),
                {"name": "A/B C", "text": "v", "type": "secret_text"})
        quoted = urllib.parse.quote("A/B C", safe="")
        self.ok("GET", self.script_path("auth", "/secrets/" + quoted))
        self.assertIsNone(self.ok("DELETE", self.script_path(
            "auth", "/secrets/%s?url_encoded=true" % quoted)))
        self.assertNotIn("A/B C", self.deployed("auth")["deployed_secrets"])
        self.fails("DELETE", self.script_path("auth", "/secrets/" + quoted),
                   404, 10002)

    def test_bulk_merge_patch(self):
        n = len(self.deployed("pay")["versions"])
        res = self.bulk("pay", {"NEW": "n1", "STRIPE_SECRET_KEY": "sk_2",
                                "CREEM_WEBHOOK_SECRET": None,
                                "NEVER_THERE": None})
        names = [s["name"] for s in res]
        self.assertIn("NEW", names)
        self.assertNotIn("CREEM_WEBHOOK_SECRET", names)
        st = self.deployed("pay")
        self.assertEqual(len(st["versions"]), n + 1)
        self.assertEqual(st["deployed_version"], st["latest_version"])
        self.assertEqual(st["deployments"][-1]["versions"][0]["percentage"],
                         100)
        self.assertEqual(st["deployed_secrets"]["STRIPE_SECRET_KEY"], "sk_2")
        self.assertEqual(st["deployed_secrets"]["INTERNAL_TOKEN"], "it-1")
        self.assertEqual(st["versions"][-1]["vars"], {"MODE": "live"})

    def test_bulk_requires_merge_patch_content_type(self):
        body = {"secrets": {"K": {"name": "K", "text": "v",
                                  "type": "secret_text"}}}
        self.fails("PATCH", self.script_path("pay", "/secrets-bulk"), 415,
                   10001, body)
        self.assertNotIn("K", self.deployed("pay")["deployed_secrets"])
        self.ok("PATCH", self.script_path("pay", "/secrets-bulk"), body,
                ctype=MERGE + "; charset=utf-8")

    def test_bulk_entry_name_must_match_key(self):
        self.fails("PATCH", self.script_path("pay", "/secrets-bulk"), 400,
                   10001, {"secrets": {"A": {"name": "B", "text": "v",
                                             "type": "secret_text"}}},
                   ctype=MERGE)
        self.assertNotIn("A", self.deployed("pay")["deployed_secrets"])

    def test_bulk_over_100_keys_is_100160(self):
        n = len(self.deployed("auth")["versions"])
        self.bulk("auth", {"K%03d" % i: "v" for i in range(101)}, 400,
                  100160)
        self.assertEqual(len(self.deployed("auth")["versions"]), n)
        self.bulk("auth", {"K%03d" % i: "v" for i in range(100)})
        self.assertEqual(len(self.deployed("auth")["deployed_secrets"]), 101)

    def test_variable_limit_and_empty_bulk(self):
        self.bulk("auth", {"K%03d" % i: "v" for i in range(100)})
        self.bulk("auth", {"L%03d" % i: "v" for i in range(27)})
        n = len(self.deployed("auth")["versions"])
        self.bulk("auth", {"ONE_TOO_MANY": "v"}, 400, 10001)
        self.bulk("auth", {"ONE_TOO_MANY": "v", "K000": None})
        self.assertEqual(len(self.deployed("auth")["deployed_secrets"]), 128)
        self.bulk("auth", {})
        self.assertEqual(len(self.deployed("auth")["versions"]), n + 2)

    def test_first_secret_on_draft_worker_makes_first_version(self):
        self.assertIsNone(self.deployed("draft")["deployed_version"])
        self.bulk("draft", {"K": "v"})
        st = self.deployed("draft")
        self.assertEqual(len(st["versions"]), 1)
        self.assertEqual(st["deployed_secrets"], {"K": "v"})


class VersionTests(FakeTestCase):
    """Staged versions, 10215, 10222, deployments and overrides."""

    def latest_path(self, name):
        return "/accounts/%s/workers/workers/%s/versions/latest" % (
            ACCT, name)

    def stage(self, name, env, **kw):
        return self.ok("PATCH", self.latest_path(name),
                       {"env": env, "annotations": {
                           "workers/message": "tiervault"}}, ctype=MERGE,
                       **kw)

    def test_versions_latest_is_not_deployed(self):
        old = self.deployed("pay")["deployed_version"]
        res = self.stage("pay", {
            "STRIPE_SECRET_KEY": {"type": "secret_text", "text": "sk_new"},
            "CREEM_WEBHOOK_SECRET": None,
            "MODE": {"type": "plain_text", "text": "test"}})
        st = self.deployed("pay")
        self.assertEqual(st["deployed_version"], old)
        self.assertEqual(st["latest_version"], res["id"])
        self.assertEqual(res["annotations"]["workers/message"], "tiervault")
        binds = {b["name"]: b for b in res["resources"]["bindings"]}
        self.assertNotIn("CREEM_WEBHOOK_SECRET", binds)
        self.assertEqual(binds["MODE"]["text"], "test")
        self.assertNotIn("text", binds["STRIPE_SECRET_KEY"])
        items = self.ok("GET", self.script_path("pay", "/versions"))["items"]
        self.assertEqual(items[0]["id"], res["id"])
        self.assertEqual(items[1]["id"], old)
        self.assertGreater(items[0]["number"], items[1]["number"])
        one = self.ok("GET", self.script_path("pay", "/versions/" + old))
        self.assertEqual(one["id"], old)
        self.assertIn("bindings", one["resources"])
        self.fails("GET", self.script_path("pay", "/versions/nope"), 404,
                   10002)

    def test_versions_latest_builds_on_latest_version(self):
        self.stage("pay", {"STAGED": {"type": "secret_text", "text": "s"}})
        res = self.stage("pay", {"MORE": {"type": "secret_text",
                                          "text": "m"}})
        names = {b["name"] for b in res["resources"]["bindings"]}
        self.assertTrue({"STAGED", "MORE"} <= names)
        self.assertNotIn("STAGED", self.deployed("pay")["deployed_secrets"])

    def test_versions_latest_without_version_is_10222(self):
        self.fails("PATCH", self.latest_path("draft"), 404, 10222,
                   {"env": {}}, ctype=MERGE)
        self.fails("PATCH", self.latest_path("pay"), 415, 10001,
                   {"env": {}})

    def test_secret_edits_refused_while_staged_10215(self):
        path = self.script_path("busy", "/secrets")
        self.fails("PUT", path, 400, 10215,
                   {"name": "A", "text": "2", "type": "secret_text"})
        self.fails("DELETE", path + "/A", 400, 10215)
        self.bulk("busy", {"A": "2"}, 400, 10215)
        self.assertEqual(self.deployed("busy")["deployed_secrets"],
                         {"A": "1"})
        latest = self.deployed("busy")["latest_version"]
        self.ok("POST", self.script_path("busy", "/deployments"),
                {"strategy": "percentage",
                 "versions": [{"version_id": latest, "percentage": 100}]})
        self.bulk("busy", {"A": "2"})
        self.assertEqual(self.deployed("busy")["deployed_secrets"],
                         {"A": "2"})

    def test_deployment_validation(self):
        old = self.deployed("pay")["deployed_version"]
        new = self.stage("pay", {})["id"]
        path = self.script_path("pay", "/deployments")
        for versions in ([{"version_id": new, "percentage": 90}],
                         [{"version_id": new, "percentage": 50},
                          {"version_id": old, "percentage": 40}],
                         [{"version_id": "nope", "percentage": 100}],
                         [{"version_id": new, "percentage": 50},
                          {"version_id": new, "percentage": 50}], []):
            status, env = self.api("POST", path, {"strategy": "percentage",
                                                  "versions": versions})
            self.assertEqual(status, 400, versions)
            self.assertFalse(env["success"])
        self.fails("POST", path, 400, 10001, {
            "strategy": "immediate",
            "versions": [{"version_id": new, "percentage": 100}]})
        self.assertEqual(self.deployed("pay")["deployed_version"], old)

    def test_rollback_reaches_ten_versions(self):
        first = self.deployed("auth")["deployed_version"]
        for i in range(10):
            self.bulk("auth", {"N": str(i)})
        path = self.script_path("auth", "/deployments")
        self.fails("POST", path, 400, 10001, {
            "strategy": "percentage",
            "versions": [{"version_id": first, "percentage": 100}]})
        second = self.deployed("auth")["versions"][1]["id"]
        self.ok("POST", path, {"strategy": "percentage", "versions": [
            {"version_id": second, "percentage": 100}]})
        self.assertEqual(self.deployed("auth")["deployed_version"], second)

    def test_data_plane_version_override(self):
        old = self.deployed("pay")["deployed_version"]
        new = self.stage("pay", {"STRIPE_SECRET_KEY": {
            "type": "secret_text", "text": "pk_wrong"}})["id"]
        hdr = {"Cloudflare-Workers-Version-Overrides": 'pay="%s"' % new}
        status, _, _ = self.data("/pay/health", headers=hdr)
        self.assertEqual(status, 200, "not in the deployment: ignored")
        self.ok("POST", self.script_path("pay", "/deployments"), {
            "strategy": "percentage", "versions": [
                {"version_id": old, "percentage": 100},
                {"version_id": new, "percentage": 0}]})
        deps = self.ok("GET", self.script_path("pay", "/deployments"))
        self.assertEqual(deps["deployments"][0]["versions"][1],
                         {"version_id": new, "percentage": 0})
        status, hdrs, body = self.data("/pay/health")
        self.assertEqual((status, hdrs["X-Fake-Version-Id"]), (200, old))
        status, hdrs, body = self.data("/pay/health", headers=hdr)
        self.assertEqual((status, hdrs["X-Fake-Version-Id"]), (500, new))
        self.assertEqual(body["failed"], [{"name": "STRIPE_SECRET_KEY",
                                           "check": "prefix"}])
        both = {"Cloudflare-Workers-Version-Overrides":
                'auth="%s", pay="%s"' % (old, new)}
        self.assertEqual(self.data("/pay/health", headers=both)[0], 500)
        other = {"Cloudflare-Workers-Version-Overrides": 'auth="%s"' % new}
        self.assertEqual(self.data("/pay/health", headers=other)[0], 200)
        self.bulk("pay", {"X": "y"}, 400, 10215)


class DataPlaneTests(FakeTestCase):
    """Health checks and webhook signatures from the deployed secrets."""

    def test_health_checks(self):
        status, _, body = self.data("/pay/health")
        self.assertEqual((status, body), (200, {"ok": True}))
        self.bulk("auth", {"INTERNAL_TOKEN": "it-2"})
        status, _, body = self.data("/pay/health")
        self.assertEqual(status, 500)
        self.assertEqual(body["failed"], [{"name": "INTERNAL_TOKEN",
                                           "check": "same_as"}])
        self.bulk("pay", {"INTERNAL_TOKEN": "it-2",
                          "STRIPE_SECRET_KEY": "rk_" + CANARY})
        status, hdrs, raw = self.raw("GET", "/w/pay/health", token=None)
        self.assertEqual(status, 500)
        self.assertIn(b"STRIPE_SECRET_KEY (prefix)", raw)
        self.assertNotIn(CANARY.encode(), raw)
        self.bulk("auth", {"INTERNAL_TOKEN": None})
        status, _, body = self.data("/auth/health")
        self.assertEqual(body["failed"], [{"name": "INTERNAL_TOKEN",
                                           "check": "missing"}])

    def test_equals_delay_and_flaky_health(self):
        self.fake.edit([{"op": "set_behaviour", "script": "auth",
                         "behaviour": {"health": [{"name": "INTERNAL_TOKEN",
                                                   "equals": "it-9"}],
                                       "health_fail_first": 1,
                                       "health_delay_ms": 200}}])
        t0 = time.monotonic()
        self.assertEqual(self.data("/auth/health")[2]["error"],
                         "not ready yet")
        self.assertGreaterEqual(time.monotonic() - t0, 0.2)
        self.assertEqual(self.data("/auth/health")[2]["failed"][0]["check"],
                         "equals")
        self.bulk("auth", {"INTERNAL_TOKEN": "it-9"})
        self.assertEqual(self.data("/auth/health")[0], 200)

    def test_unknown_script_route_and_no_deployment(self):
        self.assertEqual(self.data("/nope/health")[0], 404)
        self.assertEqual(self.data("/draft/health")[0], 404)
        self.assertEqual(self.data("/pay/other")[0], 404)
        self.assertEqual(self.data("/pay/health", method="POST",
                                   body=b"{}")[0], 405)
        self.assertEqual(self.data("/auth/webhooks/stripe", method="POST",
                                   body=b"{}")[0], 404)
        self.assertEqual(self.data("/pay/")[2], {"script": "pay"})

    def test_host_header_routing(self):
        status, _, data = self.raw("GET", "/health", token=None, headers={
            "Host": "pay.acme.workers.dev"})
        self.assertEqual((status, json.loads(data)), (200, {"ok": True}))
        for host in ("pay.other.workers.dev", "pay.abcd.workers.dev",
                     "pay.acme.workers.dev.example"):
            status, _, _ = self.raw("GET", "/health", token=None,
                                    headers={"Host": host})
            self.assertEqual(status, 404, host)

    def stripe(self, header, body=b'{"type": "ping"}'):
        return self.data("/pay/webhooks/stripe", "POST", body,
                         {"Stripe-Signature": header})[0]

    def test_stripe_webhook_signatures(self):
        body = b'{"type": "checkout.session.completed"}'
        good = stripe_signature("whsec_abc", body)
        self.assertEqual(self.stripe(good, body), 200)
        t = int(time.time())
        mac = hmac.new(b"whsec_abc", b"%d." % t + body,
                       hashlib.sha256).hexdigest()
        self.assertEqual(self.stripe("t=%d,v1=%s" % (t, mac), body), 200)
        self.assertEqual(self.stripe("t=%d,v1=%s,v1=%s" % (t, "0" * 64, mac),
                                     body), 200)
        self.assertEqual(self.stripe("t=%d,v1=%s,v1=%s" % (t, mac, "0" * 64),
                                     body), 200)
        self.assertEqual(self.stripe("t=soon,v1=%s" % mac, body), 400)
        self.assertEqual(self.stripe("t=%d" % t, body), 400)
        self.assertEqual(self.stripe(stripe_signature("abc", body), body),
                         400, "key without the whsec_ prefix")
        self.assertEqual(self.stripe(stripe_signature("whsec_abd", body),
                                     body), 400)
        self.assertEqual(self.stripe(good, body + b" "), 400)
        old = stripe_signature("whsec_abc", body, time.time() - 301)
        self.assertEqual(self.stripe(old, body), 400)
        self.assertEqual(self.stripe("v1=" + mac, body), 400)
        self.assertEqual(self.data("/pay/webhooks/stripe", "POST", body)[0],
                         400)
        self.assertEqual(self.stripe(stripe_signature("whsec_abc", b"no"),
                                     b"no"), 400)

    def test_creem_webhook_signatures(self):
        body = b'{"eventType": "checkout.completed"}'
        mac = hmac.new(b"creem_xyz", body, hashlib.sha256).hexdigest()
        self.assertEqual(creem_signature("creem_xyz", body), mac)
        path = "/pay/webhooks/creem"
        self.assertEqual(self.data(path, "POST", body,
                                   {"creem-signature": mac})[0], 200)
        self.assertEqual(self.data(path, "POST", body, {
            "creem-signature": creem_signature("creem_xyy", body)})[0], 400)
        self.assertEqual(self.data(path, "POST", body)[0], 400)

    def test_webhook_without_secret_is_500(self):
        self.bulk("pay", {"STRIPE_WEBHOOK_SECRET": None})
        body = b"{}"
        status = self.stripe(stripe_signature("whsec_abc", body), body)
        self.assertEqual(status, 500)


class D1Tests(FakeTestCase):
    """The D1 query endpoint and the d1-write record."""

    def query(self, sql, params=None, db=DB):
        return self.api("POST", "/accounts/%s/d1/database/%s/query" %
                        (ACCT, db), {"sql": sql, "params": params or []})

    def test_select_applied_migrations(self):
        status, env = self.query("SELECT name FROM d1_migrations "
                                 "ORDER BY id")
        self.assertEqual(status, 200)
        self.assertEqual(env["result"][0]["results"],
                         [{"name": "0001_init.sql"}, {"name": "0002_b.sql"}])
        self.assertTrue(env["result"][0]["success"])
        status, env = self.query("SELECT name FROM d1_migrations WHERE "
                                 "name IN (?, ?)", ["0002_b.sql", "x.sql"])
        self.assertEqual(env["result"][0]["results"],
                         [{"name": "0002_b.sql"}])
        status, env = self.query("SELECT COUNT(*) AS n FROM d1_migrations")
        self.assertEqual(env["result"][0]["results"], [{"n": 2}])
        status, env = self.query("SELECT name FROM sqlite_master WHERE "
                                 "type = 'table' AND name = ?1",
                                 ["d1_migrations"])
        self.assertEqual(len(env["result"][0]["results"]), 1)
        log = self.fake.requests()
        self.assertFalse(any(e["write"] or e["d1_write"] for e in log))
        self.assertEqual(log[0]["d1_verbs"], ["SELECT"])

    def test_missing_table_is_sql_error(self):
        status, env = self.query("SELECT name FROM d1_migrations", db=NODB)
        self.assertEqual(status, 400)
        self.assertFalse(env["success"])
        self.assertEqual(env["errors"][0]["code"], 7500)
        self.assertIn("no such table: d1_migrations",
                      env["errors"][0]["message"])
        status, env = self.query("SELECT name FROM sqlite_master", db=NODB)
        self.assertEqual(env["result"][0]["results"], [])
        self.fails("POST", "/accounts/%s/d1/database/nope/query" % ACCT,
                   404, 7404, {"sql": "SELECT 1"})
        self.assertEqual(self.query("SELEKT 1")[0], 400)

    def test_writes_are_recorded_and_executed(self):
        status, env = self.query(
            "CREATE TABLE IF NOT EXISTS d1_migrations(id INTEGER PRIMARY "
            "KEY AUTOINCREMENT, name TEXT UNIQUE, applied_at TIMESTAMP "
            "DEFAULT CURRENT_TIMESTAMP NOT NULL); SELECT name FROM "
            "d1_migrations", db=NODB)
        self.assertEqual(status, 200, env)
        self.assertEqual(env["result"][1]["results"], [])
        status, env = self.query("INSERT INTO d1_migrations (name) VALUES "
                                 "(?)", ["0001_init.sql"], db=NODB)
        self.assertEqual(status, 200, env)
        status, env = self.query("INSERT INTO d1_migrations (name) VALUES "
                                 "('0001_init.sql')", db=NODB)
        self.assertEqual(env["errors"][0]["code"], 7500)
        log = [e for e in self.fake.requests() if e["op"] == "d1_query"]
        self.assertEqual([e["d1_write"] for e in log], [True, True, True])
        self.assertTrue(all(e["write"] for e in log))
        self.assertEqual(log[0]["d1_verbs"], ["CREATE", "SELECT"])
        dbs = {d["uuid"]: d for d in self.fake.state()["accounts"][0]["d1"]}
        self.assertEqual(dbs[NODB]["applied"], ["0001_init.sql"])
        self.assertTrue(dbs[NODB]["migrations_table_exists"])

    def test_unknown_column_on_empty_table(self):
        self.query("DROP TABLE d1_migrations")
        self.query("CREATE TABLE d1_migrations (id INTEGER)")
        status, env = self.query("SELECT nme FROM d1_migrations")
        self.assertEqual((status, env["errors"][0]["code"]), (400, 7500))
        self.assertIn("no such column: nme", env["errors"][0]["message"])
        status, env = self.query("SELECT name FROM d1_migrations WHERE "
                                 "nme = 1")
        self.assertEqual(status, 400)

    def test_failed_batch_changes_nothing(self):
        status, env = self.query("INSERT INTO d1_migrations (name) VALUES "
                                 "('0003_c.sql'); SELECT nope FROM missing")
        self.assertEqual(status, 400)
        status, env = self.query("SELECT name FROM d1_migrations")
        self.assertEqual(len(env["result"][0]["results"]), 2)


class FaultTests(FakeTestCase):
    """Fault injection, latency, the request log and keep-alive."""

    def test_500_then_success(self):
        self.fake.add_faults([{"method": "GET", "path_regex": "/accounts$",
                               "kind": "500", "count": 2}])
        self.fails("GET", "/accounts", 500, 10013)
        self.fails("GET", "/accounts", 500, 10013)
        self.ok("GET", "/accounts")
        self.ok("GET", "/user/tokens/verify")
        log = self.fake.requests()
        self.assertEqual([e["fault"] for e in log], ["500", "500", None,
                                                     None])

    def test_429_with_retry_after(self):
        status, hdrs, data = None, None, None
        self.fake.add_faults([{"kind": "429", "retry_after": 7}])
        status, hdrs, data = self.raw("GET", "/client/v4/accounts")
        self.assertEqual(status, 429)
        self.assertEqual(hdrs["Retry-After"], "7")
        self.assertFalse(json.loads(data)["success"])
        self.ok("GET", "/accounts")

    def test_reset_sends_no_answer_and_changes_nothing(self):
        self.fake.add_faults([{"method": "PATCH", "kind": "reset",
                               "path_regex": "/secrets-bulk$"}])
        self.fails("GET", self.script_path("auth", "/secrets-bulk"), 405,
                   10003)
        n = len(self.deployed("auth")["versions"])
        # A keep-alive client (as libcurl is) must see the connection go,
        # not wait for an answer.
        conn = http.client.HTTPConnection("127.0.0.1", self.fake.port,
                                          timeout=5)
        self.addCleanup(conn.close)
        t0 = time.monotonic()
        conn.request("PATCH", "/client/v4" + self.script_path(
            "auth", "/secrets-bulk"), body=b'{"secrets": {}}', headers={
                "Authorization": "Bearer tok", "Content-Type": MERGE})
        with self.assertRaises(ConnectionError):
            conn.getresponse()
        self.assertLess(time.monotonic() - t0, 2, "closed, not timed out")
        self.assertEqual(len(self.deployed("auth")["versions"]), n)
        self.bulk("auth", {"K": "v"})
        self.assertEqual(len(self.deployed("auth")["versions"]), n + 1)
        log = self.fake.requests()
        self.assertEqual((log[0]["fault"], log[1]["status"], log[1]["fault"],
                          log[1]["write"]), (None, 0, "reset", True))

    def test_lost_answer_is_applied(self):
        self.fake.add_faults([{"method": "PUT", "kind": "lost"}])
        t0 = time.monotonic()
        with self.assertRaises((OSError, http.client.HTTPException)):
            self.ok("PUT", self.script_path("auth", "/secrets"),
                    {"name": "K", "text": "v", "type": "secret_text"})
        self.assertLess(time.monotonic() - t0, 2, "closed, not timed out")
        self.assertEqual(self.deployed("auth")["deployed_secrets"]["K"], "v")

    def test_html_and_challenge_pages(self):
        self.fake.add_faults([{"kind": "html"}, {"kind": "challenge"}])
        status, hdrs, data = self.raw("GET", "/client/v4/accounts")
        self.assertEqual(status, 200)
        self.assertTrue(hdrs["Content-Type"].startswith("text/html"))
        self.assertIn(b"<html>", data)
        status, hdrs, data = self.raw("GET", "/client/v4/accounts")
        self.assertEqual((status, hdrs["cf-mitigated"]), (403, "challenge"))
        self.ok("GET", "/accounts")

    def test_slow_answer_is_applied(self):
        self.fake.add_faults([{"kind": "slow", "delay_ms": 300}])
        t0 = time.monotonic()
        self.ok("PUT", self.script_path("auth", "/secrets"),
                {"name": "K", "text": "v", "type": "secret_text"})
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        self.assertEqual(self.deployed("auth")["deployed_secrets"]["K"], "v")

    def test_faults_over_http_and_from_scenario(self):
        status, _, data = self.raw("POST", "/_fake/faults", [
            {"kind": "503", "path_regex": "/memberships"}], token=None)
        self.assertEqual(json.loads(data)["faults"][0]["count"], 1)
        self.fails("GET", "/memberships", 503, 10013)
        self.assertEqual(self.raw("POST", "/_fake/faults", [{"kind": "x"}],
                                  token=None)[0], 400)
        sc = scenario()
        sc["faults"] = [{"kind": "500", "method": "GET"}]
        self.fake.replace(sc)
        self.fails("GET", "/accounts", 500, 10013)
        self.ok("GET", "/accounts")
        self.fake.add_faults([{"kind": "500"}])
        self.raw("DELETE", "/_fake/faults", token=None)
        self.ok("GET", "/accounts")

    def test_faults_do_not_touch_the_data_plane(self):
        self.fake.add_faults([{"kind": "500", "count": 5}])
        self.assertEqual(self.data("/pay/health")[0], 200)

    def test_data_plane_faults(self):
        self.fake.add_faults([
            {"kind": "reset", "plane": "data", "path_regex": "/health$"},
            {"kind": "503", "plane": "data", "path_regex": "/health$"},
            {"kind": "html", "plane": "data", "method": "POST"}])
        self.ok("GET", "/accounts")
        with self.assertRaises((OSError, http.client.HTTPException)):
            self.data("/pay/health")
        status, _, _ = self.raw("GET", "/w/pay/health", token=None)
        self.assertEqual(status, 503)
        status, hdrs, _ = self.raw("POST", "/w/pay/webhooks/stripe",
                                   body=b"{}", token=None)
        self.assertTrue(hdrs["Content-Type"].startswith("text/html"))
        self.assertEqual(self.data("/pay/health")[0], 200)
        log = self.fake.requests()
        self.assertEqual([e["fault"] for e in log],
                         [None, "reset", "503", "html", None])
        self.assertEqual(log[1]["status"], 0)
        self.assertEqual(self.raw("POST", "/_fake/faults", [
            {"kind": "500", "plane": "dat"}], token=None)[0], 400)

    def test_latency_on_api_only(self):
        status, _, _ = self.raw("POST", "/_fake/latency", {"ms": 150},
                                token=None)
        self.assertEqual(status, 200)
        t0 = time.monotonic()
        self.ok("GET", "/accounts")
        self.assertGreaterEqual(time.monotonic() - t0, 0.15)
        t0 = time.monotonic()
        self.data("/pay/health")
        self.assertLess(time.monotonic() - t0, 0.15)
        self.fake.set_latency(0)

    def test_latency_does_not_serialize_requests(self):
        self.fake.set_latency(300)
        threads = [threading.Thread(target=self.ok, args=("GET",
                                                          "/accounts"))
                   for _ in range(8)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertLess(time.monotonic() - t0, 1.5)
        self.assertEqual(len(self.fake.requests()), 8)

    def test_request_log(self):
        self.ok("GET", "/user/tokens/verify")
        self.bulk("pay", {"STRIPE_SECRET_KEY": "sk_" + CANARY})
        self.data("/pay/health")
        status, _, data = self.raw("GET", "/_fake/requests", token=None)
        self.assertNotIn(CANARY.encode(), data)
        log = json.loads(data)
        self.assertEqual(log["writes"], 1)
        verify, bulk, health = log["requests"]
        self.assertEqual((verify["write"], verify["op"]),
                         (False, "user_verify"))
        self.assertEqual((bulk["method"], bulk["write"], bulk["script"],
                          bulk["account"], bulk["secret_names"]),
                         ("PATCH", True, "pay", ACCT, ["STRIPE_SECRET_KEY"]))
        self.assertEqual(bulk["version_id"],
                         self.deployed("pay")["deployed_version"])
        self.assertEqual((health["plane"], health["write"], health["status"],
                          health["path"]), ("data", False, 200,
                                            "/w/pay/health"))
        self.assertEqual(self.raw("GET", "/_fake/requests?since=x",
                                  token=None)[0], 400)
        self.assertLessEqual(verify["time"], bulk["time"])
        self.assertEqual((verify["authorization"], health["authorization"]),
                         (True, False))
        self.assertTrue(verify["user_agent"].startswith("Python-urllib/"))
        since = json.loads(self.raw("GET", "/_fake/requests?since=2",
                                    token=None)[2])
        self.assertEqual([e["seq"] for e in since["requests"]], [3])
        self.raw("POST", "/_fake/reset-log", token=None)
        self.assertEqual(self.fake.requests(), [])
        self.fails("GET", self.script_path("typo", "/settings"), 404, 10007)
        self.assertEqual(self.fake.requests()[0]["error_code"], 10007)

    def test_chunked_request_body(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.fake.port,
                                          timeout=10)
        self.addCleanup(conn.close)
        body = json.dumps({"name": "K", "text": "chunky",
                           "type": "secret_text"}).encode()
        conn.request("PUT", "/client/v4" + self.script_path("auth",
                                                            "/secrets"),
                     body=iter([body[:7], body[7:]]), encode_chunked=True,
                     headers={"Authorization": "Bearer tok",
                              "Content-Type": "application/json"})
        r = conn.getresponse()
        self.assertEqual(r.status, 200, r.read())
        r.read()
        self.assertEqual(self.deployed("auth")["deployed_secrets"]["K"],
                         "chunky")

    def test_pending_and_wait(self):
        self.fake.add_faults([{"kind": "slow", "delay_ms": 600,
                               "method": "PUT"}])
        done = threading.Event()

        def put():
            self.ok("PUT", self.script_path("auth", "/secrets"),
                    {"name": "K", "text": "v", "type": "secret_text"})
            done.set()

        t = threading.Thread(target=put)
        t.start()
        self.addCleanup(t.join)
        self.assertTrue(self.fake.wait(lambda f: f.pending(), 5))
        status, _, data = self.raw("GET", "/_fake/pending", token=None)
        self.assertEqual(json.loads(data)["pending"][0]["method"], "PUT")
        self.assertEqual(self.fake.writes(), [])
        self.assertFalse(done.is_set())
        self.assertTrue(self.fake.wait(lambda f: len(f.writes()) == 1, 5))
        self.assertEqual(self.fake.pending(), [])
        self.assertFalse(self.fake.wait(lambda f: len(f.writes()) == 2,
                                        0.2))

    def test_keep_alive_and_content_length(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.fake.port,
                                          timeout=10)
        self.addCleanup(conn.close)
        socks = []
        for path in ("/client/v4/accounts", "/w/pay/health",
                     "/client/v4/nothing"):
            conn.request("GET", path, headers={"Authorization":
                                               "Bearer tok"})
            r = conn.getresponse()
            self.assertEqual(r.version, 11)
            self.assertIsNotNone(r.getheader("Content-Length"))
            self.assertEqual(len(r.read()), int(r.getheader(
                "Content-Length")))
            socks.append(conn.sock)
        self.assertIs(socks[0], socks[1])
        self.assertIs(socks[1], socks[2])

    def test_data_plane_during_scenario_edits(self):
        stop = threading.Event()
        statuses = []

        def probe():
            conn = http.client.HTTPConnection("127.0.0.1", self.fake.port,
                                              timeout=10)
            while not stop.is_set():
                conn.request("GET", "/health",
                             headers={"Host": "pay.acme.workers.dev"})
                r = conn.getresponse()
                r.read()
                statuses.append(r.status)
            conn.close()

        threads = [threading.Thread(target=probe) for _ in range(4)]
        for th in threads:
            th.start()
        try:
            for i in range(300):
                self.fake.edit([{"op": "add_script",
                                 "spec": {"name": "tmp%d" % i}}])
                self.fake.edit([{"op": "delete_script",
                                 "script": "tmp%d" % i}])
        finally:
            stop.set()
            for th in threads:
                th.join()
        self.assertGreater(len(statuses), 10)
        self.assertEqual(set(statuses), {200})

    def test_concurrent_writes_are_consistent(self):
        errors = []

        def push(i):
            try:
                self.bulk("auth", {"K%d" % i: "v"})
            except AssertionError as e:
                errors.append(e)

        threads = [threading.Thread(target=push, args=(i,))
                   for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        st = self.deployed("auth")
        self.assertEqual(len(st["versions"]), 21)
        self.assertEqual(len(st["deployed_secrets"]), 21)


class ControlTests(FakeTestCase):
    """Scenario validation, edits and state."""

    def edit(self, edits):
        status, _, data = self.raw("POST", "/_fake/scenario",
                                   {"edits": edits}, token=None)
        return status, json.loads(data)

    def test_edits(self):
        self.assertEqual(self.edit([{"op": "delete_script",
                                     "script": "auth"}])[0], 200)
        self.fails("GET", self.script_path("auth", "/settings"), 404, 10007)
        self.edit([{"op": "set_d1", "uuid": DB, "applied":
                    ["0001_init.sql"]},
                   {"op": "add_script", "spec": {"name": "auth"}},
                   {"op": "set_secrets", "script": "busy",
                    "secrets": {"A": "9"}}])
        self.assertEqual(self.deployed("busy")["deployed_secrets"],
                         {"A": "9"})
        self.ok("GET", self.script_path("auth", "/settings"))
        st = self.fake.state()["accounts"][0]
        self.assertEqual(st["d1"][0]["applied"], ["0001_init.sql"])
        self.edit([{"op": "stage_version", "script": "auth"}])
        self.bulk("auth", {"A": "1"}, 400, 10215)
        self.edit([{"op": "set_bindings", "script": "pay", "bindings": []}])
        binds = self.ok("GET", self.script_path("pay", "/settings"))
        self.assertNotIn("service", [b["type"] for b in binds["bindings"]])
        self.edit([{"op": "set_token", "spec": {"token": "tok",
                                                "status": "disabled"}}])
        self.assertEqual(self.ok("GET", "/user/tokens/verify")["status"],
                         "disabled")
        self.edit([{"op": "delete_token", "token": "tok"}])
        self.fails("GET", "/user/tokens/verify", 401, 10000)

    def test_failed_edits_change_nothing(self):
        status, body = self.edit([{"op": "delete_script", "script": "auth"},
                                  {"op": "delete_script", "script": "nope"}])
        self.assertEqual(status, 400)
        self.assertIn("edits[1]", body["error"])
        self.ok("GET", self.script_path("auth", "/settings"))
        self.assertEqual(self.edit([{"op": "explode"}])[0], 400)

    def test_replace_scenario(self):
        status, _, _ = self.raw("POST", "/_fake/scenario", {"scenario": {
            "tokens": [{"token": "t2"}]}}, token=None)
        self.assertEqual(status, 200)
        self.fails("GET", "/accounts", 401, 10000)
        self.assertEqual(self.ok("GET", "/accounts", token="t2")[0]["id"],
                         ACCT)

    def test_scenario_validation(self):
        bad = [
            ({"acounts": []}, "unknown key 'acounts'"),
            ({"accounts": [{"id": "xyz"}]}, "accounts[0].id"),
            ({"accounts": [{"id": ACCT, "scripts": [
                {"name": "a", "behaviour": {"helth": []}}]}]},
             "scripts[0].behaviour: unknown key 'helth'"),
            ({"tokens": [{"token": "t", "kind": "account",
                          "accounts": [ACCT, OTHER]}]}, "exactly one"),
            ({"faults": [{"kind": "boom"}]}, "faults[0].kind"),
            ({"accounts": [{"id": ACCT, "d1": [
                {"uuid": DB, "migrations_table_exists": False,
                 "applied": ["a.sql"]}]}]}, "applied"),
        ]
        for sc, msg in bad:
            with self.assertRaises(ScenarioError) as cm:
                FakeCloudflare(sc)
            self.assertIn(msg, str(cm.exception))

    def test_readme_scenario_is_valid(self):
        with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
            text = f.read()
        block = text.split("```json\n", 1)[1].split("```", 1)[0]
        with FakeCloudflare(json.loads(block)) as fake:
            url = fake.url + "/w/node9-payment-service/health"
            with self.assertRaises(urllib.error.HTTPError) as cm:
                urllib.request.urlopen(url, timeout=10)
            with cm.exception as e:
                self.assertEqual(e.code, 500)
                body = json.loads(e.read())
            self.assertEqual(len(fake.state()["faults"]), 1)
        self.assertEqual(body["failed"], [{"name": "INTERNAL_TOKEN",
                                           "check": "same_as"}],
                         "the README's Worker binds a missing auth Worker")

    def test_state_and_example_scenario(self):
        status, _, data = self.raw("GET", "/_fake/state", token=None)
        st = json.loads(data)
        pay = st["accounts"][0]["scripts"]["pay"]
        self.assertEqual(pay["deployed_secrets"]["INTERNAL_TOKEN"], "it-1")
        self.assertEqual(pay["versions"][0]["id"], pay["deployed_version"])
        with FakeCloudflare(os.path.join(HERE, "example-scenario.json")) as f:
            scripts = f.state()["accounts"][0]["scripts"]
            self.assertEqual(len(scripts), 10)
        self.assertEqual(self.raw("GET", "/_fake/ping", token=None)[0], 200)
        self.assertEqual(self.raw("GET", "/_fake/nope", token=None)[0], 404)


class CommandLineTests(unittest.TestCase):
    """The fake as a program: port file, listening line, signals."""

    def test_port_file_and_listening_line(self):
        tmp = tempfile.mkdtemp(prefix="fake_cf-")
        path = os.path.join(tmp, "scenario.json")
        with open(path, "w") as f:
            json.dump(scenario(), f)
        port_file = os.path.join(tmp, "port")
        proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "fake_cf.py"), "--scenario",
             path, "--port-file", port_file, "--latency-ms", "100"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(proc.wait, 10)
        self.addCleanup(proc.kill)
        line = proc.stdout.readline().strip()
        with open(port_file) as f:
            port = int(f.read())
        self.assertEqual(line, "listening on http://127.0.0.1:%d" % port)
        self.assertEqual(sorted(os.listdir(tmp)), ["port", "scenario.json"])
        req = urllib.request.Request(
            "http://127.0.0.1:%d/client/v4/user/tokens/verify" % port,
            headers={"Authorization": "Bearer tok"})
        t0 = time.monotonic()
        with urllib.request.urlopen(req, timeout=10) as r:
            self.assertTrue(json.loads(r.read())["success"])
        self.assertGreaterEqual(time.monotonic() - t0, 0.1)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)
        proc.stdout.close()
        proc.stderr.close()

    def test_client_gone_is_silent(self):
        proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "fake_cf.py")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.addCleanup(proc.wait, 10)
        self.addCleanup(proc.kill)
        port = int(proc.stdout.readline().rsplit(":", 1)[1])
        rule = json.dumps([{"kind": "slow", "delay_ms": 300}]).encode()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/_fake/faults", body=rule)
        conn.getresponse().read()
        conn.request("GET", "/client/v4/accounts", headers={
            "Authorization": "Bearer fake-cf-token"})
        conn.close()
        time.sleep(0.6)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)
        self.assertEqual(proc.stderr.read(), "")
        proc.stdout.close()
        proc.stderr.close()

    def test_bad_scenario_exits_2(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            json.dump({"tokens": [{"kind": "user"}]}, f)
            f.flush()
            p = subprocess.run([sys.executable,
                                os.path.join(HERE, "fake_cf.py"),
                                "--scenario", f.name],
                               capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2)
        self.assertIn("scenario.tokens[0]: missing key 'token'", p.stderr)


if __name__ == "__main__":
    unittest.main()
