"""Pod identity from a real cgroup named as the kubelet names them and a
fake /var/log/pods tree: a two-container pod's processes get
k8s_namespace_name, k8s_pod_name, k8s_container_name and their workload as
service_name, with exact TCP counts per container.

The cgroups are real: created under the host's cgroup v2 mount (at
/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts; the v1
name=systemd hierarchy when there is no v2), with the workload processes
moved into them between fork and exec. Only the kubelet's log directory is
fake, in a temporary directory passed with --pod-log-root.
"""
import os
import random
import shutil
import subprocess
import tempfile
import time
import unittest
import uuid

import harness
from harness import Agent, wait_line

CGROUP_ROOT = "/sys/fs/cgroup"
N_CONNECTIONS = 17
SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def cgroup_hierarchy():
    """The directory of a cgroup hierarchy we may create groups in."""
    mounts = []
    with open("/proc/mounts") as f:
        for line in f:
            _, target, fstype, options = line.split()[:4]
            mounts.append((target, fstype, options))
    for target, fstype, _ in mounts:
        if fstype == "cgroup2" and target.startswith(CGROUP_ROOT):
            return target
    for target, fstype, options in mounts:
        if fstype == "cgroup" and "name=systemd" in options.split(","):
            return target
    harness.cannot_run("no cgroup v2 mount and no name=systemd hierarchy under /sys/fs/cgroup")


def random_hex(n):
    return "".join(random.choice("0123456789abcdef") for _ in range(n))


