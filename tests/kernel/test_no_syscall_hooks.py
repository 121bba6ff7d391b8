"""On its default configuration the agent hooks no system call: no program of
its own is attached to the raw syscall tracepoints (sys_enter/sys_exit, as
raw_tp or tp_btf), to a syscalls:* or raw_syscalls:* tracepoint, or to a
syscall function (kprobe, fentry/fexit). What is attached is read from the
agent's own link fds (/proc/<pid>/fdinfo, so another agent on the host does
not count) and checked against `bpftool -j link` and `bpftool -j prog`.
`redeye check` and /metrics say that the capture in use is the socket
tracepoint one (sock:sock_send_length / sock:sock_recv_length). And the
tcp object's exact counts still hold: connections accepted and made,
refused connects, for known workloads."""
import collections
import json
import os
import re
import subprocess
import sys
import unittest

import harness
from harness import Agent, rule, start_workload, wait_line, workload

N_REFUSED = 29
N_CONNECTIONS = 17

SYSCALL_TRACEPOINTS = re.compile(r"^(sys_enter|sys_exit)(_\w+)?$")  # raw_syscalls:sys_enter, syscalls:sys_enter_read
SYSCALL_FUNCTIONS = re.compile(r"^(__x64_sys_|__ia32_sys_|__arm64_sys_|__se_sys_|__do_sys_|ksys_|sys_)\w+")


# ---- What the capture says about itself: adapt here to the final wording ----
#
# The capture engineer decides the exact words. Assumed for now (any one of
# them is enough on each side):
#   redeye check: a line naming the capture with "sock_send_length",
#                 "socket tracepoints" or "socket_tracepoints";
#   /metrics:     a series equal to 1 of redeye_probe_up or
#                 redeye_capture_info one of whose labels (probe, capture,
#                 mode...) holds one of those words, e.g.
#                 redeye_probe_up{probe="sockets:sock_send_length"} 1 or
#                 redeye_capture_info{mode="socket_tracepoints"} 1;
#   and neither says that the syscall capture is attached:
#                 no "sockets:sys_enter"/"sockets:sys_exit" probe up.
CAPTURE_WORDS = ("sock_send_length", "socket tracepoints", "socket_tracepoints")
SYSCALL_PROBES = ("sockets:sys_enter", "sockets:sys_exit")


def assert_socket_tracepoint_capture(test, check_output, metrics):
    def names_capture(text):
        return any(w in text.lower() for w in CAPTURE_WORDS)

    lines = [line for line in check_output.splitlines() if names_capture(line)]
    test.assertTrue(lines, f"redeye check names no socket-tracepoint capture:\n{check_output}")
    attached_syscalls = [line for line in check_output.splitlines()
                         if any(p in line for p in SYSCALL_PROBES) and re.search(r"\bok\b", line)]
    test.assertEqual(attached_syscalls, [], "redeye check shows the syscall capture attached")
    series = [(n, l) for n, l, v in metrics.samples if n in ("redeye_probe_up", "redeye_capture_info") and v == 1
              and any(names_capture(x) for x in l.values())]
    test.assertTrue(series, "no redeye_probe_up / redeye_capture_info series says the socket tracepoints are used: "
                    + "\n".join(line for line in metrics.text.splitlines() if "probe_up" in line or "capture" in line))
    for probe in SYSCALL_PROBES:
        test.assertEqual(metrics.value("redeye_probe_up", probe=probe), 0, f"{probe} is up")
    return lines, series
# ------------------------------------------------------------------------------


def fdinfo_links(pid):
    """The BPF links process `pid` holds: one dict of its fdinfo fields each
    (link_type, link_id, prog_id, tp_name, name, event_type, attach_type...)."""
    return [fields for fields in harness.fdinfo_fields(pid) if "link_id" in fields]


def perf_event_fds(pid):
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:[perf_event]":
                n += 1
        except OSError:
            pass
    return n


def btf_func_name(obj_id, type_id):
    out = subprocess.run(["bpftool", "btf", "dump", "id", str(obj_id)], capture_output=True, text=True,
                         timeout=120).stdout
    m = re.search(rf"^\[{type_id}\] \w+ '([^']*)'", out, re.MULTILINE)
    return m.group(1) if m else f"btf {obj_id}:{type_id}"


