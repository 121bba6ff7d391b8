"""Per-service CPU, memory and fds from /proc, node pressure, OOM kills."""
import os
import subprocess
import time
import unittest

import harness
from harness import Agent, rule, start_workload, wait_line

N_FDS = 41


class ProcessMetrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        cls.agent = Agent(*rule("burner", "burner"), *rule("holder", "holder"), *rule("oomer", "oomer"))
        cls.agent.start()

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()

    def test_cpu_seconds_of_a_known_busy_process(self):
        # one thread busy for 1.5 s, then exits: its CPU time is still counted
        harness.workload("cpuhog", 1, 1500, tag="burner")
        user = dict(service_name="burner", mode="user")
        m = self.agent.wait_for(lambda m: m.value("redeye_process_cpu_seconds_total", **user) >= 1.0,
                                what="burner's CPU seconds")
        total = m.value("redeye_process_cpu_seconds_total", service_name="burner")
        self.assertGreaterEqual(total, 1.2)
        self.assertLessEqual(total, 2.0)

    def test_open_fds_and_memory(self):
        holder = start_workload("fds", N_FDS, 10000, tag="holder")
        self.addCleanup(holder.kill)
        wait_line(holder, "holding")
        m = self.agent.wait_for(lambda m: m.value("redeye_process_open_fds", service_name="holder") == N_FDS + 3,
                                what=f"{N_FDS}+3 open fds")
        rss = m.value("redeye_process_resident_memory_bytes", service_name="holder")
        with open(f"/proc/{holder.pid}/statm") as f:
            truth = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        self.assertGreater(rss, 0)
        self.assertLess(abs(rss - truth), 1 << 20, f"rss {rss} vs /proc {truth}")
        holder.kill()
        holder.wait()
        # a service with no process left drops its gauges
        self.agent.wait_for(lambda m: not m.has("redeye_process_open_fds", service_name="holder"),
                            what="holder's gauges removed")

    def test_node_pressure(self):
        if not os.path.exists("/proc/pressure/cpu"):
            harness.cannot_run("kernel without PSI")
        m = self.agent.metrics()
        for resource in ("cpu", "memory", "io"):
            self.assertTrue(m.has("redeye_node_pressure_waiting_seconds_total", resource=resource, kind="some"),
                            resource)
        with open("/proc/pressure/cpu") as f:
            some_us = int(f.readline().split("total=")[1])
        exported = m.value("redeye_node_pressure_waiting_seconds_total", resource="cpu", kind="some")
        # counted since the agent started: never more than the kernel's total
        self.assertLessEqual(exported, some_us / 1e6)

    def test_oom_kill_counted_for_the_victim(self):
        memcg = "/sys/fs/cgroup/memory"
        if not os.path.isdir(memcg):
            harness.cannot_run("no cgroup v1 memory controller to set a limit with")
        group = os.path.join(memcg, f"redeye-oom-{os.getpid()}")
        os.mkdir(group)
        self.addCleanup(os.rmdir, group)
        with open(os.path.join(group, "memory.limit_in_bytes"), "w") as f:
            f.write(str(64 << 20))
        script = f'echo $$ > {group}/cgroup.procs && exec "$0" alloc 512 tag=oomer'
        r = subprocess.run(["sh", "-c", script, harness.ARGS.workload], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, -9, f"the allocation was not OOM-killed: {r.returncode} {r.stderr}")
        self.agent.wait_for(lambda m: m.value("redeye_oom_kills_total", service_name="oomer") >= 1,
                            what="the OOM kill")
        m = self.agent.settle()
        self.assertEqual(m.value("redeye_oom_kills_total", service_name="oomer"), 1)
        # wait for the killed process to leave the group before rmdir
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with open(os.path.join(group, "cgroup.procs")) as f:
                if not f.read().strip():
                    break
            time.sleep(0.1)


if __name__ == "__main__":
    harness.main()
