#!/usr/bin/env python3
"""Benchmark of tiervault-agent against the fake Cloudflare API.

    python3 tests/bench/agent_bench.py BUILDDIR [--latency-ms N]

Ten Workers holding 20 secrets each over three tiers (200 secrets), in
three dependency waves, with N ms (default 60) added to every API request
by the fake.  Measures, in the same run:

  - `tiervault-agent rollout` (strategy bulk, concurrency 10): wall time,
    API requests, round trips, peak resident memory (wait4 of the child);
  - the same secrets pushed the way a loop of `wrangler secret put` does:
    one PUT .../secrets per secret, one after the other, over one
    keep-alive connection, from this script;
  - the critical path: the preflight's round trips (two: token, accounts
    and scripts; then every Worker's settings, versions and deployments
    with the D1 query) plus one write round trip per wave and tier,
    times the measured round trip of one API request.

Prints a table; docs/performance.md records the figures.  Not a test: it
asserts nothing, it only measures.
"""

import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "fake_cf"))
from fake_cf import FakeCloudflare  # noqa: E402

ACCOUNT = "0123456789abcdef0123456789abcdef"
TOKEN = "bench-token-0123456789"
TIERS = (("core", 8), ("payment", 7), ("ai", 5))
WORKERS = ["node%d-service" % i for i in range(1, 11)]


def wave_of(i):
    """node1 first; node2-8 bind node1; node9-10 bind node8."""
    return 0 if i == 0 else (1 if i < 8 else 2)


def secret_names(tier, n):
    return ["%s_SECRET_%02d" % (tier.upper(), k) for k in range(n)]


def values():
    """{(worker, name): (tier, value)}: 20 secrets per Worker."""
    out = {}
    for w in WORKERS:
        for tier, n in TIERS:
            for name in secret_names(tier, n):
                out[(w, name)] = (tier, "v-%s-%s-%s" % (w, name,
                                                        os.urandom(8).hex()))
    return out


def binds(i):
    w = wave_of(i)
    if w == 0:
        return []
    return [WORKERS[0]] if w == 1 else [WORKERS[7]]


def scenario():
    scripts = []
    for i, w in enumerate(WORKERS):
        spec = {"name": w, "secrets": {},
                "behaviour": {"health": ["CORE_SECRET_00"]}}
        if binds(i):
            spec["bindings"] = [{"name": "DEP", "service": b}
                                for b in binds(i)]
        scripts.append(spec)
    return {"tokens": [{"token": TOKEN}],
            "accounts": [{"id": ACCOUNT, "name": "Bench",
                          "scripts": scripts}]}


def policy(fake):
    workers = []
    for i, w in enumerate(WORKERS):
        secrets = [{"name": n, "tier": t}
                   for t, k in TIERS for n in secret_names(t, k)]
        workers.append({"name": w, "bindings": binds(i), "secrets": secrets,
                        "verify": [{"kind": "http", "url":
                                    "%s/w/%s/health" % (fake.url, w)}]})
    return {"policy": 1, "account_id": ACCOUNT,
            "tiers": [{"name": t} for t, _ in TIERS], "workers": workers,
            "rollout": {"strategy": "bulk", "concurrency": 10}}


def fill_vault(tv, env, tmp, vals):
    """One import per Worker and tier through the CLI."""
    run([tv, "init", "--key-file", env["TIERVAULT_KEY_FILE"],
         "--no-passphrase"], env)
    for w in WORKERS:
        for tier, _n in TIERS:
            path = os.path.join(tmp, "%s-%s.env" % (w, tier))
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                for (ww, name), (t, v) in sorted(vals.items()):
                    if ww == w and t == tier:
                        f.write("%s=%s\n" % (name, v))
            run([tv, "import", path, "--service", w, "--tier", tier], env)
            os.unlink(path)


def run(argv, env):
    p = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
    if p.returncode != 0:
        sys.exit("bench: %s failed (%d): %s" % (os.path.basename(argv[0]),
                                                p.returncode,
                                                p.stderr.decode()[-800:]))