def syscall_hook(link):
    """Why this link (its fdinfo fields) hooks a system call, or None."""
    kind = link.get("link_type", "")
    if kind == "raw_tracepoint":
        if SYSCALL_TRACEPOINTS.match(link.get("tp_name", "")):
            return f"raw tracepoint {link['tp_name']}"
    elif kind == "perf":
        event = link.get("event_type", "")
        if event == "tracepoint" and SYSCALL_TRACEPOINTS.match(link.get("tp_name", "")):
            return f"tracepoint {link['tp_name']}"
        if event in ("kprobe", "kretprobe") and SYSCALL_FUNCTIONS.match(link.get("name", "")):
            return f"{event} {link['name']}"
    elif kind == "tracing":
        if link.get("attach_type", "") in ("fentry", "fexit", "fmod_ret", "trace_fentry", "trace_fexit"):
            target = btf_func_name(link.get("target_obj_id", "1"), link.get("target_btf_id", "0"))
            if SYSCALL_FUNCTIONS.match(target):
                return f"{link['attach_type']} {target}"
    elif kind in ("kprobe_multi", "uprobe_multi"):
        pass  # neither can name a syscall tracepoint; kprobe_multi is reported below for a look
    return None


def bpftool_json(*args):
    r = subprocess.run(["bpftool", "-j", *args, "show"], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(r.stdout or "[]")


class DetectorSelfCheck(unittest.TestCase):
    """The detector itself recognises every form of syscall hook (no agent
    needed): a test that cannot see one would pass for the wrong reason."""

    def test_every_form_is_recognised(self):
        hooks = [
            {"link_type": "raw_tracepoint", "tp_name": "sys_enter"},
            {"link_type": "raw_tracepoint", "tp_name": "sys_exit"},
            {"link_type": "perf", "event_type": "tracepoint", "tp_name": "sys_enter_read"},
            {"link_type": "perf", "event_type": "tracepoint", "tp_name": "sys_exit_accept4"},
            {"link_type": "perf", "event_type": "kprobe", "name": "__x64_sys_write"},
            {"link_type": "perf", "event_type": "kretprobe", "name": "__arm64_sys_recvmsg"},
        ]
        for link in hooks:
            self.assertIsNotNone(syscall_hook(link), link)
        others = [
            {"link_type": "raw_tracepoint", "tp_name": "sock_send_length"},
            {"link_type": "raw_tracepoint", "tp_name": "sock_recv_length"},
            {"link_type": "raw_tracepoint", "tp_name": "tcp_destroy_sock"},
            {"link_type": "raw_tracepoint", "tp_name": "sched_switch"},
            {"link_type": "perf", "event_type": "uprobe", "name": "/usr/lib/x86_64-linux-gnu/libssl.so.3"},
        ]
        for link in others:
            self.assertIsNone(syscall_hook(link), link)


class NoSyscallHooks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        harness.require_tool("bpftool")
        cls.run_id = harness.free_port()
        cls.names = {k: f"{k}_{cls.run_id}_" for k in ("refuser", "tcpserver", "tcpclient")}
        rules = [arg for name in cls.names.values() for arg in rule(name, name)]
        # the default configuration: no capture flag; the defaults' intervals
        cls.agent = Agent(*rules, interval="1", proc_interval="5")
        cls.agent.start()

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()

    def test_no_program_of_the_agent_is_on_a_syscall_hook(self):
        pid = self.agent.proc.pid
        links = fdinfo_links(pid)
        self.assertTrue(links, "the agent holds no BPF link at all")
        listed = {entry["id"]: entry for entry in bpftool_json("link")}
        progs = {entry["id"]: entry for entry in bpftool_json("prog")}
        report = []
        for link in links:
            link_id, prog_id = int(link["link_id"]), int(link.get("prog_id", "0"))
            self.assertIn(link_id, listed, f"link {link_id} of the agent is not in bpftool link")
            entry = listed[link_id]
            if entry.get("type") == "raw_tracepoint":
                self.assertEqual(entry.get("tp_name"), link.get("tp_name"), entry)
            prog = progs.get(prog_id, {})
            what = link.get("tp_name") or link.get("name") or link.get("attach_type", "")
            report.append((link["link_type"], what, prog.get("name", "?"), prog.get("type", "?"), syscall_hook(link)))
        print("\nthe agent's links: " + "".join(f"\n  {r[0]:15} {r[1]:40} {r[2]} ({r[3]})"
                                                + (f"  <- SYSCALL HOOK: {r[4]}" if r[4] else "") for r in report),
              file=sys.stderr)
        self.assertEqual([r[4] for r in report if r[4]], [], "programs of the agent on syscall hooks")
        # A perf event attached without a link (the legacy ioctl) would hide
        # its target from the check above: every perf event fd belongs to a link.
        perf_links = sum(1 for link in links if link["link_type"] == "perf")
        self.assertLessEqual(perf_event_fds(pid), perf_links, "perf events attached outside of a BPF link")
        tps = collections.Counter(link.get("tp_name") for link in links if link["link_type"] == "raw_tracepoint")
        self.assertTrue(tps["sock_send_length"] >= 1 and tps["sock_recv_length"] >= 1,
                        f"the socket tracepoints are not attached: {dict(tps)}")

    def test_check_and_metrics_name_the_capture(self):
        r = subprocess.run([harness.ARGS.agent, "check"], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines, series = assert_socket_tracepoint_capture(self, r.stdout + r.stderr, self.agent.metrics())
        print(f"\nredeye check: {lines}\nmetrics: {series}", file=sys.stderr)

    def test_tcp_counts_hold(self):
        n = self.names
        closed_port = harness.free_port()
        self.assertEqual(workload("refuse", closed_port, N_REFUSED, tag=n["refuser"]).strip(), f"refused {N_REFUSED}")
        port = harness.free_port()
        server = start_workload("serve", port, N_CONNECTIONS, tag=n["tcpserver"])
        wait_line(server, "listening")
        out = workload("connect", "127.0.0.1", port, N_CONNECTIONS, tag=n["tcpclient"])
        self.assertEqual(out.strip(), f"connected {N_CONNECTIONS}")
        self.assertEqual(server.wait(30), 0)
        server.stdout.close()
        server.stderr.close()
        inbound = dict(service_name=n["tcpserver"], direction="inbound")
        outbound = dict(service_name=n["tcpclient"], direction="outbound")
        refused = dict(service_name=n["refuser"], reason="refused")
        try:
            self.agent.wait_for(lambda m: m.value("redeye_tcp_connections_total", **inbound) >= N_CONNECTIONS
                                and m.value("redeye_tcp_connections_total", **outbound) >= N_CONNECTIONS
                                and m.value("redeye_tcp_connect_failures_total", **refused) >= N_REFUSED,
                                what="tcp counts")
        except AssertionError:
            pass  # the equalities below say which is short
        m = self.agent.settle()
        m = self.agent.settle()  # one more --interval (1 s): every pending count collected
        figures = {
            "inbound": m.value("redeye_tcp_connections_total", **inbound),
            "outbound": m.value("redeye_tcp_connections_total", **outbound),
            "inbound closed": m.value("redeye_tcp_connection_duration_seconds_count", **inbound),
            "outbound closed": m.value("redeye_tcp_connection_duration_seconds_count", **outbound),
            "server outbound": m.value("redeye_tcp_connections_total", service_name=n["tcpserver"],
                                       direction="outbound"),
            "client inbound": m.value("redeye_tcp_connections_total", service_name=n["tcpclient"],
                                      direction="inbound"),
            "refused": m.value("redeye_tcp_connect_failures_total", **refused),
            "refuser failures": m.value("redeye_tcp_connect_failures_total", service_name=n["refuser"]),
            "refuser connections": m.value("redeye_tcp_connections_total", service_name=n["refuser"]),
        }
        print(f"\ntcp figures: {figures}", file=sys.stderr)
        self.assertEqual(figures, {
            "inbound": N_CONNECTIONS, "outbound": N_CONNECTIONS, "inbound closed": N_CONNECTIONS,
            "outbound closed": N_CONNECTIONS, "server outbound": 0, "client inbound": 0,
            "refused": N_REFUSED, "refuser failures": N_REFUSED, "refuser connections": 0})
        self.assertEqual(m.value("redeye_tcp_active_connections", **inbound), 0)
        self.assertEqual(m.value("redeye_tcp_active_connections", **outbound), 0)


if __name__ == "__main__":
    harness.main()
