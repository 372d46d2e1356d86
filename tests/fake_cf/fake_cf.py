#!/usr/bin/env python3
"""A fake Cloudflare API for tiervault's agent tests and benchmark.

One HTTP server on 127.0.0.1 serves three things on one port:

- the API under /client/v4/... (tokens, accounts, Workers scripts,
  secrets, versions, deployments, workers.dev subdomain, D1 queries),
- the data plane under /w/<script>/... (the "deployed Workers": health
  and webhook routes answered from the secrets of the deployed version),
- a control API under /_fake/... (fault injection, latency, request log,
  full state, scenario edits).

The whole interface is documented in README.md next to this file.  Run it
as a program (--scenario FILE.json) or import FakeCloudflare and start it
in a background thread.  Python standard library only.
"""

import argparse
import copy
import hashlib
import hmac
import http.server
import json
import os
import re
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid

API_PREFIX = "/client/v4"
DATA_PREFIX = "/w/"
CONTROL_PREFIX = "/_fake/"

DEFAULT_ACCOUNT = "0123456789abcdef0123456789abcdef"
DEFAULT_TOKEN = "fake-cf-token"
DEFAULT_SUBDOMAIN = "acme"
STRIPE_TOLERANCE_S = 300
MAX_BULK_KEYS = 100
ROLLBACK_DEPTH = 10
MAX_BODY = 8 * 1024 * 1024

# Error codes.  The first group comes from Cloudflare's documented
# behaviour; the second group is the fake's own choice (the real codes are
# unconfirmed): clients should key off `success` and the HTTP status there.
E_INVALID_TOKEN = 1000
E_AUTH = 10000
E_NO_WORKER = 10007
E_NOT_LATEST = 10215
E_NO_VERSION = 10222
E_BULK_LIMIT = 100160
E_MEMBERSHIPS = 9106
E_NO_ROUTE = 7003
E_D1_SQL = 7500
E_D1_NOT_FOUND = 7404
E_RATE_LIMIT = 971
E_BAD_REQUEST = 10001
E_NOT_FOUND = 10002
E_METHOD = 10003
E_INTERNAL = 10013

WRITE_METHODS = ("PUT", "PATCH", "POST", "DELETE")
FAULT_KINDS = ("500", "502", "503", "429", "reset", "lost", "slow", "html",
               "challenge")
HEX32 = re.compile(r"^[0-9a-f]{32}$")


class ScenarioError(ValueError):
    """A scenario that does not follow the documented format."""


class ApiError(Exception):
    """An API failure: HTTP status, Cloudflare error code and message."""

    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class SqlError(Exception):
    """An SQL error from the fake D1 engine (reported as code 7500)."""


def now_iso(t=None):
    """An RFC 3339 UTC timestamp with microseconds, as Cloudflare sends."""
    t = time.time() if t is None else t
    frac = "%06d" % int((t % 1) * 1e6)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + \
        "." + frac + "Z"


def stripe_signature(secret, body, t=None):
    """The Stripe-Signature header value for body (bytes) signed now."""
    t = int(time.time()) if t is None else int(t)
    mac = hmac.new(secret.encode(), b"%d." % t + body, hashlib.sha256)
    return "t=%d,v1=%s" % (t, mac.hexdigest())


