"""A throwaway RabbitMQ node for the kernel tests: its own node name, AMQP,
distribution, epmd and Prometheus ports on loopback, its own data, log and
config files and cookie (HOME) in a tempdir. Started and stopped by the test,
every wait bounded."""
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import harness

BIN = "/usr/lib/rabbitmq/bin"


class Rabbit:
    def __init__(self, startup_timeout=60):
        if not os.path.exists(f"{BIN}/rabbitmq-server"):
            harness.cannot_run("rabbitmq-server is not installed (scripts/install-deps.sh --with-tests)")
        self.dir = tempfile.mkdtemp(prefix="redeye-rabbit-")
        self.port = harness.free_port()
        self.prometheus_port = harness.free_port()
        self.epmd_port = harness.free_port()
        self.node = f"redeye-test-{self.port}@localhost"
        conf = os.path.join(self.dir, "rabbitmq.conf")
        with open(conf, "w") as f:
            f.write(f"prometheus.tcp.port = {self.prometheus_port}\nprometheus.tcp.ip = 127.0.0.1\n"
                    "management_agent.disable_metrics_collector = false\n"
                    "log.console = false\nlog.file.level = warning\n")
        plugins = os.path.join(self.dir, "enabled_plugins")
        with open(plugins, "w") as f:
            f.write("[rabbitmq_prometheus].\n")
        self.env = dict(
            os.environ, HOME=self.dir, RABBITMQ_NODENAME=self.node, RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1", RABBITMQ_DIST_PORT=str(harness.free_port()),
            ERL_EPMD_PORT=str(self.epmd_port), ERL_EPMD_ADDRESS="127.0.0.1",
            RABBITMQ_MNESIA_BASE=os.path.join(self.dir, "mnesia"), RABBITMQ_LOG_BASE=os.path.join(self.dir, "log"),
            RABBITMQ_CONFIG_FILE=conf, RABBITMQ_ENABLED_PLUGINS_FILE=plugins,
            RABBITMQ_ADVANCED_CONFIG_FILE=os.path.join(self.dir, "advanced.config"),
            RABBITMQ_PID_FILE=os.path.join(self.dir, "rabbit.pid"),
            RABBITMQ_PLUGINS_EXPAND_DIR=os.path.join(self.dir, "plugins-expand"))
        self.proc = subprocess.Popen([f"{BIN}/rabbitmq-server"], env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            self._wait_listening(startup_timeout)
            self.ctl("await_startup", timeout=startup_timeout)
        except Exception:
            self.stop()
            raise

    def _wait_listening(self, timeout):
        # The AMQP listener opens last in the boot: until then rabbitmqctl
        # finds no node to wait for.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"rabbitmq-server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"rabbitmq-server did not listen on {self.port} within {timeout}s: {self.log_tail()}")

    def log_tail(self):
        logs = os.path.join(self.dir, "log")
        out = ""
        for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
            with open(os.path.join(logs, name), errors="replace") as f:
                out += f.read()[-2000:]
        return out

    def ctl(self, *args, timeout=30):
        r = subprocess.run([f"{BIN}/rabbitmqctl", "-n", self.node, *args], env=self.env, capture_output=True,
                           text=True, timeout=timeout)
        if r.returncode != 0:
            raise AssertionError(f"rabbitmqctl {' '.join(args)}: {r.stderr.strip() or r.stdout.strip()}")
        return r.stdout

    def prometheus(self):
        """The broker's own counters (rabbitmq_prometheus, aggregated)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.prometheus_port}/metrics", timeout=10) as r:
            return harness.Metrics(r.read().decode())

    def connection_pids(self, client_port):
        """Erlang pids of the connections whose client uses `client_port`."""
        out = self.ctl("list_connections", "pid", "peer_port", "--no-table-headers", "--silent")
        return [line.split()[0] for line in out.splitlines() if line.split()[1:] == [str(client_port)]]

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.ctl("stop", timeout=30)
            except Exception:
                pass
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        # The epmd this node started serves only its own port.
        subprocess.run(["epmd", "-port", str(self.epmd_port), "-kill"], env=self.env, capture_output=True, timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
