"""Crash safety: kill -9 at any moment, then a rerun completes, with no
tier pushed before the previous one is verified and nothing written twice
beyond re-sending a request whose answer was lost."""

import collections
import os
import random
import signal
import subprocess
import time

import agentlib

PAYMENT_NAMES = {"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET",
                 "CREEM_WEBHOOK_SECRET"}
CORE_NAMES = {"INTERNAL_TOKEN", "JWT_SECRET"}


def tier_of(names):
    names = set(names or [])
    if names & CORE_NAMES:
        return "core"
    if names & PAYMENT_NAMES:
        return "payment"
    return "ai"


class CrashMixin:

    def start_agent(self):
        return subprocess.Popen(self.agent_argv("rollout"),
                                env=self.agent_env(),
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    def kill(self, proc):
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    def wait_for(self, cond, what, limit=60.0):
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if cond():
                return
            time.sleep(0.01)
        self.fail("timed out waiting for %s" % what)

    def pushes(self):
        """(script, tier) of every secret write the fake received."""
        return [(r["script"], tier_of(r["secret_names"]))
                for r in self.writes() if r["op"] in ("bulk",
                                                      "patch_latest")]

    def assertTierOrder(self):
        order = ["core", "payment", "ai"]
        tiers = [t for _, t in self.pushes()]
        # Once a tier's writes start, no earlier tier is written again.
        seen = 0
        for t in tiers:
            self.assertGreaterEqual(order.index(t), seen, tiers)
            seen = order.index(t)


class KillWhileWaiting(CrashMixin, agentlib.AgentTestCase):

    def test_kill_during_slow_write_then_resume(self):
        slow = "node7-billing-service"
        self.fake.add_faults([{"method": "PATCH",
                               "path_regex": slow + "/secrets-bulk$",
                               "kind": "slow", "delay_ms": 1500,
                               "count": 1}])
        others = {"node2-user-service", "node3-catalog-service",
                  "node4-search-service", "node5-notify-service",
                  "node6-gateway-service", "node8-invoice-service",
                  "node10-ai-service"}
        proc = self.start_agent()
        # The wave's other writes are answered: the slow one is in flight.
        self.wait_for(lambda: others <= {s for s, _ in self.pushes()},
                      "the other core writes")
        self.assertIsNone(proc.poll())
        self.kill(proc)
        # The fake applies the slow write although its answer is lost.
        self.wait_for(lambda: (slow, "core") in self.pushes(),
                      "the slow write to land")

        doc, _ = self.agent_json("rollout")
        self.assertEqual(doc["result"], "done")
        self.assertAllPushed()
        counts = collections.Counter(self.pushes())
        # The landed writes were recognised: not one was sent again.
        self.assertEqual(max(counts.values()), 1, counts)
        # One write per Worker and tier: 10 core, 3 payment, 1 ai.
        self.assertEqual(len(self.pushes()), 14)
        self.assertTierOrder()
        st, _ = self.agent_json("status")
        self.assertTrue(all(t["current"] for t in st["tiers"]))


    def test_kill_in_a_later_tier_then_resume(self):
        # The billing Worker's second write (its payment tier) is slow:
        # by then the agent knows its version only by number.
        slow = "node7-billing-service"
        path = slow + "/secrets-bulk$"
        self.fake.add_faults([
            {"method": "PATCH", "path_regex": path, "kind": "slow",
             "delay_ms": 0, "count": 1},
            {"method": "PATCH", "path_regex": path, "kind": "slow",
             "delay_ms": 1500, "count": 1}])
        proc = self.start_agent()
        self.wait_for(lambda: ("node8-invoice-service", "payment")
                      in self.pushes(), "the other payment write")
        self.assertIsNone(proc.poll())
        self.kill(proc)
        self.wait_for(lambda: (slow, "payment") in self.pushes(),
                      "the slow write to land")
        self.assertExit(self.agent("rollout"), 0)
        self.assertAllPushed()
        counts = collections.Counter(self.pushes())
        self.assertEqual(max(counts.values()), 1, counts)
        self.assertEqual(len(self.pushes()), 14)
        self.assertTierOrder()


class KillAnywhere(CrashMixin, agentlib.AgentTestCase):

    def test_random_kills_then_resume(self):
        rng = random.Random(int.from_bytes(os.urandom(4), "big"))
        # Slow answers so that kills land inside pushes and probes.
        self.fake.set_latency(40)
        kills = 0
        for _ in range(6):
            proc = self.start_agent()
            time.sleep(rng.uniform(0.0, 0.4))
            if proc.poll() is not None:
                break
            self.kill(proc)
            kills += 1
        self.fake.set_latency(0)
        self.assertGreater(kills, 0, "no run was interrupted")
        doc, _ = self.agent_json("rollout")
        self.assertEqual(doc["result"], "done")
        self.assertAllPushed()
        counts = collections.Counter(self.pushes())
        # At most one re-send of a write whose answer a kill lost.
        for key, n in counts.items():
            self.assertLessEqual(n, 2, key)
        self.assertTierOrder()
        since = self.last_seq()
        self.assertExit(self.agent("rollout"), 0)
        self.assertEqual(self.writes(since), [])


class StagedKillAnywhere(KillAnywhere):
    """The same with strategy staged: versions, 0% deployments, smoke
    tests and promotions resume from the step each Worker reached."""

    strategy = "staged"


if __name__ == "__main__":
    agentlib.main()