def creem_signature(secret, body):
    """The creem-signature header value for body (bytes)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- scenario

def _check_keys(obj, where, allowed, required=()):
    if not isinstance(obj, dict):
        raise ScenarioError("%s: must be an object" % where)
    for key in obj:
        if key not in allowed:
            raise ScenarioError("%s: unknown key '%s'" % (where, key))
    for key in required:
        if key not in obj:
            raise ScenarioError("%s: missing key '%s'" % (where, key))


def _want(value, kind, where):
    if kind is int and isinstance(value, bool):
        raise ScenarioError("%s: must be an integer" % where)
    if not isinstance(value, kind):
        raise ScenarioError("%s: must be %s" % (where, {
            str: "a string", int: "an integer", bool: "true or false",
            list: "a list", dict: "an object"}.get(kind, str(kind))))
    return value


def _str_map(obj, where):
    _want(obj, dict, where)
    for key, value in obj.items():
        _want(value, str, "%s.%s" % (where, key))
    return dict(obj)


def _check_fault(rule, where):
    _check_keys(rule, where, ("method", "path_regex", "kind", "count",
                              "retry_after", "delay_ms", "plane"), ("kind",))
    if rule["kind"] not in FAULT_KINDS:
        raise ScenarioError("%s.kind: one of %s" % (where,
                                                    ", ".join(FAULT_KINDS)))
    out = {"method": None, "path_regex": None, "kind": rule["kind"],
           "count": 1, "retry_after": 1, "delay_ms": 1000,
           "plane": rule.get("plane", "api")}
    if out["plane"] not in ("api", "data"):
        raise ScenarioError(where + ".plane: 'api' or 'data'")
    for key in ("method", "path_regex"):
        if rule.get(key) is not None:
            out[key] = _want(rule[key], str, "%s.%s" % (where, key))
    if out["method"]:
        out["method"] = out["method"].upper()
    for key in ("count", "retry_after", "delay_ms"):
        if key in rule:
            out[key] = _want(rule[key], int, "%s.%s" % (where, key))
            if out[key] < 0:
                raise ScenarioError("%s.%s: must not be negative" %
                                    (where, key))
    if out["path_regex"] is not None:
        try:
            re.compile(out["path_regex"])
        except re.error as e:
            raise ScenarioError("%s.path_regex: %s" % (where, e))
    return out


def _check_behaviour(beh, where):
    _check_keys(beh, where, ("health", "stripe_webhook", "creem_webhook",
                             "health_delay_ms", "health_fail_first"))
    out = {"health": [], "stripe_webhook": None, "creem_webhook": None,
           "health_delay_ms": 0, "health_fail_first": 0}
    for i, check in enumerate(_want(beh.get("health", []), list,
                                    where + ".health")):
        cw = "%s.health[%d]" % (where, i)
        if isinstance(check, str):
            check = {"name": check}
        _check_keys(check, cw, ("name", "equals", "prefix", "same_as"),
                    ("name",))
        for key in check:
            _want(check[key], str, "%s.%s" % (cw, key))
        out["health"].append(dict(check))
    for key in ("stripe_webhook", "creem_webhook"):
        if beh.get(key) is not None:
            out[key] = _want(beh[key], str, "%s.%s" % (where, key))
    for key in ("health_delay_ms", "health_fail_first"):
        if key in beh:
            out[key] = _want(beh[key], int, "%s.%s" % (where, key))
    return out


def _check_script(spec, where):
    _check_keys(spec, where, ("name", "secrets", "vars", "bindings", "d1",
                              "has_version", "staged", "behaviour",
                              "workers_dev"), ("name",))
    name = _want(spec["name"], str, where + ".name")
    if not name:
        raise ScenarioError(where + ".name: must not be empty")
    out = {"name": name,
           "secrets": _str_map(spec.get("secrets", {}), where + ".secrets"),
           "vars": _str_map(spec.get("vars", {}), where + ".vars"),
           "services": [], "d1": [],
           "has_version": _want(spec.get("has_version", True), bool,
                                where + ".has_version"),
           "staged": _want(spec.get("staged", False), bool,
                           where + ".staged"),
           "workers_dev": _want(spec.get("workers_dev", True), bool,
                                where + ".workers_dev"),
           "behaviour": _check_behaviour(spec.get("behaviour", {}),
                                         where + ".behaviour")}
    for i, b in enumerate(_want(spec.get("bindings", []), list,
                                where + ".bindings")):
        bw = "%s.bindings[%d]" % (where, i)
        _check_keys(b, bw, ("name", "service", "environment", "entrypoint"),
                    ("name", "service"))
        for key in b:
            _want(b[key], str, "%s.%s" % (bw, key))
        out["services"].append(dict(b))
    for i, b in enumerate(_want(spec.get("d1", []), list, where + ".d1")):
        bw = "%s.d1[%d]" % (where, i)
        _check_keys(b, bw, ("name", "database_id"), ("name", "database_id"))
        for key in b:
            _want(b[key], str, "%s.%s" % (bw, key))
        out["d1"].append(dict(b))
    if out["staged"] and not out["has_version"]:
        raise ScenarioError(where + ".staged: needs has_version")
    return out


def _check_database(spec, where):
    _check_keys(spec, where, ("uuid", "name", "migrations_table",
                              "migrations_table_exists", "applied"),
                ("uuid",))
    db = {"uuid": _want(spec["uuid"], str, where + ".uuid"),
          "name": _want(spec.get("name", "db"), str, where + ".name"),
          "migrations_table": _want(spec.get("migrations_table",
                                             "d1_migrations"), str,
                                    where + ".migrations_table"),
          "migrations_table_exists": _want(
              spec.get("migrations_table_exists", True), bool,
              where + ".migrations_table_exists"),
          "applied": []}
    for i, name in enumerate(_want(spec.get("applied", []), list,
                                   where + ".applied")):
        db["applied"].append(_want(name, str, "%s.applied[%d]" % (where, i)))
    if db["applied"] and not db["migrations_table_exists"]:
        raise ScenarioError(where + ".applied: the table does not exist")
    return db


def load_scenario(obj):
    """Validates a scenario (a dict) and returns it with defaults filled in.

    Raises ScenarioError naming the JSON path of the first problem.
    """
    _check_keys(obj, "scenario", ("tokens", "accounts", "subdomain",
                                  "faults", "latency_ms", "comment"))
    sc = {"subdomain": _want(obj.get("subdomain", DEFAULT_SUBDOMAIN), str,
                             "scenario.subdomain"),
          "latency_ms": _want(obj.get("latency_ms", 0), int,
                              "scenario.latency_ms"),
          "accounts": [], "tokens": [], "faults": []}
    accounts = obj.get("accounts", [{"id": DEFAULT_ACCOUNT}])
    for i, acc in enumerate(_want(accounts, list, "scenario.accounts")):
        aw = "scenario.accounts[%d]" % i
        _check_keys(acc, aw, ("id", "name", "subdomain", "scripts", "d1"),
                    ("id",))
        aid = _want(acc["id"], str, aw + ".id")
        if not HEX32.match(aid):
            raise ScenarioError(aw + ".id: must be 32 lowercase hex digits")
        if any(a["id"] == aid for a in sc["accounts"]):
            raise ScenarioError(aw + ".id: duplicate account")
        a = {"id": aid,
             "name": _want(acc.get("name", "Account %d" % (i + 1)), str,
                           aw + ".name"),
             "subdomain": _want(acc.get("subdomain", sc["subdomain"]), str,
                                aw + ".subdomain"),
             "scripts": [], "d1": []}
        for j, s in enumerate(_want(acc.get("scripts", []), list,
                                    aw + ".scripts")):
            s = _check_script(s, "%s.scripts[%d]" % (aw, j))
            if any(x["name"] == s["name"] for x in a["scripts"]):
                raise ScenarioError("%s.scripts[%d].name: duplicate" %
                                    (aw, j))
            a["scripts"].append(s)
        for j, d in enumerate(_want(acc.get("d1", []), list, aw + ".d1")):
            a["d1"].append(_check_database(d, "%s.d1[%d]" % (aw, j)))
        sc["accounts"].append(a)
    ids = [a["id"] for a in sc["accounts"]]
    tokens = obj.get("tokens", [{"token": DEFAULT_TOKEN}])
    for i, tok in enumerate(_want(tokens, list, "scenario.tokens")):
        sc["tokens"].append(_check_token(tok, "scenario.tokens[%d]" % i,
                                         ids))
    for i, rule in enumerate(_want(obj.get("faults", []), list,
                                   "scenario.faults")):
        sc["faults"].append(_check_fault(rule, "scenario.faults[%d]" % i))
    return sc


def _check_token(tok, where, account_ids):
    _check_keys(tok, where, ("token", "id", "kind", "status", "accounts"),
                ("token",))
    t = {"token": _want(tok["token"], str, where + ".token"),
         "id": _want(tok.get("id", uuid.uuid4().hex), str, where + ".id"),
         "kind": _want(tok.get("kind", "user"), str, where + ".kind"),
         "status": _want(tok.get("status", "active"), str,
                         where + ".status")}
    if t["kind"] not in ("user", "account"):
        raise ScenarioError(where + ".kind: 'user' or 'account'")
    if t["status"] not in ("active", "disabled", "expired"):
        raise ScenarioError(where + ".status: 'active', 'disabled' or "
                            "'expired'")
    default = account_ids if t["kind"] == "user" else account_ids[:1]
    accs = _want(tok.get("accounts", default), list, where + ".accounts")
    for j, a in enumerate(accs):
        _want(a, str, "%s.accounts[%d]" % (where, j))
    if t["kind"] == "account" and len(accs) != 1:
        raise ScenarioError(where + ".accounts: an account token belongs "
                            "to exactly one account")
    t["accounts"] = list(accs)
    return t


# ------------------------------------------------------------------- state

class Script:
    """One Worker: its versions (oldest first) and deployments (oldest
    first), plus the data-plane behaviour from the scenario."""

    def __init__(self, spec, account_id):
        self.name = spec["name"]
        self.account_id = account_id
        self.created_on = now_iso()
        self.behaviour = copy.deepcopy(spec["behaviour"])
        self.workers_dev = spec["workers_dev"]
        self.base = {"secrets": dict(spec["secrets"]),
                     "vars": dict(spec["vars"]),
                     "services": copy.deepcopy(spec["services"]),
                     "d1": copy.deepcopy(spec["d1"])}
        self.versions = []
        self.deployments = []
        self.health_calls = 0
        if spec["has_version"]:
            v = self.new_version(self.base, "upload")
            self.deploy([(v["id"], 100)], "upload")
            if spec["staged"]:
                self.new_version(v, "version_upload")

    def new_version(self, resources, triggered_by, annotations=None):
        """Adds a version holding a copy of resources; returns it."""
        ts = now_iso()
        ann = {"workers/triggered_by": triggered_by}
        ann.update(annotations or {})
        v = {"id": str(uuid.uuid4()), "number": len(self.versions) + 1,
             "created_on": ts, "annotations": ann,
             "secrets": dict(resources["secrets"]),
             "vars": dict(resources["vars"]),
             "services": copy.deepcopy(resources["services"]),
             "d1": copy.deepcopy(resources["d1"])}
        self.versions.append(v)
        return v

    def deploy(self, pairs, triggered_by, annotations=None):
        """Adds a deployment of [(version_id, percentage)]; returns it."""
        ann = {"workers/triggered_by": triggered_by}
        ann.update(annotations or {})
        d = {"id": str(uuid.uuid4()), "created_on": now_iso(),
             "source": "api", "strategy": "percentage",
             "author_email": "fake@example.com", "annotations": ann,
             "versions": [{"version_id": vid, "percentage": pct}
                          for vid, pct in pairs]}
        self.deployments.append(d)
        return d

    def version(self, vid):
        for v in self.versions:
            if v["id"] == vid:
                return v
        return None

    def latest(self):
        return self.versions[-1] if self.versions else None

    def current_deployment(self):
        return self.deployments[-1] if self.deployments else None

    def deployed(self):
        """The version with the highest percentage in the latest
        deployment (the first listed on a tie), or None."""
        d = self.current_deployment()
        if d is None:
            return None
        best = max(d["versions"], key=lambda e: e["percentage"])
        return self.version(best["version_id"])

    def resources(self):
        """What settings and secrets report: the deployed version, or the
        scenario's bindings (without secrets) for a Worker without one."""
        v = self.deployed()
        if v is not None:
            return v
        return dict(self.base, secrets={})

    def edit_allowed(self):
        """True when the latest deployment is the latest version at 100%
        (a secret edit is refused with 10215 otherwise)."""
        d = self.current_deployment()
        if d is None:
            return True
        return (len(d["versions"]) == 1 and
                d["versions"][0]["percentage"] == 100 and
                d["versions"][0]["version_id"] == self.latest()["id"])

    def edit_secrets(self, changes, force=False):
        """Applies {name: value|None} as one new version deployed at 100%.

        A Worker without a version gets its first one.  Unless force, the
        edit is refused with 10215 while a newer version is not deployed.
        Returns the new version.
        """
        if self.versions and not force and not self.edit_allowed():
            raise ApiError(400, E_NOT_LATEST,
                           "Secret edit failed. You attempted to modify a "
                           "secret, but the latest version of your Worker "
                           "isn't currently deployed.")
        base = self.deployed() or dict(self.base, secrets={})
        v = self.new_version(base, "secret")
        for name, value in changes.items():
            if value is None:
                v["secrets"].pop(name, None)
            else:
                v["secrets"][name] = value
        self.deploy([(v["id"], 100)], "secret")
        return v


def bindings_of(res):
    """The settings-style bindings list of a version or resources dict:
    secrets by name only, never a value."""
    out = []
    for name in sorted(res["secrets"]):
        out.append({"name": name, "type": "secret_text"})
    for name in sorted(res["vars"]):
        out.append({"name": name, "type": "plain_text",
                    "text": res["vars"][name]})
    for b in res["services"]:
        item = {"name": b["name"], "type": "service",
                "service": b["service"]}
        for key in ("environment", "entrypoint"):
            if key in b:
                item[key] = b[key]
        out.append(item)
    for b in res["d1"]:
        out.append({"name": b["name"], "type": "d1",
                    "database_id": b["database_id"]})
    return out


