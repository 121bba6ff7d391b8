"""A CPU hog with more runnable threads than cores shows run-queue latency
for its service; an idle process does not."""
import os
import time
import unittest

import harness
from harness import Agent, rule, start_workload

HOG_MS = 3000


class RunQueueLatency(unittest.TestCase):
    def setUp(self):
        harness.require_root()

    def test_hog_waits_idle_does_not(self):
        threads = 3 * os.cpu_count()
        with Agent(*rule("hog", "hog"), *rule("sleeper", "sleeper")) as agent:
            idle = start_workload("idle", 20000, tag="sleeper")
            self.addCleanup(idle.kill)
            # Starting a process wakes it a few times; let that settle.
            time.sleep(1.5)
            before = agent.settle()
            idle_count = before.value("redeye_runqueue_latency_seconds_count", service_name="sleeper")

            hog = start_workload("cpuhog", threads, HOG_MS, tag="hog")
            self.assertEqual(hog.wait(60), 0)
            m = agent.wait_for(lambda m: m.value("redeye_runqueue_latency_seconds_count", service_name="hog") > 0,
                               what="hog run-queue latency")
            m = agent.settle()
            count = m.value("redeye_runqueue_latency_seconds_count", service_name="hog")
            waited = m.value("redeye_runqueue_latency_seconds_sum", service_name="hog")
            # threads-cores of the threads are always waiting: about
            # (threads - cores) * HOG_MS of waiting in total. Ask for a third.
            expected_wait = (threads - os.cpu_count()) * HOG_MS / 1000
            print(f"measured: threads={threads} cpus={os.cpu_count()} observations={count:.0f} "
                  f"waited={waited:.2f}s expected~{expected_wait:.1f}s idle_new={m.value('redeye_runqueue_latency_seconds_count', service_name='sleeper') - idle_count:.0f}",
                  flush=True)
            self.assertGreater(count, threads, "every thread waited at least once")
            self.assertGreater(waited, expected_wait / 3,
                               f"waited {waited:.2f}s in total, expected about {expected_wait:.1f}s")
            # buckets are cumulative and end with +Inf == count
            inf = m.value("redeye_runqueue_latency_seconds_bucket", service_name="hog", le="+Inf")
            self.assertEqual(inf, count)
            # the idle process slept through it all: no new observation
            self.assertEqual(m.value("redeye_runqueue_latency_seconds_count", service_name="sleeper"), idle_count)
            agent.assert_nothing_lost(self)


if __name__ == "__main__":
    harness.main()
