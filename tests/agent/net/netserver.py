#!/usr/bin/env python3
"""A scripted HTTP server for the network layer's tests (test_net.c).

It binds 127.0.0.1 on port 0 three times (plain http; https with a
certificate for 127.0.0.1 and localhost; https with a certificate for
another host, both from the test CA in tls/), prints "PORT <http> <https>
<wrong-host https>" on stdout and serves until
its standard input is closed (the test holds the other end), or for at most
--lifetime seconds.  Python standard library only.

Routes (query parameters in brackets):
  /status/<code>             that status with a small JSON envelope
  /flaky/<key>[fail,code,retry_after]
                             the first `fail` hits of <key> answer `code`
                             (default 500, with Retry-After when given),
                             later hits 200
  /reset/<key>[fail]         the first `fail` hits reset the connection
  /slow/<group>[ms]          sleeps `ms`, counting how many requests of the
                             group are in the server at once
  /big[bytes]                a body of `bytes` bytes
  /html                      403 text/html with cf-mitigated: challenge
  /echo                      what arrived, hashed: method, user agent,
                             sha256 of Authorization and of the body, and
                             whether an Expect header came
  /health[status,body]       a health route
  /override[want]            200 when Cloudflare-Workers-Version-Overrides
                             equals `want`, else 412
  /webhook/stripe            verifies Stripe-Signature with --stripe-secret
  /webhook/creem             verifies creem-signature with --creem-secret
  /webhook/lax               accepts anything with 200
  /cf/...                    a few Cloudflare API routes (see cf_route)
  /_hits/<key>               {"count", "times"} of a key
  /_stats/<group>            {"max", "total"} of a slow group
  /_order                    every path in arrival order
  /_conns                    connections accepted so far (all listeners)
"""

import argparse
import hashlib
import hmac
import http.server
import json
import os
import email.utils
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse

LOCK = threading.Lock()
HITS = {}      # key -> [monotonic times]
GROUPS = {}    # group -> {"now", "max", "total"}
ORDER = []     # paths in arrival order
CONNS = [0]    # connections accepted
ARGS = None
ACCOUNT = "0123456789abcdef0123456789abcdef"
STRIPE_TOLERANCE = 300

# Answers that are JSON, or nearly, but not a proper envelope.
ODD_BODIES = [
    "[]",
    "null",
    '{"success":"yes","result":{}}',
    '{"success":false,"errors":"broken"}',
    '{"success":false,"errors":[{"code":"10007","message":7}]}',
    '{"success":false,"errors":[]}',
    '{"success":true,"result":' + "[" * 5000 + "]" * 5000 + "}",
    '{"success":true,"result":{"x":"\xff\xfe"}}',
    '{"success":false,"errors":[{"code":10007,"message":"a\u0000b\n' +
    'x" }]}',
    '{"success":true',
]


def sha(data):
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def envelope(result=None, ok=True, errors=None, info=None):
    doc = {"success": ok, "errors": errors or [], "messages": [],
           "result": result}
    if info is not None:
        doc["result_info"] = info
    return doc