def version_item(v):
    """A version as the versions list shows it."""
    return {"id": v["id"], "number": v["number"],
            "metadata": {"created_on": v["created_on"],
                         "modified_on": v["created_on"],
                         "source": "api",
                         "author_email": "fake@example.com",
                         "author_id": "fake"},
            "annotations": dict(v["annotations"])}


class World:
    """The whole mutable state of the fake, guarded by one lock."""

    def __init__(self, scenario):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.log = []
        self.pending = {}
        self.seq = 0
        self.apply(scenario)

    def apply(self, scenario):
        """Replaces the state with a validated scenario."""
        sc = load_scenario(scenario)
        with self.lock:
            self.subdomain = sc["subdomain"]
            self.latency_ms = sc["latency_ms"]
            self.tokens = {t["token"]: t for t in sc["tokens"]}
            self.faults = sc["faults"]
            self.accounts = {}
            for a in sc["accounts"]:
                acc = {"id": a["id"], "name": a["name"],
                       "subdomain": a["subdomain"], "scripts": {},
                       "d1": {d["uuid"]: d for d in a["d1"]}}
                for s in a["scripts"]:
                    acc["scripts"][s["name"]] = Script(s, a["id"])
                self.accounts[a["id"]] = acc

    def find_script(self, name):
        """The script called name in the first account holding one."""
        for acc in self.accounts.values():
            if name in acc["scripts"]:
                return acc["scripts"][name]
        return None

    def find_host_script(self, host):
        """The script a <script>.<subdomain>.workers.dev Host names."""
        host = host.split(":")[0].lower()
        suffix = ".workers.dev"
        if not host.endswith(suffix):
            return None
        for acc in self.accounts.values():
            tail = "." + acc["subdomain"].lower() + suffix
            if host.endswith(tail):
                name = host[:-len(tail)]
                for sname, s in acc["scripts"].items():
                    if sname.lower() == name:
                        return s
        return None

    def snapshot(self):
        """The full state as JSON-ready data, secret values included."""
        accounts = []
        for acc in self.accounts.values():
            scripts = {}
            for name, s in acc["scripts"].items():
                dep = s.deployed()
                latest = s.latest()
                scripts[name] = {
                    "versions": copy.deepcopy(s.versions),
                    "deployments": copy.deepcopy(s.deployments),
                    "deployed_version": dep["id"] if dep else None,
                    "latest_version": latest["id"] if latest else None,
                    "deployed_secrets": dict(dep["secrets"]) if dep else {},
                    "behaviour": copy.deepcopy(s.behaviour),
                    "health_calls": s.health_calls}
            accounts.append({"id": acc["id"], "name": acc["name"],
                             "subdomain": acc["subdomain"],
                             "scripts": scripts,
                             "d1": copy.deepcopy(list(acc["d1"].values()))})
        return {"accounts": accounts,
                "tokens": copy.deepcopy(list(self.tokens.values())),
                "faults": copy.deepcopy(self.faults),
                "latency_ms": self.latency_ms}

    def take_fault(self, method, path, plane="api"):
        """Consumes and returns the first fault rule matching, or None."""
        for rule in self.faults:
            if rule["count"] <= 0 or rule["plane"] != plane:
                continue
            if rule["method"] and rule["method"] != method:
                continue
            if rule["path_regex"] and not re.search(rule["path_regex"],
                                                    path):
                continue
            rule["count"] -= 1
            return dict(rule)
        return None

    def arrive(self, method, path):
        """Notes an API request as in flight; returns its key."""
        key = object()
        with self.lock:
            self.pending[key] = {"method": method, "path": path,
                                 "since": round(time.time(), 6)}
            self.changed.notify_all()
        return key

    def record(self, entry, key=None):
        """Adds a log entry (and ends the in-flight request key)."""
        with self.lock:
            self.pending.pop(key, None)
            self.seq += 1
            entry["seq"] = self.seq
            self.log.append(entry)
            self.changed.notify_all()


# ---------------------------------------------------------------------- D1