class PodIdentity(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        cls.cleanups = []
        try:
            cls._build_pod()
            cls.agent = Agent("--cgroup-root", CGROUP_ROOT, "--pod-log-root", cls.pods_root)
            cls.agent.start()
            cls.cleanups.append(cls.agent.stop)
        except BaseException:
            cls._clean()
            raise

    @classmethod
    def tearDownClass(cls):
        cls._clean()

    @classmethod
    def _clean(cls):
        for fn in reversed(cls.cleanups):
            try:
                fn()
            except Exception as e:  # keep cleaning up the rest
                print(f"cleanup: {e}")

    @classmethod
    def _build_pod(cls):
        hierarchy = cgroup_hierarchy()
        cls.namespace = "redeye-test"
        cls.pod = "web-7c9f8d6b5-" + "".join(random.choice(SUFFIX_ALPHABET) for _ in range(5))
        cls.uid = str(uuid.uuid4())
        cls.ids = {"app": random_hex(64), "sidecar": random_hex(64)}
        # The kubelet's systemd-driver names, below a group of our own.
        cls.base = os.path.join(hierarchy, f"redeye-test-{os.getpid()}-{random_hex(6)}")
        pod_dir = os.path.join(cls.base, "kubepods.slice", "kubepods-besteffort.slice",
                               f"kubepods-besteffort-pod{cls.uid.replace('-', '_')}.slice")
        cls.scopes = {name: os.path.join(pod_dir, f"cri-containerd-{cid}.scope") for name, cid in cls.ids.items()}
        for scope in cls.scopes.values():
            os.makedirs(scope)
        cls.cleanups.append(lambda: cls._remove_cgroups(cls.base))

        tmp = tempfile.mkdtemp(prefix="redeye-pods-")
        cls.cleanups.append(lambda: shutil.rmtree(tmp, ignore_errors=True))
        cls.pods_root = os.path.join(tmp, "pods")
        pod_logs = os.path.join(cls.pods_root, f"{cls.namespace}_{cls.pod}_{cls.uid}")
        containers = os.path.join(tmp, "containers")
        os.makedirs(containers)
        for name, cid in cls.ids.items():
            os.makedirs(os.path.join(pod_logs, name))
            log = os.path.join(pod_logs, name, "0.log")
            open(log, "w").close()
            os.symlink(log, os.path.join(containers, f"{cls.pod}_{cls.namespace}_{name}-{cid}.log"))

    @staticmethod
    def _remove_cgroups(base):
        """rmdir deepest first, once every process has left."""
        deadline = time.monotonic() + 10
        for dirpath, _, _ in sorted(os.walk(base), key=lambda w: -w[0].count("/")):
            while True:
                try:
                    os.rmdir(dirpath)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)  # a killed process still leaving

    def start_in(self, container, *args):
        """The workload helper, moved into the container's cgroup before it
        execs (as container runtimes do), so the agent never sees it outside."""
        procs = os.path.join(self.scopes[container], "cgroup.procs")

        def move_self():
            with open(procs, "w") as f:
                f.write(str(os.getpid()))

        proc = subprocess.Popen([harness.ARGS.workload, *map(str, args)], preexec_fn=move_self,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        def stop():
            proc.kill()
            proc.communicate()  # reaps it and closes the pipes
        self.addCleanup(stop)
        return proc

    def test_each_container_of_the_pod_is_labelled_and_counted(self):
        port = harness.free_port()
        server = self.start_in("app", "serve", port, N_CONNECTIONS)
        wait_line(server, "listening")
        with open(f"/proc/{server.pid}/cgroup") as f:
            self.assertIn(self.ids["app"], f.read(), "the server is not in the app container's cgroup")
        client = self.start_in("sidecar", "connect", "127.0.0.1", port, N_CONNECTIONS)
        out, err = client.communicate(timeout=30)
        self.assertEqual(client.returncode, 0, err)
        self.assertEqual(out.strip(), f"connected {N_CONNECTIONS}")
        self.assertEqual(server.wait(30), 0)

        pod = dict(k8s_namespace_name=self.namespace, k8s_pod_name=self.pod)
        app = dict(pod, k8s_container_name="app", service_name="web")
        sidecar = dict(pod, k8s_container_name="sidecar", service_name="web")
        self.agent.wait_for(
            lambda m: m.value("redeye_tcp_connections_total", direction="inbound", **app) >= N_CONNECTIONS
            and m.value("redeye_tcp_connections_total", direction="outbound", **sidecar) >= N_CONNECTIONS,
            what="the pod's connections")
        m = self.agent.settle()
        inbound = m.value("redeye_tcp_connections_total", direction="inbound", **app)
        outbound = m.value("redeye_tcp_connections_total", direction="outbound", **sidecar)
        print(f"pod {self.pod}: app inbound {inbound:.0f}, sidecar outbound {outbound:.0f}")
        self.assertEqual(inbound, N_CONNECTIONS)
        self.assertEqual(outbound, N_CONNECTIONS)
        # nothing of the pod under other labels
        self.assertEqual(m.value("redeye_tcp_connections_total", **pod), 2 * N_CONNECTIONS)
        self.assertEqual(m.value("redeye_tcp_connections_total", direction="outbound", **app), 0)
        self.assertEqual(m.value("redeye_tcp_connections_total", direction="inbound", **sidecar), 0)
        # every series carries the pod labels: the pod is the only label set
        # with its name, and service "web" exists only inside it
        for labels, _ in m.select("redeye_tcp_connections_total", service_name="web"):
            self.assertEqual(labels.get("k8s_pod_name"), self.pod, labels)

    def test_a_process_outside_the_pod_has_empty_pod_labels(self):
        m = self.agent.wait_for(lambda m: m.has("redeye_process_open_fds", service_name="redeye"),
                                what="the agent's own series")
        (labels, _), = m.select("redeye_process_open_fds", service_name="redeye")
        for key in ("k8s_namespace_name", "k8s_pod_name", "k8s_container_name"):
            self.assertEqual(labels.get(key, ""), "", key)

    def test_gauges_of_a_live_container_carry_its_labels(self):
        holder = self.start_in("app", "fds", 13, 10000)
        wait_line(holder, "holding")
        app = dict(k8s_namespace_name=self.namespace, k8s_pod_name=self.pod, k8s_container_name="app",
                   service_name="web")
        m = self.agent.wait_for(lambda m: m.value("redeye_process_open_fds", **app) == 13 + 3,
                                what="the app container's open fds")
        self.assertGreater(m.value("redeye_process_resident_memory_bytes", **app), 0)
        holder.kill()
        holder.wait()
        self.agent.wait_for(lambda m: not m.has("redeye_process_open_fds", **app), what="the gauges removed")


if __name__ == "__main__":
    harness.main()