def cf_error(code, message):
    return envelope(None, False, [{"code": code, "message": message}])


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        with LOCK:
            CONNS[0] += 1
        super().setup()
        # Headers and body go out as two writes: without this, Nagle's
        # algorithm holds the body until the client's delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, code, body=b"", ctype="application/json", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        if body or code != 204:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def reset(self):
        # SO_LINGER with a zero timeout: close() sends a TCP reset.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                   struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def hit(self, key):
        with LOCK:
            HITS.setdefault(key, []).append(time.monotonic())
            return len(HITS[key])

    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_PUT(self):
        self.route()

    def do_PATCH(self):
        self.route()

    def do_DELETE(self):
        self.route()

    def do_HEAD(self):
        self.route()

    def route(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        parts = [p for p in url.path.split("/") if p]
        data = self.body()
        with LOCK:
            ORDER.append(url.path)
        if not parts:
            return self.send(404, {"error": "no route"})
        head = parts[0]
        if head == "cf":
            return self.cf_route(parts[1:], q, data)
        if head.startswith("_"):
            return self.control(head, parts[1:])
        fn = getattr(self, "r_" + head, None)
        if fn is None:
            return self.send(404, {"error": "no route"})
        return fn(parts[1:], q, data)

    def control(self, head, rest):
        with LOCK:
            if head == "_hits":
                times = HITS.get(rest[0], [])
                return self.send(200, {"count": len(times), "times": times})
            if head == "_stats":
                g = GROUPS.get(rest[0], {"max": 0, "total": 0})
                return self.send(200, {"max": g["max"], "total": g["total"]})
            if head == "_order":
                return self.send(200, list(ORDER))
            if head == "_conns":
                return self.send(200, {"count": CONNS[0]})
        return self.send(404, {})

    def r_status(self, rest, q, data):
        code = int(rest[0])
        ok = 200 <= code < 300
        return self.send(code, envelope({"code": code}, ok))

    def r_flaky(self, rest, q, data):
        n = self.hit(rest[0])
        if n <= int(q.get("fail", "1")):
            code = int(q.get("code", "500"))
            headers = {}
            if "retry_after" in q:
                headers["Retry-After"] = q["retry_after"]
            if "retry_after_date" in q:
                when = time.time() + float(q["retry_after_date"])
                headers["Retry-After"] = email.utils.formatdate(
                    when, usegmt=True)
            return self.send(code, cf_error(10013, "try again"),
                             headers=headers)
        return self.send(200, envelope({"hits": n}))

    def r_reset(self, rest, q, data):
        n = self.hit(rest[0])
        if n <= int(q.get("fail", "1")):
            return self.reset()
        return self.send(200, envelope({"hits": n}))

    def r_slow(self, rest, q, data):
        group = rest[0]
        with LOCK:
            g = GROUPS.setdefault(group, {"now": 0, "max": 0, "total": 0})
            g["now"] += 1
            g["total"] += 1
            g["max"] = max(g["max"], g["now"])
        time.sleep(int(q.get("ms", "200")) / 1000.0)
        with LOCK:
            g["now"] -= 1
        return self.send(200, envelope({"group": group}))

    def r_big(self, rest, q, data):
        n = int(q.get("bytes", "1000"))
        return self.send(200, b"x" * n, ctype="text/plain")

    def r_html(self, rest, q, data):
        return self.send(403, "<html><body>challenge</body></html>",
                         ctype="text/html; charset=UTF-8",
                         headers={"cf-mitigated": "challenge"})

    def r_echo(self, rest, q, data):
        auth = self.headers.get("Authorization")
        return self.send(200, envelope({
            "method": self.command,
            "user_agent": self.headers.get("User-Agent"),
            "content_type": self.headers.get("Content-Type"),
            "auth_sha256": sha(auth) if auth is not None else None,
            "body_sha256": sha(data),
            "body_len": len(data),
            "expect": self.headers.get("Expect"),
        }))

    def r_health(self, rest, q, data):
        return self.send(int(q.get("status", "200")), q.get("body", "ok"),
                         ctype="text/plain")

    def r_override(self, rest, q, data):
        got = self.headers.get("Cloudflare-Workers-Version-Overrides")
        return self.send(200 if got == q.get("want") else 412, "",
                         ctype="text/plain")

    def r_webhook(self, rest, q, data):
        kind = rest[0] if rest else ""
        if kind == "lax":
            return self.send(200, {"received": True})
        if kind == "stripe":
            ok = verify_stripe(self.headers.get("Stripe-Signature", ""),
                               data, ARGS.stripe_secret)
        elif kind == "creem":
            ok = verify_creem(self.headers.get("creem-signature", ""), data,
                              ARGS.creem_secret)
        else:
            return self.send(404, {})
        try:
            json.loads(data)
        except ValueError:
            ok = False
        return self.send(200 if ok else 400, {"received": ok})

    def cf_route(self, p, q, data):
        """A few API routes with Cloudflare's envelope and error codes."""
        m = self.command
        if p == ["user", "tokens", "verify"]:
            return self.send(401, cf_error(1000, "Invalid API Token"))
        if len(p) == 4 and p[0] == "accounts" and p[2:] == ["tokens",
                                                             "verify"]:
            if p[1] != ACCOUNT:
                return self.send(403, cf_error(10000,
                                               "Authentication error"))
            return self.send(200, envelope({"id": "tok", "status": "active"}))
        if len(p) == 4 and p[0] == "accounts" and p[2:] == ["workers",
                                                             "subdomain"]:
            return self.send(200, envelope({"subdomain": "acme"}))
        if p == ["accounts"]:
            page = int(q.get("page", "1"))
            items = [{"id": "%032x" % (page * 10 + i), "name": "acct"}
                     for i in range(2 if page < 3 else 1)]
            return self.send(200, envelope(items, info={
                "page": page, "per_page": int(q.get("per_page", "20")),
                "total_pages": 3, "count": len(items), "total_count": 5}))
        if len(p) >= 5 and p[0] == "accounts" and p[2:4] == ["workers",
                                                              "scripts"]:
            return self.cf_script(m, p[4], p[5:], data)
        if len(p) == 7 and p[2:4] == ["workers", "workers"]:
            return self.send(200, envelope(self.received(data)))
        if len(p) == 6 and p[2:4] == ["d1", "database"]:
            doc = json.loads(data)
            return self.send(200, envelope([{"results": [doc],
                                             "success": True}]))
        return self.send(404, cf_error(7003, "No route for that URI"))

    def received(self, data):
        doc = json.loads(data)
        out = {"content_type": self.headers.get("Content-Type")}
        for key in ("secrets", "env"):
            if key in doc:
                out[key] = {k: (None if v is None else
                                {"name": v.get("name"), "type": v["type"],
                                 "text_sha256": sha(v["text"])})
                            for k, v in doc[key].items()}
        if "annotations" in doc:
            out["annotations"] = doc["annotations"]
        return out

    def cf_script(self, m, name, rest, data):
        self.hit("cf-" + name)
        if name == "ghost":
            # success false under HTTP 200: the envelope decides.
            return self.send(200, cf_error(
                10007, "This Worker does not exist on your account."))
        if name == "waf":
            return self.r_html([], {}, data)
        if name.startswith("odd") and name[3:].isdigit():
            body = ODD_BODIES[int(name[3:])]
            return self.send(200, body.encode(), ctype="application/json")
        if name == "limited":
            return self.send(429, cf_error(971, "Please wait and consider "
                                           "throttling your request speed"),
                             headers={"Retry-After": "300"})
        if name == "edge502":
            return self.send(502, "<html>bad gateway</html>",
                             ctype="text/html")
        if name == "empty":
            return self.send(204)
        if name == "liar":
            return self.send(200, {"result": {}})
        if rest == ["secrets-bulk"] and name == "staged":
            return self.send(400, cf_error(
                10215, "Secret edit failed. Latest version not deployed."))
        if rest == ["secrets-bulk"] and m == "PATCH":
            return self.send(200, envelope(self.received(data)))
        if rest == ["deployments"] and m == "POST":
            return self.send(200, envelope(json.loads(data)))
        if rest == ["subdomain"] and m == "GET":
            return self.send(200, envelope({"enabled": True,
                                            "previews_enabled": False}))
        if rest == ["settings"]:
            return self.send(200, envelope({"bindings": []}))
        return self.send(404, cf_error(7003, "No route for that URI"))


def verify_stripe(header, body, secret):
    """Stripe's scheme, written independently of the C code under test."""
    fields = [kv.split("=", 1) for kv in header.split(",") if "=" in kv]
    ts = [v for k, v in fields if k == "t"]
    sigs = [v for k, v in fields if k == "v1"]
    if len(ts) != 1 or not sigs or not ts[0].isdigit():
        return False
    if abs(time.time() - int(ts[0])) > STRIPE_TOLERANCE:
        return False
    want = hmac.new(secret.encode(), ts[0].encode() + b"." + body,
                    hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(want, s) for s in sigs)


def verify_creem(header, body, secret):
    want = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, header.strip())


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64

    def handle_error(self, request, client_address):
        if os.environ.get("NETSERVER_DEBUG"):
            import traceback
            traceback.print_exc()


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--stripe-secret", default="whsec_test")
    ap.add_argument("--creem-secret", default="creem_test")
    ap.add_argument("--lifetime", type=float, default=300)
    ARGS = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    ports = []
    for cert in (None, "server.pem", "wronghost.pem"):
        srv = Server(("127.0.0.1", 0), Handler)
        if cert is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(os.path.join(here, "tls", cert))
            ctx.set_alpn_protocols(["http/1.1"])
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        ports.append(srv.server_address[1])
    sys.stdout.write("PORT %d %d %d\n" % tuple(ports))
    sys.stdout.flush()
    deadline = time.monotonic() + ARGS.lifetime

    def watch_stdin():
        sys.stdin.read()
        os._exit(0)

    threading.Thread(target=watch_stdin, daemon=True).start()
    while time.monotonic() < deadline:
        time.sleep(0.2)
    os._exit(0)


if __name__ == "__main__":
    main()