_SQL_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>'(?:[^']|'')*')
    | (?P<qid>"(?:[^"]|"")*"|`[^`]*`|\[[^\]]*\])
    | (?P<param>\?\d*)
    | (?P<num>\d+)
    | (?P<id>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op><>|!=|[(),*=;.])
    )""", re.VERBOSE)


def sql_tokens(sql):
    """Splits SQL into (kind, text) tokens; raises SqlError on junk."""
    out, pos = [], 0
    sql = sql.rstrip()
    while pos < len(sql):
        m = _SQL_TOKEN.match(sql, pos)
        if not m or m.end() == pos:
            raise SqlError('near "%s": syntax error' % sql[pos:pos + 10])
        kind = m.lastgroup
        text = m.group(kind)
        if kind == "str":
            text = text[1:-1].replace("''", "'")
        elif kind == "qid":
            kind, text = "id", text[1:-1]
        out.append((kind, text))
        pos = m.end()
    return out


def sql_statements(sql):
    """Splits SQL into lists of tokens, one list per statement."""
    stmts, cur = [], []
    for tok in sql_tokens(sql):
        if tok == ("op", ";"):
            if cur:
                stmts.append(cur)
            cur = []
        else:
            cur.append(tok)
    if cur:
        stmts.append(cur)
    return stmts


class _Cursor:
    """Walks a token list of one statement."""

    def __init__(self, toks, params):
        self.toks = toks
        self.i = 0
        self.params = params
        self.next_param = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def kw(self, *words):
        kind, text = self.peek()
        if kind == "id" and text.upper() in words:
            self.i += 1
            return text.upper()
        return None

    def expect_kw(self, word):
        if not self.kw(word):
            raise SqlError('near "%s": syntax error' % (self.peek()[1] or
                                                        "end"))

    def op(self, sym):
        if self.peek() == ("op", sym):
            self.i += 1
            return True
        return False

    def ident(self):
        kind, text = self.peek()
        if kind != "id":
            raise SqlError('near "%s": syntax error' % (text or "end"))
        self.i += 1
        return text

    def value(self):
        kind, text = self.peek()
        self.i += 1
        if kind == "str":
            return text
        if kind == "num":
            return int(text)
        if kind == "param":
            if len(text) > 1:
                idx = int(text[1:]) - 1
            else:
                idx = self.next_param
                self.next_param += 1
            if idx < 0 or idx >= len(self.params):
                raise SqlError("wrong number of bindings")
            return self.params[idx]
        if kind == "id" and text.upper() == "NULL":
            return None
        raise SqlError('near "%s": syntax error' % (text or "end"))

    def done(self):
        return self.i >= len(self.toks)


MIGRATION_COLUMNS = ("id", "name", "applied_at")
SCHEMA_COLUMNS = ("type", "name", "tbl_name", "rootpage", "sql")


def _table_columns(db, table):
    """The column names of a table the fake D1 knows, or SqlError."""
    if table.lower() in ("sqlite_master", "sqlite_schema"):
        return SCHEMA_COLUMNS
    _table_rows(db, table)
    return MIGRATION_COLUMNS


def _table_rows(db, table):
    """Rows of a table the fake D1 knows, or SqlError."""
    mt = db["migrations_table"]
    low = table.lower()
    if low in ("sqlite_master", "sqlite_schema"):
        if not db["migrations_table_exists"]:
            return []
        return [{"type": "table", "name": mt, "tbl_name": mt,
                 "rootpage": 2,
                 "sql": "CREATE TABLE %s(id INTEGER PRIMARY KEY "
                        "AUTOINCREMENT, name TEXT UNIQUE, applied_at "
                        "TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL)" % mt}]
    if low == mt.lower() and db["migrations_table_exists"]:
        return [{"id": i + 1, "name": name,
                 "applied_at": "2026-01-01 00:00:00"}
                for i, name in enumerate(db["applied"])]
    raise SqlError("no such table: %s: SQLITE_ERROR" % table)


def _sql_select(cur, db):
    cols = []
    while True:
        if cur.op("*"):
            col = {"kind": "*", "src": None, "alias": None}
        elif cur.kw("COUNT"):
            if not (cur.op("(") and cur.op("*") and cur.op(")")):
                raise SqlError("only COUNT(*) is supported")
            col = {"kind": "count", "src": None, "alias": "COUNT(*)"}
        else:
            name = cur.ident()
            col = {"kind": "col", "src": name, "alias": name}
        if col["kind"] != "*" and cur.kw("AS"):
            col["alias"] = cur.ident()
        cols.append(col)
        if not cur.op(","):
            break
    cur.expect_kw("FROM")
    table = cur.ident()
    rows = _table_rows(db, table)
    columns = _table_columns(db, table)
    conds = []
    if cur.kw("WHERE"):
        while True:
            col = cur.ident()
            if cur.op("="):
                conds.append((col, [cur.value()]))
            elif cur.kw("IN"):
                if not cur.op("("):
                    raise SqlError("syntax error after IN")
                vals = [cur.value()]
                while cur.op(","):
                    vals.append(cur.value())
                if not cur.op(")"):
                    raise SqlError("syntax error in IN list")
                conds.append((col, vals))
            else:
                raise SqlError("only = and IN are supported in WHERE")
            if not cur.kw("AND"):
                break
    for c in cols:
        if c["kind"] == "col" and c["src"] not in columns:
            raise SqlError("no such column: %s" % c["src"])
    for col, vals in conds:
        if col not in columns:
            raise SqlError("no such column: %s" % col)
        rows = [r for r in rows if r.get(col) in vals]
    if cur.kw("ORDER"):
        cur.expect_kw("BY")
        col = cur.ident()
        if col not in columns:
            raise SqlError("no such column: %s" % col)
        desc = cur.kw("ASC", "DESC") == "DESC"
        rows.sort(key=lambda r: (r.get(col) is None, r.get(col)),
                  reverse=desc)
    if cur.kw("LIMIT"):
        rows = rows[:int(cur.value())]
    if not cur.done():
        raise SqlError('near "%s": syntax error' % cur.peek()[1])
    return _project(rows, cols)


def _project(rows, cols):
    if any(c["kind"] == "count" for c in cols):
        return [{c["alias"]: len(rows) for c in cols}]
    out = []
    for r in rows:
        item = {}
        for c in cols:
            if c["kind"] == "*":
                item.update(r)
                continue
            item[c["alias"]] = r[c["src"]]
        out.append(item)
    return out


def _sql_write(cur, db, verb):
    """Executes the few writes the fake understands; returns changes."""
    mt = db["migrations_table"].lower()
    if verb == "CREATE":
        cur.expect_kw("TABLE")
        if_not = bool(cur.kw("IF"))
        if if_not:
            cur.expect_kw("NOT")
            cur.expect_kw("EXISTS")
        table = cur.ident()
        if table.lower() == mt:
            if db["migrations_table_exists"] and not if_not:
                raise SqlError("table %s already exists: SQLITE_ERROR" %
                               table)
            db["migrations_table_exists"] = True
        return 0
    if verb == "INSERT":
        cur.kw("OR")
        cur.kw("IGNORE", "REPLACE")
        cur.expect_kw("INTO")
        table = cur.ident()
        _table_rows(db, table)
        if table.lower() != mt:
            return 0
        names = []
        if cur.op("("):
            while not cur.op(")"):
                names.append(cur.ident().lower())
                cur.op(",")
        cur.expect_kw("VALUES")
        added = 0
        while cur.op("("):
            vals = [cur.value()]
            while cur.op(","):
                vals.append(cur.value())
            cur.op(")")
            row = dict(zip(names or ["id", "name", "applied_at"], vals))
            name = row.get("name")
            if not isinstance(name, str):
                raise SqlError("NOT NULL constraint failed: name")
            if name in db["applied"]:
                raise SqlError("UNIQUE constraint failed: %s.name: "
                               "SQLITE_CONSTRAINT" % table)
            db["applied"].append(name)
            added += 1
            cur.op(",")
        return added
    if verb == "DROP":
        cur.expect_kw("TABLE")
        if cur.kw("IF"):
            cur.expect_kw("EXISTS")
        elif not db["migrations_table_exists"]:
            raise SqlError("no such table: %s" % cur.peek()[1])
        if cur.ident().lower() == mt:
            db["migrations_table_exists"] = False
            db["applied"] = []
        return 0
    return 0


def run_sql(db, sql, params):
    """Runs sql against the fake database db (changed in place only when
    every statement succeeds).  Returns (results, verbs)."""
    work = copy.deepcopy(db)
    results, verbs = [], []
    for toks in sql_statements(sql):
        cur = _Cursor(toks, params)
        verb = cur.kw("SELECT", "CREATE", "INSERT", "UPDATE", "DELETE",
                      "DROP", "ALTER", "PRAGMA", "REPLACE", "WITH")
        if verb is None:
            raise SqlError('near "%s": syntax error' % toks[0][1])
        verbs.append(verb)
        t0 = time.perf_counter()
        if verb == "SELECT":
            rows, changes = _sql_select(cur, work), 0
        else:
            rows, changes = [], _sql_write(cur, work, verb)
        results.append({"results": rows, "success": True, "meta": {
            "changed_db": verb != "SELECT", "changes": changes,
            "duration": round((time.perf_counter() - t0) * 1000, 3),
            "last_row_id": len(work["applied"]),
            "rows_read": len(rows), "rows_written": changes,
            "size_after": 16384}})
    if not results:
        raise SqlError("no SQL statement given")
    db.update(work)
    return results, verbs


# --------------------------------------------------------------------- API

class Request:
    """One parsed API request, plus what the handlers note for the log."""

    def __init__(self, world, method, segs, query, headers, body):
        self.world = world
        self.method = method
        self.segs = segs
        self.query = query
        self.headers = headers
        self.body = body
        self.args = {}
        self.info = {}
        self.messages = []
        self.token = None

    def json(self):
        try:
            obj = json.loads(self.body.decode("utf-8"))
        except UnicodeDecodeError as e:
            raise ApiError(400, E_BAD_REQUEST, "request body is not UTF-8 "
                           "(byte %d)" % e.start)
        except json.JSONDecodeError as e:
            # The position only: the body may hold secret values.
            raise ApiError(400, E_BAD_REQUEST, "request body is not JSON: "
                           "%s at byte %d" % (e.msg, e.pos))
        return obj

    def json_object(self):
        obj = self.json()
        if not isinstance(obj, dict):
            raise ApiError(400, E_BAD_REQUEST, "request body must be a "
                           "JSON object")
        return obj

    def authenticate(self, active=True):
        """The token record of the Authorization header, or ApiError."""
        auth = self.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        tok = None
        if scheme.lower() == "bearer":
            tok = self.world.tokens.get(value.strip())
        if tok is None:
            raise ApiError(401, E_AUTH, "Authentication error")
        if active and tok["status"] != "active":
            raise ApiError(403, E_AUTH, "Authentication error")
        self.token = tok
        return tok

    def account(self):
        """The account of the {a} path argument, reachable by the token."""
        aid = self.args["a"]
        self.info["account"] = aid
        check_account_id(aid)
        tok = self.authenticate()
        acc = self.world.accounts.get(aid)
        if aid not in tok["accounts"] or acc is None:
            raise ApiError(403, E_AUTH, "Authentication error")
        return acc

    def script(self):
        """The Worker of the {s} path argument; never created."""
        acc = self.account()
        name = self.args["s"]
        self.info["script"] = name
        s = acc["scripts"].get(name)
        if s is None:
            raise ApiError(404, E_NO_WORKER,
                           "This Worker does not exist on your account.")
        return s


def check_account_id(aid):
    """Refuses an account id that is not 32 lowercase hex digits."""
    if not HEX32.match(aid):
        raise ApiError(404, E_NO_ROUTE, "Could not route to %s, perhaps "
                       "your object identifier is invalid?" % aid)


def _page(req, items):
    try:
        page = int(req.query.get("page", "1"))
        per_page = int(req.query.get("per_page", "20"))
    except ValueError:
        raise ApiError(400, E_BAD_REQUEST, "page and per_page must be "
                       "integers")
    page = max(page, 1)
    per_page = min(max(per_page, 1), 50)
    total = len(items)
    chunk = items[(page - 1) * per_page:page * per_page]
    info = {"page": page, "per_page": per_page, "count": len(chunk),
            "total_count": total,
            "total_pages": max(1, -(-total // per_page))}
    return 200, chunk, info


def _verify_result(req, tok):
    if tok["status"] == "active":
        req.messages.append({"code": E_AUTH, "message": "This API Token is "
                             "valid and active", "type": None})
    return 200, {"id": tok["id"], "status": tok["status"]}, None


def api_user_verify(req):
    tok = req.authenticate(active=False)
    if tok["kind"] != "user":
        raise ApiError(401, E_INVALID_TOKEN, "Invalid API Token")
    return _verify_result(req, tok)


def api_account_verify(req):
    aid = req.args["a"]
    req.info["account"] = aid
    check_account_id(aid)
    tok = req.authenticate(active=False)
    if tok["kind"] != "account":
        raise ApiError(401, E_INVALID_TOKEN, "Invalid API Token")
    if aid not in tok["accounts"]:
        raise ApiError(403, E_AUTH, "Authentication error")
    return _verify_result(req, tok)


def _account_item(acc):
    return {"id": acc["id"], "name": acc["name"], "type": "standard",
            "settings": {"enforce_twofactor": False},
            "created_on": "2025-01-01T00:00:00.000000Z"}


def api_accounts(req):
    tok = req.authenticate()
    items = [_account_item(acc) for aid, acc in req.world.accounts.items()
             if aid in tok["accounts"]]
    return _page(req, items)


def api_account(req):
    return 200, _account_item(req.account()), None


def api_memberships(req):
    tok = req.authenticate()
    if tok["kind"] == "account":
        raise ApiError(403, E_MEMBERSHIPS, "Account-owned tokens cannot "
                       "list memberships")
    items = [{"id": uuid.uuid5(uuid.NAMESPACE_OID, aid).hex,
              "status": "accepted", "roles": ["Administrator"],
              "account": {"id": aid, "name": acc["name"]}}
             for aid, acc in req.world.accounts.items()
             if aid in tok["accounts"]]
    return _page(req, items)


def api_scripts(req):
    acc = req.account()
    items = []
    for name, s in acc["scripts"].items():
        items.append({"id": name, "created_on": s.created_on,
                      "modified_on": s.created_on, "etag": uuid.uuid5(
                          uuid.NAMESPACE_OID, name).hex,
                      "handlers": ["fetch"], "has_modules": True,
                      "has_assets": False, "usage_model": "standard",
                      "compatibility_date": "2025-01-01"})
    return 200, items, None


def api_script_code(req):
    s = req.script()
    code = "export default { fetch() { return new Response(%s); } };\n" % \
        json.dumps(s.name)
    return 200, ("application/javascript", code.encode()), None


def api_settings(req):
    s = req.script()
    return 200, {"bindings": bindings_of(s.resources()),
                 "compatibility_date": "2025-01-01",
                 "compatibility_flags": [], "logpush": False,
                 "placement": {}, "tags": [], "tail_consumers": [],
                 "usage_model": "standard"}, None


def api_script_subdomain(req):
    s = req.script()
    return 200, {"enabled": s.workers_dev,
                 "previews_enabled": s.workers_dev}, None


def api_account_subdomain(req):
    acc = req.account()
    return 200, {"subdomain": acc["subdomain"]}, None


def api_list_secrets(req):
    s = req.script()
    return 200, [{"name": n, "type": "secret_text"}
                 for n in sorted(s.resources()["secrets"])], None


def api_get_secret(req):
    s = req.script()
    name = req.args["n"]
    if name not in s.resources()["secrets"]:
        raise ApiError(404, E_NOT_FOUND, "Secret not found")
    return 200, {"name": name, "type": "secret_text"}, None


def _secret_entry(name, entry, where):
    if not isinstance(entry, dict):
        raise ApiError(400, E_BAD_REQUEST, "%s: must be an object" % where)
    if entry.get("type", "secret_text") != "secret_text":
        raise ApiError(400, E_BAD_REQUEST, "%s: type must be secret_text" %
                       where)
    if entry.get("name", name) != name:
        raise ApiError(400, E_BAD_REQUEST, "%s: name does not match" % where)
    text = entry.get("text")
    if not isinstance(text, str):
        raise ApiError(400, E_BAD_REQUEST, "%s: text must be a string" %
                       where)
    if not isinstance(name, str) or not name:
        raise ApiError(400, E_BAD_REQUEST, "%s: name must be a non-empty "
                       "string" % where)
    if len(text.encode()) > 5120:
        raise ApiError(400, E_BAD_REQUEST, "%s: a secret is at most 5 KB" %
                       where)
    return text


def _check_count(res, changes):
    names = set(res["secrets"]) | set(res["vars"])
    for name, value in changes.items():
        if value is None:
            names.discard(name)
        else:
            names.add(name)
    if len(names) > 128:
        raise ApiError(400, E_BAD_REQUEST, "a Worker has at most 128 "
                       "variables")


def _edit(req, s, changes):
    req.info["secret_names"] = sorted(changes)
    _check_count(s.resources(), changes)
    v = s.edit_secrets(changes)
    req.info["version_id"] = v["id"]
    return v


def api_put_secret(req):
    s = req.script()
    body = req.json_object()
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise ApiError(400, E_BAD_REQUEST, "name must be a non-empty string")
    text = _secret_entry(name, body, "body")
    _edit(req, s, {name: text})
    return 200, {"name": name, "type": "secret_text"}, None


def api_delete_secret(req):
    s = req.script()
    name = req.args["n"]
    req.info["secret_names"] = [name]
    if name not in s.resources()["secrets"]:
        raise ApiError(404, E_NOT_FOUND, "Secret not found")
    _edit(req, s, {name: None})
    return 200, None, None


def _merge_patch_type(req):
    ctype = req.headers.get("Content-Type", "")
    if ctype.split(";")[0].strip().lower() != "application/merge-patch+json":
        raise ApiError(415, E_BAD_REQUEST, "Content-Type must be "
                       "application/merge-patch+json")


def api_bulk(req):
    s = req.script()
    _merge_patch_type(req)
    body = req.json_object()
    secrets = body.get("secrets")
    if not isinstance(secrets, dict):
        raise ApiError(400, E_BAD_REQUEST, "secrets must be an object")
    req.info["secret_names"] = sorted(secrets)
    if len(secrets) > MAX_BULK_KEYS:
        raise ApiError(400, E_BULK_LIMIT, "A request can change at most %d "
                       "secrets" % MAX_BULK_KEYS)
    changes = {}
    for name, entry in secrets.items():
        if entry is None:
            changes[name] = None
        else:
            changes[name] = _secret_entry(name, entry, "secrets." + name)
    v = _edit(req, s, changes)
    return 200, [{"name": n, "type": "secret_text"}
                 for n in sorted(v["secrets"])], None


def api_patch_latest(req):
    s = req.script()
    _merge_patch_type(req)
    body = req.json_object()
    env = body.get("env", {})
    ann = body.get("annotations", {})
    if not isinstance(env, dict) or not isinstance(ann, dict):
        raise ApiError(400, E_BAD_REQUEST, "env and annotations must be "
                       "objects")
    req.info["secret_names"] = sorted(env)
    latest = s.latest()
    if latest is None:
        raise ApiError(404, E_NO_VERSION, "This Worker has no version yet: "
                       "upload one first.")
    for key, value in ann.items():
        if not isinstance(value, str) or not key.startswith("workers/"):
            raise ApiError(400, E_BAD_REQUEST, "annotations: bad entry")
    new = copy.deepcopy(latest)
    for name, entry in env.items():
        new["secrets"].pop(name, None)
        new["vars"].pop(name, None)
        if entry is None:
            continue
        if not isinstance(entry, dict) or \
                entry.get("type") not in ("secret_text", "plain_text"):
            raise ApiError(400, E_BAD_REQUEST, "env.%s: type must be "
                           "secret_text or plain_text" % name)
        text = _secret_entry(name, dict(entry, type="secret_text"),
                             "env." + name)
        kind = "secrets" if entry["type"] == "secret_text" else "vars"
        new[kind][name] = text
    _check_count(new, {})
    v = s.new_version(new, "version_upload", ann)
    req.info["version_id"] = v["id"]
    return 200, dict(version_item(v), resources={
        "bindings": bindings_of(v)}), None


def api_versions(req):
    s = req.script()
    items = [version_item(v) for v in reversed(s.versions)]
    if "per_page" in req.query or "page" in req.query:
        status, chunk, info = _page(req, items)
        return status, {"items": chunk}, info
    return 200, {"items": items}, None


def api_version(req):
    s = req.script()
    v = s.version(req.args["v"])
    if v is None:
        raise ApiError(404, E_NOT_FOUND, "Version not found")
    return 200, dict(version_item(v), resources={
        "bindings": bindings_of(v),
        "script": {"etag": v["id"], "handlers": ["fetch"]}}), None


def api_deployments(req):
    s = req.script()
    return 200, {"deployments": copy.deepcopy(
        list(reversed(s.deployments)))}, None


def api_deploy(req):
    s = req.script()
    body = req.json_object()
    if body.get("strategy") != "percentage":
        raise ApiError(400, E_BAD_REQUEST, "strategy must be percentage")
    entries = body.get("versions")
    if not isinstance(entries, list) or not 1 <= len(entries) <= 2:
        raise ApiError(400, E_BAD_REQUEST, "versions: one or two entries")
    recent = [v["id"] for v in s.versions[-ROLLBACK_DEPTH:]]
    pairs = []
    for i, e in enumerate(entries):
        vid = e.get("version_id") if isinstance(e, dict) else None
        pct = e.get("percentage") if isinstance(e, dict) else None
        if s.version(vid) is None:
            raise ApiError(400, E_NOT_FOUND, "versions[%d]: no such "
                           "version" % i)
        if vid not in recent:
            raise ApiError(400, E_BAD_REQUEST, "versions[%d]: only the %d "
                           "most recent versions can be deployed" %
                           (i, ROLLBACK_DEPTH))
        if isinstance(pct, bool) or not isinstance(pct, (int, float)) or \
                not 0 <= pct <= 100:
            raise ApiError(400, E_BAD_REQUEST, "versions[%d]: percentage "
                           "must be between 0 and 100" % i)
        if any(vid == p[0] for p in pairs):
            raise ApiError(400, E_BAD_REQUEST, "versions: duplicate version")
        pairs.append((vid, pct))
    if abs(sum(p[1] for p in pairs) - 100) > 1e-9:
        raise ApiError(400, E_BAD_REQUEST, "versions: percentages must add "
                       "up to 100")
    ann = body.get("annotations", {})
    if not isinstance(ann, dict):
        raise ApiError(400, E_BAD_REQUEST, "annotations must be an object")
    d = s.deploy(pairs, "deployment", ann)
    req.info["version_id"] = max(pairs, key=lambda p: p[1])[0]
    return 200, copy.deepcopy(d), None


def api_d1_query(req):
    acc = req.account()
    db = acc["d1"].get(req.args["d"])
    if db is None:
        raise ApiError(404, E_D1_NOT_FOUND, "The database %s could not be "
                       "found" % req.args["d"])
    body = req.json_object()
    sql = body.get("sql")
    params = body.get("params", [])
    if not isinstance(sql, str) or not isinstance(params, list):
        raise ApiError(400, E_BAD_REQUEST, "sql must be a string and params "
                       "a list")
    try:
        results, _ = run_sql(db, sql, params)
    except SqlError as e:
        raise ApiError(400, E_D1_SQL, str(e))
    return 200, results, None


_SCRIPT = "accounts/{a}/workers/scripts/{s}"
ROUTES = [
    ("GET", "user/tokens/verify", api_user_verify),
    ("GET", "accounts/{a}/tokens/verify", api_account_verify),
    ("GET", "accounts", api_accounts),
    ("GET", "accounts/{a}", api_account),
    ("GET", "memberships", api_memberships),
    ("GET", "accounts/{a}/workers/scripts", api_scripts),
    ("GET", "accounts/{a}/workers/subdomain", api_account_subdomain),
    ("GET", _SCRIPT, api_script_code),
    ("GET", _SCRIPT + "/settings", api_settings),
    ("GET", _SCRIPT + "/subdomain", api_script_subdomain),
    ("GET", _SCRIPT + "/secrets", api_list_secrets),
    ("PUT", _SCRIPT + "/secrets", api_put_secret),
    ("GET", _SCRIPT + "/secrets/{n}", api_get_secret),
    ("DELETE", _SCRIPT + "/secrets/{n}", api_delete_secret),
    ("PATCH", _SCRIPT + "/secrets-bulk", api_bulk),
    ("GET", _SCRIPT + "/versions", api_versions),
    ("GET", _SCRIPT + "/versions/{v}", api_version),
    ("GET", _SCRIPT + "/deployments", api_deployments),
    ("POST", _SCRIPT + "/deployments", api_deploy),
    ("PATCH", "accounts/{a}/workers/workers/{s}/versions/latest",
     api_patch_latest),
    ("POST", "accounts/{a}/d1/database/{d}/query", api_d1_query),
]


def route(segs):
    """[(method, handler, args)] of every route whose path matches."""
    out = []
    for method, pattern, fn in ROUTES:
        parts = pattern.split("/")
        if len(parts) != len(segs):
            continue
        args = {}
        for want, got in zip(parts, segs):
            if want.startswith("{"):
                if not got:
                    break
                args[want[1:-1]] = got
            elif want != got:
                break
        else:
            out.append((method, fn, args))
    return out


def api_call(world, method, segs, query, headers, body):
    """Runs one API request under the world lock.

    Returns (status, envelope-or-(ctype, bytes), info).
    """
    req = Request(world, method, segs, query, headers, body)
    matches = route(segs)
    with world.lock:
        try:
            if not matches:
                raise ApiError(404, E_NO_ROUTE, "Could not route to /%s, "
                               "perhaps your object identifier is invalid?" %
                               "/".join(segs))
            chosen = [m for m in matches if m[0] == method]
            if not chosen:
                raise ApiError(405, E_METHOD, "Method not allowed for this "
                               "endpoint")
            req.args = chosen[0][2]
            req.info["op"] = chosen[0][1].__name__[4:]
            status, result, info = chosen[0][1](req)
        except ApiError as e:
            req.info["error_code"] = e.code
            return e.status, envelope(False, None, [e]), req.info
    if isinstance(result, tuple):
        return status, result, req.info
    return status, envelope(True, result, [], info, req.messages), req.info


def envelope(success, result, errors, result_info=None, messages=None):
    """The Cloudflare answer envelope."""
    return {"success": success,
            "errors": [{"code": e.code, "message": e.message}
                       for e in errors],
            "messages": messages or [], "result": result,
            "result_info": result_info}


# -------------------------------------------------------------- data plane

def parse_overrides(value):
    """{script: version_id} from a Cloudflare-Workers-Version-Overrides
    header (a structured-field dictionary of quoted strings)."""
    out = {}
    for item in value.split(","):
        key, sep, val = item.strip().partition("=")
        val = val.strip()
        if sep and len(val) >= 2 and val[0] == val[-1] == '"':
            out[key.strip()] = val[1:-1]
    return out


def serving_version(s, headers):
    """The version that answers a data-plane request, or None."""
    dep = s.current_deployment()
    if dep is None:
        return None
    wanted = parse_overrides(headers.get(
        "Cloudflare-Workers-Version-Overrides", "")).get(s.name)
    if wanted and any(e["version_id"] == wanted for e in dep["versions"]):
        return s.version(wanted)
    return s.deployed()


def _health(world, s, v):
    s.health_calls += 1
    if s.health_calls <= s.behaviour["health_fail_first"]:
        return 500, {"ok": False, "error": "not ready yet"}
    failed = []
    for check in s.behaviour["health"]:
        name = check["name"]
        value = v["secrets"].get(name)
        if not value:
            failed.append({"name": name, "check": "missing"})
            continue
        if "equals" in check and not hmac.compare_digest(
                value.encode(), check["equals"].encode()):
            failed.append({"name": name, "check": "equals"})
        if "prefix" in check and not value.startswith(check["prefix"]):
            failed.append({"name": name, "check": "prefix"})
        if "same_as" in check:
            other = world.find_script(check["same_as"])
            ov = other.deployed() if other else None
            theirs = ov["secrets"].get(name) if ov else None
            if theirs is None or not hmac.compare_digest(
                    value.encode(), theirs.encode()):
                failed.append({"name": name, "check": "same_as"})
    if failed:
        return 500, {"ok": False, "failed": failed,
                     "error": "health check failed: " + ", ".join(
                         "%s (%s)" % (f["name"], f["check"])
                         for f in failed)}
    return 200, {"ok": True}


def _webhook_secret(s, v, which):
    name = s.behaviour[which]
    if name is None:
        return None, (404, {"error": "not found"})
    secret = v["secrets"].get(name)
    if not secret:
        return None, (500, {"error": "webhook secret %s is not set" % name})
    return secret, None


def _stripe(s, v, headers, body):
    secret, err = _webhook_secret(s, v, "stripe_webhook")
    if err:
        return err
    header = headers.get("Stripe-Signature")
    if not header:
        return 400, {"error": "missing Stripe-Signature header"}
    stamp, sigs = None, []
    for part in header.split(","):
        key, _, val = part.strip().partition("=")
        if key == "t":
            stamp = val
        elif key == "v1":
            sigs.append(val)
    if stamp is None or not stamp.isdigit() or not sigs:
        return 400, {"error": "unable to parse Stripe-Signature header"}
    if time.time() - int(stamp) > STRIPE_TOLERANCE_S:
        return 400, {"error": "timestamp outside the tolerance zone"}
    want = hmac.new(secret.encode(), stamp.encode() + b"." + body,
                    hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(want, sig) for sig in sigs):
        return 400, {"error": "no signatures found matching the expected "
                              "signature for payload"}
    return _event(body)


def _creem(s, v, headers, body):
    secret, err = _webhook_secret(s, v, "creem_webhook")
    if err:
        return err
    sig = headers.get("creem-signature")
    if not sig:
        return 400, {"error": "missing creem-signature header"}
    want = creem_signature(secret, body)
    if not hmac.compare_digest(want, sig.strip()):
        return 400, {"error": "invalid signature"}
    return _event(body)


def _event(body):
    try:
        json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return 400, {"error": "payload is not JSON"}
    return 200, {"received": True}


def data_call(world, s, method, rest, headers, body):
    """Answers one data-plane request for script s.

    Returns (status, body-object, version_id).
    """
    with world.lock:
        v = serving_version(s, headers)
        if v is None:
            return 404, {"error": "this Worker has no deployment"}, None
        routes = {"health": ("GET", _health),
                  "webhooks/stripe": ("POST", _stripe),
                  "webhooks/creem": ("POST", _creem)}
        rest = rest.strip("/")
        if rest == "":
            return 200, {"script": s.name}, v["id"]
        if rest not in routes:
            return 404, {"error": "not found"}, v["id"]
        want, fn = routes[rest]
        if method != want and not (want == "GET" and method == "HEAD"):
            return 405, {"error": "method not allowed"}, v["id"]
        if fn is _health:
            status, obj = _health(world, s, v)
        else:
            status, obj = fn(s, v, headers, body)
        return status, obj, v["id"]


# ------------------------------------------------------------- control API

def _script_for(world, op):
    name = op.get("script")
    if not isinstance(name, str):
        raise ScenarioError("script: must be a string")
    if op.get("account") is not None:
        acc = world.accounts.get(op["account"])
        s = acc["scripts"].get(name) if acc else None
    else:
        s = world.find_script(name)
    if s is None:
        raise ScenarioError("script '%s' does not exist" % name)
    return s


def _account_for(world, op):
    aid = op.get("account")
    if aid is None:
        return next(iter(world.accounts.values()))
    if aid not in world.accounts:
        raise ScenarioError("account '%s' does not exist" % aid)
    return world.accounts[aid]


def _edit_one(world, op):
    kind = op.get("op")
    if kind == "delete_script":
        s = _script_for(world, op)
        del world.accounts[s.account_id]["scripts"][s.name]
    elif kind == "add_script":
        acc = _account_for(world, op)
        spec = _check_script(op.get("spec"), "spec")
        if spec["name"] in acc["scripts"]:
            raise ScenarioError("script '%s' exists" % spec["name"])
        acc["scripts"][spec["name"]] = Script(spec, acc["id"])
    elif kind == "set_behaviour":
        s = _script_for(world, op)
        s.behaviour = _check_behaviour(op.get("behaviour"), "behaviour")
        s.health_calls = 0
    elif kind == "set_secrets":
        s = _script_for(world, op)
        changes = op.get("secrets")
        _want(changes, dict, "secrets")
        for key, value in changes.items():
            if value is not None:
                _want(value, str, "secrets." + key)
        s.edit_secrets(changes, force=True)
    elif kind == "set_bindings":
        s = _script_for(world, op)
        spec = _check_script({"name": s.name,
                              "bindings": op.get("bindings", [])}, "op")
        base = s.deployed()
        if base is None:
            s.base["services"] = spec["services"]
        else:
            v = s.new_version(dict(base, services=spec["services"]),
                              "upload")
            s.deploy([(v["id"], 100)], "upload")
    elif kind == "stage_version":
        s = _script_for(world, op)
        if s.latest() is None:
            raise ScenarioError("script '%s' has no version" % s.name)
        s.new_version(s.latest(), "version_upload")
    elif kind == "set_d1":
        uid = op.get("uuid")
        db = None
        for acc in world.accounts.values():
            db = acc["d1"].get(uid) or db
        if db is None:
            raise ScenarioError("database '%s' does not exist" % uid)
        if "migrations_table_exists" in op:
            db["migrations_table_exists"] = _want(
                op["migrations_table_exists"], bool,
                "migrations_table_exists")
        if "applied" in op:
            db["applied"] = [_want(n, str, "applied[]")
                             for n in _want(op["applied"], list, "applied")]
    elif kind == "set_token":
        tok = _check_token(op.get("spec"), "spec", list(world.accounts))
        world.tokens[tok["token"]] = tok
    elif kind == "delete_token":
        if world.tokens.pop(op.get("token"), None) is None:
            raise ScenarioError("no such token")
    else:
        raise ScenarioError("op: unknown operation %r" % (kind,))


def apply_edits(world, edits):
    """Applies a list of edit operations, all or none."""
    _want(edits, list, "edits")
    with world.lock:
        saved = copy.deepcopy((world.accounts, world.tokens))
        try:
            for i, op in enumerate(edits):
                try:
                    _want(op, dict, "edits[%d]" % i)
                    _edit_one(world, op)
                except ScenarioError as e:
                    raise ScenarioError("edits[%d]: %s" % (i, e))
        except Exception:
            world.accounts, world.tokens = saved
            raise


def control_call(world, method, name, query, body):
    """Answers one /_fake/ request; returns (status, object)."""
    try:
        obj = json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, ValueError):
        return 400, {"error": "body is not JSON"}
    try:
        return _control(world, method, name, query, obj)
    except (ScenarioError, ValueError) as e:
        return 400, {"error": str(e)}


def _control(world, method, name, query, obj):
    key = (method, name)
    if key == ("GET", "ping"):
        return 200, {"ok": True}
    if key == ("GET", "requests"):
        since = int(query.get("since", "0") or 0)
        with world.lock:
            items = [dict(e) for e in world.log if e["seq"] > since]
        return 200, {"requests": items,
                     "writes": sum(1 for e in items if e["write"])}
    if key == ("GET", "pending"):
        with world.lock:
            return 200, {"pending": [dict(p) for p in
                                     world.pending.values()]}
    if key == ("POST", "reset-log"):
        with world.lock:
            world.log = []
        return 200, {"ok": True}
    if key == ("GET", "state"):
        with world.lock:
            return 200, world.snapshot()
    if key == ("GET", "faults"):
        with world.lock:
            return 200, {"faults": copy.deepcopy(world.faults)}
    if key == ("DELETE", "faults"):
        with world.lock:
            world.faults = []
        return 200, {"faults": []}
    if key == ("POST", "faults"):
        replace = False
        if isinstance(obj, dict):
            replace = _want(obj.get("replace", False), bool, "replace")
            obj = obj.get("rules")
        rules = [_check_fault(r, "rules[%d]" % i)
                 for i, r in enumerate(_want(obj, list, "rules"))]
        with world.lock:
            world.faults = ([] if replace else world.faults) + rules
            return 200, {"faults": copy.deepcopy(world.faults)}
    if key == ("POST", "latency"):
        _want(obj, dict, "body")
        ms = _want(obj.get("ms"), int, "ms")
        if ms < 0:
            raise ScenarioError("ms: must not be negative")
        with world.lock:
            world.latency_ms = ms
        return 200, {"ms": ms}
    if key == ("POST", "scenario"):
        _want(obj, dict, "body")
        _check_keys(obj, "body", ("scenario", "edits"))
        if "scenario" in obj:
            world.apply(obj["scenario"])
        if "edits" in obj:
            apply_edits(world, obj["edits"])
        return 200, {"ok": True}
    return 404, {"error": "no control endpoint %s /_fake/%s" % key}


# -------------------------------------------------------------------- HTTP

HTML_PAGE = (b"<!DOCTYPE html>\n<html><head><title>Attention Required! | "
             b"Cloudflare</title></head>\n<body><h1>Sorry, you have been "
             b"blocked</h1><p>fake_cf injected this page.</p></body>"
             b"</html>\n")


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves the API, the data plane and the control API."""

    protocol_version = "HTTP/1.1"
    server_version = "fake-cloudflare"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 60

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("fake_cf: %s\n" % (fmt % args))

    def do_GET(self):
        try:
            self.dispatch()
        except OSError:
            # The client went away (killed, timed out): nothing to answer.
            self.close_connection = True
        except Exception:
            # A bug in the fake must not pass for an injected reset: say
            # so on stderr and answer 500.
            traceback.print_exc()
            self.close_connection = True
            err = ApiError(500, E_INTERNAL, "fake_cf internal error")
            try:
                self.send(500, envelope(False, None, [err]))
            except OSError:
                pass

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
                if sum(map(len, chunks)) > MAX_BODY:
                    raise ValueError("body too large")
        length = int(self.headers.get("Content-Length", "0") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length) if length else b""

    def send(self, status, body, ctype="application/json", headers=()):
        if not isinstance(body, bytes):
            body = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return status

    def reset(self):
        """Drops the connection with a TCP reset and no answer."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def dispatch(self):
        t0 = time.time()
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        try:
            body = self.read_body()
        except ValueError:
            self.close_connection = True
            self.send(400, {"error": "bad request body"})
            return
        world = self.server.world
        path = parts.path
        with world.lock:
            host_script = world.find_host_script(
                self.headers.get("Host", ""))
        if path.startswith(CONTROL_PREFIX):
            status, obj = control_call(world, self.command,
                                       path[len(CONTROL_PREFIX):].strip("/"),
                                       query, body)
            self.send(status, obj)
        elif path == API_PREFIX or path.startswith(API_PREFIX + "/"):
            self.api(path, query, body, t0)
        elif host_script is not None:
            self.data(host_script, path, path, body, t0)
        elif path.startswith(DATA_PREFIX):
            name, _, rest = path[len(DATA_PREFIX):].partition("/")
            with world.lock:
                s = world.find_script(urllib.parse.unquote(name))
            if s is None:
                self.log_entry("data", path, 404, t0,
                               {"script": urllib.parse.unquote(name)})
                self.send(404, {"error": "no such Worker"})
            else:
                self.data(s, "/" + rest, path, body, t0)
        else:
            self.send(404, {"error": "not found"})

    def log_entry(self, plane, path, status, t0, info, key=None):
        entry = {"time": round(t0, 6), "plane": plane,
                 "method": self.command, "path": path, "status": status,
                 "duration_ms": round((time.time() - t0) * 1000, 3),
                 "write": False, "op": None, "account": None,
                 "script": None, "secret_names": None, "version_id": None,
                 "error_code": None, "fault": None, "d1_verbs": None,
                 "d1_write": False, "query": None,
                 "user_agent": self.headers.get("User-Agent"),
                 "authorization": "Authorization" in self.headers}
        entry.update(info)
        self.server.world.record(entry, key)

    def data(self, s, rest, path, body, t0):
        world = self.server.world
        with world.lock:
            delay = s.behaviour["health_delay_ms"]
            fault = world.take_fault(self.command, path, "data")
        info = {"script": s.name, "fault": fault["kind"] if fault else None}
        reply, goes_on = fault_reply(fault) if fault else (None, True)
        if goes_on:
            if fault and fault["kind"] == "slow":
                time.sleep(fault["delay_ms"] / 1000.0)
            if delay and rest.strip("/") == "health":
                time.sleep(delay / 1000.0)
            status, obj, vid = data_call(world, s, self.command, rest,
                                         self.headers, body)
            info["version_id"] = vid
            extra = [("X-Fake-Version-Id", vid)] if vid else []
            reply = (status, obj, "application/json", extra)
            if fault and fault["kind"] == "lost":
                reply = None
        # Logged before answering, so a client that has its answer finds
        # its request in the log.
        self.log_entry("data", path, reply[0] if reply else 0, t0, info)
        if reply is None:
            self.reset()
        else:
            self.send(*reply)

    def api(self, path, query, body, t0):
        world = self.server.world
        raw = path[len(API_PREFIX):].strip("/")
        segs = [urllib.parse.unquote(p) for p in raw.split("/")] if raw \
            else []
        key = world.arrive(self.command, path)
        try:
            self.api_answer(path, query, body, t0, segs, key)
        finally:
            with world.lock:
                world.pending.pop(key, None)

    def api_answer(self, path, query, body, t0, segs, key):
        world = self.server.world
        with world.lock:
            latency = world.latency_ms
            fault = world.take_fault(self.command, path)
        if latency:
            time.sleep(latency / 1000.0)
        info = {"query": dict(query) if query else None,
                "fault": fault["kind"] if fault else None}
        info.update(classify(self.command, segs, body))
        reply, goes_on = fault_reply(fault) if fault else (None, True)
        if goes_on:
            if fault and fault["kind"] == "slow":
                time.sleep(fault["delay_ms"] / 1000.0)
            status, answer, more = api_call(world, self.command, segs, query,
                                            self.headers, body)
            more.pop("d1_verbs", None)
            info.update(more)
            if isinstance(answer, tuple):
                reply = (status, answer[1], answer[0], [])
            else:
                reply = (status, answer, "application/json", [])
            if fault and fault["kind"] == "lost":
                reply = None
        self.log_entry("api", path, reply[0] if reply else 0, t0, info,
                       key)
        if reply is None:
            self.reset()
        else:
            self.send(*reply)


def fault_reply(fault):
    """(reply, goes_on) for an injected fault: the answer to send instead
    (status, body, content type, headers), or None to reset; goes_on when
    the request is still to be handled (slow, lost)."""
    kind = fault["kind"]
    if kind in ("slow", "lost"):
        return None, True
    if kind == "reset":
        return None, False
    html = "text/html; charset=UTF-8"
    if kind == "html":
        return (200, HTML_PAGE, html, []), False
    if kind == "challenge":
        return (403, HTML_PAGE, html, [("cf-mitigated", "challenge")]), False
    if kind == "429":
        err = ApiError(429, E_RATE_LIMIT, "Rate limited. Please wait and "
                       "consider throttling your request speed")
        return (429, envelope(False, None, [err]), "application/json",
                [("Retry-After", str(fault["retry_after"]))]), False
    err = ApiError(int(kind), E_INTERNAL, "Internal server error (injected "
                   "by fake_cf)")
    return (int(kind), envelope(False, None, [err]), "application/json",
            []), False


def classify(method, segs, body):
    """Whether an API request is a write, for the request log.

    Every PUT, PATCH, POST and DELETE is, except a D1 query made only of
    SELECT statements.  d1_verbs lists a D1 query's statement keywords.
    """
    out = {"write": method in WRITE_METHODS, "d1_verbs": None,
           "d1_write": False}
    if any(m[1] is api_d1_query for m in route(segs)):
        verbs = []
        try:
            sql = json.loads(body.decode("utf-8")).get("sql", "")
            for toks in sql_statements(sql):
                verbs.append(toks[0][1].upper())
        except (UnicodeDecodeError, ValueError, AttributeError, SqlError):
            verbs.append("?")
        out["d1_verbs"] = verbs
        out["d1_write"] = any(v != "SELECT" for v in verbs)
        out["write"] = method in WRITE_METHODS and out["d1_write"]
    return out


class Server(http.server.ThreadingHTTPServer):
    """The threading HTTP server holding the World."""

    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, world, verbose=False):
        self.world = world
        self.verbose = verbose
        super().__init__(("127.0.0.1", 0), Handler)

    def handle_error(self, request, client_address):
        if self.verbose:
            super().handle_error(request, client_address)


# ------------------------------------------------------------ entry points

def _read_scenario(scenario):
    if scenario is None:
        return {}
    if isinstance(scenario, (str, os.PathLike)):
        with open(scenario, encoding="utf-8") as f:
            return json.load(f)
    return copy.deepcopy(scenario)


class FakeCloudflare:
    """The fake in a background thread, for in-process use in tests.

    scenario is a dict, a path to a JSON file or None (the defaults).
    """

    def __init__(self, scenario=None, latency_ms=None, verbose=False):
        self.world = World(_read_scenario(scenario))
        if latency_ms is not None:
            self.world.latency_ms = latency_ms
        self.verbose = verbose
        self.server = None
        self.thread = None

    def start(self):
        """Binds 127.0.0.1:0 and serves in a daemon thread; returns self."""
        self.server = Server(self.world, self.verbose)
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       args=(0.05,), name="fake_cf",
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        """Stops serving and closes the listening socket."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self.server.server_address[1]

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def api_url(self):
        return self.url + API_PREFIX

    def requests(self, since=0):
        """The request log (a list of dicts), as GET /_fake/requests."""
        with self.world.lock:
            return [dict(e) for e in self.world.log if e["seq"] > since]

    def writes(self):
        """The logged API requests that were writes."""
        return [e for e in self.requests() if e["write"]]

    def pending(self):
        """API requests that arrived and are not answered yet."""
        with self.world.lock:
            return [dict(p) for p in self.world.pending.values()]

    def wait(self, predicate, timeout=10.0):
        """Waits until predicate(self) is true (it is tried whenever a
        request arrives or is logged); returns False on timeout."""
        deadline = time.monotonic() + timeout
        with self.world.changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.world.changed.wait(min(left, 0.1))
        return True

    def reset_log(self):
        with self.world.lock:
            self.world.log = []

    def state(self):
        """The full state, as GET /_fake/state (secret values included)."""
        with self.world.lock:
            return self.world.snapshot()

    def add_faults(self, rules, replace=False):
        status, obj = _control(self.world, "POST", "faults", {},
                               {"rules": rules, "replace": replace})
        return obj["faults"]

    def set_latency(self, ms):
        with self.world.lock:
            self.world.latency_ms = int(ms)

    def edit(self, edits):
        """Applies scenario edits (see README), all or none."""
        apply_edits(self.world, edits)

    def replace(self, scenario):
        self.world.apply(_read_scenario(scenario))


def write_port_file(path, port):
    """Writes the port to path atomically (a temporary file, renamed)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fake_cf-", dir=folder)
    try:
        with os.fdopen(fd, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def main(argv=None):
    ap = argparse.ArgumentParser(prog="fake_cf.py",
                                 description="A fake Cloudflare API.")
    ap.add_argument("--scenario", metavar="FILE.json",
                    help="the scenario (default: one account, one token)")
    ap.add_argument("--port-file", metavar="PATH",
                    help="write the port here once listening")
    ap.add_argument("--latency-ms", type=int, default=None, metavar="N",
                    help="add N ms to every API request")
    ap.add_argument("--verbose", action="store_true",
                    help="log every request on stderr")
    args = ap.parse_args(argv)
    if args.latency_ms is not None and args.latency_ms < 0:
        ap.error("--latency-ms must not be negative")
    try:
        fake = FakeCloudflare(args.scenario, args.latency_ms, args.verbose)
    except (OSError, ValueError) as e:
        print("fake_cf: %s" % e, file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    fake.start()
    if args.port_file:
        write_port_file(args.port_file, fake.port)
    print("listening on %s" % fake.url, flush=True)
    stop.wait()
    fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
