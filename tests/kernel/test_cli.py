"""The binary's user interface: check, bad input, privileges, signals,
health endpoints and self-observability."""
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Agent

# Every probe the agent ships, as `redeye check` and redeye_probe_up name them.
PROBES = [
    "sched:sched_wakeup", "sched:sched_wakeup_new", "sched:sched_switch", "sched:sched_process_exit",
    "block:block_rq_issue", "block:block_rq_complete", "block:block_bio_queue",
    "tcp:inet_sock_set_state", "tcp:tcp_retransmit_skb",
    "tcp:tcp_retransmit_synack", "tcp:tcp_send_reset", "tcp:tcp_receive_reset", "tcp:tcp_destroy_sock",
    "tcp:kfree_skb", "tcp:task_file", "proc:sched_process_fork", "proc:sched_process_exec", "proc:sched_process_exit", "proc:mark_victim",
] + [
    "sockets:sock_send_length", "sockets:sock_recv_length", "sockets:tcp_destroy_sock", "sockets:ssl_write_enter", "sockets:ssl_read_enter", "sockets:ssl_write_ex_enter",
    "sockets:ssl_read_ex_enter", "sockets:ssl_exit_ret", "sockets:ssl_handshake_enter", "sockets:ssl_handshake_exit",
]


def redeye(*args, timeout=60):
    return subprocess.run([harness.ARGS.agent, *args], capture_output=True, text=True, timeout=timeout)


def programs_of(pid):
    """IDs of the BPF programs a process holds, from its fds' fdinfo (other
    agents may run on the same machine)."""
    return {int(fields["prog_id"]) for fields in harness.fdinfo_fields(pid) if "prog_id" in fields}


def loaded_program_ids():
    r = subprocess.run(["bpftool", "prog", "show", "--json"], capture_output=True, text=True, check=True)
    return {p["id"] for p in json.loads(r.stdout)}


class Usage(unittest.TestCase):
    def assert_usage_error(self, r, *needles):
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, f"expected one line, got: {r.stderr!r}")
        for n in needles:
            self.assertIn(n, lines[0])

    def test_help_on_each_subcommand(self):
        for sub, needle in (("run", "--listen"), ("check", "probe")):
            r = redeye(sub, "--help")
            self.assertEqual(r.returncode, 0)
            self.assertIn(needle, r.stdout)
        r = redeye("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("check", r.stdout)

    def test_bad_flags_exit_2_with_one_line(self):
        self.assert_usage_error(redeye("run", "--bogus"), "bogus")
        self.assert_usage_error(redeye("run", "--listen", "nowhere"), "--listen", "nowhere")
        self.assert_usage_error(redeye("run", "--listen", "127.0.0.1:99999"), "99999")
        self.assert_usage_error(redeye("run", "--interval", "0"), "--interval")
        self.assert_usage_error(redeye("run", "--service", "web"), "web")
        self.assert_usage_error(redeye("run", "--service", "web=binary:nginx"), "binary")
        self.assert_usage_error(redeye("frobnicate"), "frobnicate")

    def test_bad_config_exit_2_with_one_line(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("listen = 127.0.0.1:9999\ncolour = blue\n")
            f.flush()
            self.assert_usage_error(redeye("run", "--config", f.name), f.name, "colour")
        self.assert_usage_error(redeye("run", "--config", "/nonexistent/redeye.conf"), "/nonexistent/redeye.conf")
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("service = shop=port:http\n")
            f.flush()
            self.assert_usage_error(redeye("run", "--config", f.name), "shop=port:http")


class Kernel(unittest.TestCase):
    def setUp(self):
        harness.require_root()
        harness.require_tool("bpftool")

    def test_check_reports_every_probe(self):
        r = redeye("check")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        for item in ("btf", "privileges", "tracefs"):
            self.assertRegex(r.stdout, rf"(?m)^{item}\s+ok\b")
        for probe in PROBES:
            self.assertRegex(r.stdout, rf"(?m)^\s+{probe}\s+ok\b", probe)
        self.assertIn(f"{len(PROBES)} of {len(PROBES)} probes attach", r.stdout)
        # the capture on this kernel, and why
        self.assertRegex(r.stdout, r"(?m)^\s+capture\s+ok\s+socket tracepoints \(sock:sock_send_length")
        self.assertNotRegex(r.stdout, r"sockets:sys_(enter|exit)")

    def test_check_of_the_fallback_capture(self):
        r = redeye("check", "--capture", "syscalls")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"(?m)^\s+capture\s+ok\s+syscall tracepoints .*chosen by --capture")
        for probe in ("sockets:sys_enter", "sockets:sys_exit"):
            self.assertRegex(r.stdout, rf"(?m)^\s+{probe}\s+ok\b", probe)
        self.assertNotIn("sockets:sock_send_length", r.stdout)
        r = redeye("check", "--capture", "bogus")
        self.assertEqual(r.returncode, 2)
        self.assertIn("invalid --capture 'bogus'", r.stderr)

    def test_missing_privileges_are_named(self):
        harness.require_tool("setpriv")
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                            harness.ARGS.agent, "run", "--listen", f"127.0.0.1:{harness.free_port()}"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("CAP_BPF", r.stderr)
        self.assertIn("run as root", r.stderr)
        r = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
                            harness.ARGS.agent, "check"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stdout, r"(?m)^privileges\s+FAIL")

    def test_port_in_use_is_a_clear_error(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            port = s.getsockname()[1]
            r = redeye("run", "--listen", f"127.0.0.1:{port}")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"cannot listen on 127.0.0.1:{port}", r.stderr)

    def test_endpoints_and_self_metrics(self):
        with Agent() as agent:
            self.assertEqual(agent.get("/healthz"), (200, "ok\n"))
            self.assertEqual(agent.get("/readyz"), (200, "ready\n"))
            m = agent.metrics()
            self.assertEqual(m.value("redeye_build_info", kernel=os.uname().release), 1)
            for probe in PROBES:
                self.assertEqual(m.value("redeye_probe_up", probe=probe), 1, probe)
            self.assertEqual(m.value("redeye_capture_info", mode="socket_tracepoints"), 1)
            for reason in ("ringbuf_full", "map_full"):
                self.assertTrue(m.has("redeye_events_lost_total", stage="kernel", reason=reason))
            for bpf_map in ("tcp.sk_owner", "tcp.tcp_stats", "sched.runq_hist", "block.disk_lat"):
                self.assertGreater(m.value("redeye_bpf_map_capacity", map=bpf_map), 0, bpf_map)
                self.assertTrue(m.has("redeye_bpf_map_entries", map=bpf_map), bpf_map)
            # the agent names itself, whatever the rules say
            self.assertGreater(m.value("redeye_process_resident_memory_bytes", service_name="redeye"), 0)

    def test_sigterm_detaches_and_exits_cleanly(self):
        agent = Agent()
        agent.start()
        ours = programs_of(agent.proc.pid)
        self.assertGreaterEqual(len(ours), len(PROBES) - 7, "programs loaded while running")
        started = time.monotonic()
        agent.proc.send_signal(signal.SIGTERM)
        rc = agent.proc.wait(10)
        elapsed = time.monotonic() - started
        agent.stop()
        self.assertEqual(rc, 0, agent.output())
        self.assertLess(elapsed, 5, "SIGTERM took too long")
        self.assertIn("detaching", agent.output())
        deadline = time.monotonic() + 5
        while ours & loaded_program_ids() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertFalse(ours & loaded_program_ids(), "programs left behind")


if __name__ == "__main__":
    harness.main()