def run_rss(argv, env):
    """Runs argv; returns (seconds, peak RSS KiB, exit code)."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.execve(argv[0], argv, env)
    _pid, status, ru = os.wait4(pid, 0)
    return (time.perf_counter() - start, ru.ru_maxrss,
            os.waitstatus_to_exitcode(status))


def round_trips(reqs, gap_ms):
    """API requests grouped into round trips: a request that arrives more
    than gap_ms after the previous one starts a new round trip."""
    times = sorted(r["time"] for r in reqs if r["plane"] == "api")
    n, last = 0, None
    for t in times:
        if last is None or (t - last) * 1000 > gap_ms:
            n += 1
        last = t
    return n


def sequential_push(fake, vals):
    """One PUT per secret, one after the other, on one connection;
    returns (seconds, per-request seconds)."""
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=30)
    per = []
    start = time.perf_counter()
    for (w, name), (_tier, value) in sorted(vals.items()):
        body = json.dumps({"name": name, "text": value,
                           "type": "secret_text"})
        t0 = time.perf_counter()
        conn.request("PUT", "/client/v4/accounts/%s/workers/scripts/%s/"
                     "secrets" % (ACCOUNT, w), body=body,
                     headers={"Authorization": "Bearer " + TOKEN,
                              "Content-Type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        if resp.status != 200 or not json.loads(data)["success"]:
            sys.exit("bench: sequential PUT failed: HTTP %d" % resp.status)
        per.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    conn.close()
    return total, per


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: agent_bench.py BUILDDIR [--latency-ms N]")
    build = sys.argv[1]
    latency = 60
    if "--latency-ms" in sys.argv:
        latency = int(sys.argv[sys.argv.index("--latency-ms") + 1])
    agent = os.path.join(build, "agent", "tiervault-agent")
    tv = os.path.join(build, "cli", "tiervault")
    vals = values()
    tmp = tempfile.mkdtemp(prefix="agent-bench-")
    try:
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "NO_COLOR": "1",
               "TIERVAULT_VAULT": os.path.join(tmp, "vault"),
               "TIERVAULT_KEY_FILE": os.path.join(tmp, "vault.key")}
        fill_vault(tv, env, tmp, vals)
        with FakeCloudflare(scenario(), latency_ms=latency) as fake:
            pol = os.path.join(tmp, "policy.json")
            with open(pol, "w") as f:
                json.dump(policy(fake), f)
            aenv = dict(env, CLOUDFLARE_API_TOKEN=TOKEN,
                        CLOUDFLARE_API_BASE_URL=fake.api_url)
            wall, rss, rc = run_rss([agent, "rollout", "--policy", pol],
                                    aenv)
            if rc != 0:
                sys.exit("bench: rollout failed with exit %d" % rc)
            reqs = fake.requests()
            api = [r for r in reqs if r["plane"] == "api"]
            writes = [r for r in api if r["write"]]
            rts = round_trips(reqs, latency / 2)

            since = reqs[-1]["seq"]
            rerun, rerun_rss, rc = run_rss(
                [agent, "rollout", "--policy", pol], aenv)
            rerun_writes = [r for r in fake.requests(since) if r["write"]]

            fake.replace(scenario())
            fake.set_latency(latency)
            seq, per = sequential_push(fake, vals)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rtt = statistics.median(per)
    waves = 1 + max(wave_of(i) for i in range(len(WORKERS)))
    crit_rts = 2 + waves * len(TIERS)
    crit = crit_rts * rtt
    rows = [
        ("secrets pushed", "%d (10 Workers x 20, 3 tiers)" % len(vals)),
        ("added API latency", "%d ms per request" % latency),
        ("agent rollout wall time", "%.3f s" % wall),
        ("agent API requests", "%d (%d writes)" % (len(api), len(writes))),
        ("agent round trips (observed)", "%d" % rts),
        ("agent peak RSS", "%.1f MiB" % (rss / 1024)),
        ("rerun, nothing changed", "%.3f s, %d writes, %.1f MiB" % (
            rerun, len(rerun_writes), rerun_rss / 1024)),
        ("sequential push (1 PUT/secret)", "%.3f s (%d requests)" % (
            seq, len(per))),
        ("speed-up over sequential", "%.1fx (target >= 5x)" % (seq / wall)),
        ("critical path", "%.3f s (%d round trips x %.1f ms)" % (
            crit, crit_rts, rtt * 1000)),
        ("rollout / critical path", "%.2fx (target <= 1.5x)" % (
            wall / crit)),
        ("peak RSS target", "< 24 MiB: %s" % (
            "met" if rss < 24 * 1024 else "NOT met")),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print("%-*s  %s" % (width, k, v))


if __name__ == "__main__":
    main()
