"""RabbitMQ (AMQP 0-9-1) from the kernel against a real broker: what the agent
counts at the client processes equals what the clients did and what the
broker counted itself (rabbitmq_prometheus); a 100 ms consumer is measured as
such; prefetch 50 without acks is 50 messages in flight; a publish to a
missing exchange is a channel close 404 and rabbitmqctl close_connection a
connection close 320. One broker, on its own ports and data, for all cases."""
import os
import subprocess
import sys
import unittest

import harness
from harness import Agent, rule

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "amqp"))
import broker  # noqa: E402

CLIENTS = os.path.join(HERE, "amqp", "clients.py")
PYTHON = "/usr/bin/python3"  # the interpreter python3-pika is installed for
SERVICES = ["amqplate", "amqppub", "amqpcons", "amqpslowpub", "amqpslow", "amqptrickle", "amqphold", "amqpmissing",
            "amqpidle"]


def svc(name):
    """The run's own service name: another run of this test on the host
    (its clients named alike) must not count into this one. The trailing
    "_" keeps one name from being a prefix of another in the cmdline rules."""
    return f"{name}_{AmqpRed.rabbit.port}_"


def client(*args, tag, timeout=90):
    r = subprocess.run([PYTHON, CLIENTS, *map(str, args), f"tag={tag}"], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"client {args} failed ({r.returncode}): {r.stderr[-2000:]}")
    return r.stdout


def start_client(test, *args, tag):
    proc = subprocess.Popen([PYTHON, CLIENTS, *map(str, args), f"tag={tag}"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def end():
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        for f in (proc.stdin, proc.stdout, proc.stderr):
            f.close()
    test.addCleanup(end)
    return proc


def global_counter(m, name):
    return m.value(f"rabbitmq_global_messages_{name}_total", protocol="amqp091")


class AmqpRed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        if subprocess.run([PYTHON, "-c", "import pika"], capture_output=True).returncode != 0:
            harness.cannot_run("python3-pika is not installed (scripts/install-deps.sh --with-tests)")
        cls.rabbit = broker.Rabbit()
        rules = [arg for s in SERVICES for arg in rule(svc(s), svc(s))]
        cls.agent = Agent(*rules, "--service", f"amqpbroker=cmdline:{cls.rabbit.dir}")
        try:
            cls.agent.start()
        except Exception:
            cls.rabbit.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.agent.stop()
        cls.rabbit.stop()

    def wait_value(self, name, want, what, timeout=20, **labels):
        try:
            return self.agent.wait_for(lambda m: m.value(name, **labels) == want, timeout=timeout, what=what)
        except AssertionError:
            self.fail(f"{what}: {name}{labels} = {self.agent.metrics().value(name, **labels)}, expected {want}")

    def test_counts_at_the_clients_match_the_workload_and_the_broker(self):
        n_ack, n_reject, n_nack = 20, 5, 5
        bodies = [f"a{i}" for i in range(n_ack)] + [f"r{i}" for i in range(n_reject)] + \
            [f"k{i}" for i in range(n_nack)]
        bodies = bodies[::2] + bodies[1::2]  # interleaved
        n = len(bodies)
        queue = "redeye-counts"
        truth_before = self.rabbit.prometheus()
        # The broker's default exchange takes the other tests' publishes too.
        broker_sent = dict(service_name="amqpbroker", messaging_destination_name="amq.default")
        broker_sent_before = self.agent.metrics().value("messaging_client_sent_messages_total", **broker_sent)
        client("publish", self.rabbit.port, queue, *bodies, tag=svc("amqppub"))
        client("consume", self.rabbit.port, queue, n, 10, tag=svc("amqpcons"))
        truth_after = self.rabbit.prometheus()

        settled = "messaging_client_settled_messages_total"
        cons = dict(service_name=svc("amqpcons"), messaging_source_name=queue)
        self.wait_value(settled, n_ack + n_nack, "acks at the consumer", outcome="ack", requeue="false", **cons)
        m = self.agent.settle()
        pub = dict(service_name=svc("amqppub"), messaging_destination_name="amq.default")
        figures = {
            "sent": m.value("messaging_client_sent_messages_total", messaging_system="rabbitmq", **pub),
            "confirmed": m.value("messaging_client_publish_confirm_duration_seconds_count", outcome="ack", **pub),
            "delivered": m.value("messaging_client_consumed_messages_total", messaging_system="rabbitmq",
                                 operation="deliver", **cons),
            "acked": m.value(settled, outcome="ack", requeue="false", **cons),
            "rejected": m.value(settled, outcome="reject", requeue="false", **cons),
            "nacked": m.value(settled, outcome="nack", requeue="true", **cons),
        }
        print(f"\nagent at the clients: {figures}", file=sys.stderr)
        self.assertEqual(figures, {"sent": n, "confirmed": n, "delivered": n + n_nack, "acked": n_ack + n_nack,
                                   "rejected": n_reject, "nacked": n_nack})
        self.assertEqual(m.value(settled, outcome="reject", requeue="true", **cons), 0)
        self.assertEqual(m.value(settled, outcome="nack", requeue="false", **cons), 0)
        self.assertEqual(m.value("messaging_process_duration_seconds_count", outcome="ack", **cons), n_ack + n_nack)
        self.assertEqual(m.value("messaging_client_unacked_messages", **cons), 0)
        self.assertEqual(m.value("messaging_client_consumers", **cons), 0)

        def delta(name):
            return global_counter(truth_after, name) - global_counter(truth_before, name)
        truth = {"received": delta("received"), "confirmed": delta("confirmed"),
                 "delivered": delta("delivered_consume_manual_ack"), "acknowledged": delta("acknowledged"),
                 "redelivered": delta("redelivered")}
        print(f"broker's own counters: {truth}", file=sys.stderr)
        self.assertEqual(truth["received"], figures["sent"])
        self.assertEqual(truth["confirmed"], figures["confirmed"])
        self.assertEqual(truth["delivered"], figures["delivered"])
        self.assertEqual(truth["acknowledged"], figures["acked"])
        self.assertEqual(truth["redelivered"], figures["nacked"])

        # The broker process sees the same frames the other way round.
        b = dict(service_name="amqpbroker")
        at_broker = {
            "sent": m.value("messaging_client_sent_messages_total", **broker_sent) - broker_sent_before,
            "delivered": m.value("messaging_client_consumed_messages_total", messaging_source_name=queue, **b),
            "acked": m.value(settled, messaging_source_name=queue, outcome="ack", **b),
            "rejected": m.value(settled, messaging_source_name=queue, outcome="reject", **b),
            "nacked": m.value(settled, messaging_source_name=queue, outcome="nack", **b),
        }
        print(f"agent at the broker: {at_broker}", file=sys.stderr)
        self.assertEqual(at_broker, {"sent": n, "delivered": n + n_nack, "acked": n_ack + n_nack,
                                     "rejected": n_reject, "nacked": n_nack})

    def test_process_duration_of_a_consumer_sleeping_100_ms(self):
        n = 10
        queue = "redeye-slow"
        client("publish", self.rabbit.port, queue, *[f"s{i}" for i in range(n)], tag=svc("amqpslowpub"))
        client("consume", self.rabbit.port, queue, n, 1, tag=svc("amqpslow"))
        labels = dict(service_name=svc("amqpslow"), messaging_source_name=queue, outcome="ack")
        m = self.wait_value("messaging_process_duration_seconds_count", n, "slow acks", **labels)
        mean = m.value("messaging_process_duration_seconds_sum", **labels) / n
        print(f"\nmean process duration {mean:.4f} s over {n}", file=sys.stderr)
        self.assertAlmostEqual(mean, 0.100, delta=0.005)

    def test_prefetch_50_without_acks_is_50_in_flight(self):
        queue = "redeye-held"
        holder = start_client(self, "hold", self.rabbit.port, queue, 50, tag=svc("amqphold"))
        labels = dict(service_name=svc("amqphold"), messaging_source_name=queue)
        self.wait_value("messaging_client_consumers", 1, "consumer registered", **labels)
        client("trickle", self.rabbit.port, queue, 60, 5, tag=svc("amqptrickle"))
        self.assertEqual(harness.wait_line(holder, "held", timeout=30), "held 50")
        m = self.wait_value("messaging_client_unacked_messages", 50, "messages in flight", **labels)
        self.assertEqual(m.value("messaging_client_consumed_messages_total", operation="deliver", **labels), 50)
        self.assertEqual(m.value("messaging_client_sent_messages_total", service_name=svc("amqptrickle")), 60)
        truth = self.rabbit.ctl("list_queues", "name", "messages_unacknowledged", "messages_ready",
                                "--no-table-headers", "--silent")
        row = [line.split() for line in truth.splitlines() if line.split()[:1] == [queue]]
        print(f"\nbroker: {row}, agent: unacked 50", file=sys.stderr)
        self.assertEqual(row, [[queue, "50", "10"]])
        self.assertEqual(m.value("messaging_client_unacked_messages", service_name="amqpbroker",
                                 messaging_source_name=queue), 50)
        # The consumer goes: nothing is in flight any more.
        holder.stdin.close()
        holder.wait(30)
        self.wait_value("messaging_client_unacked_messages", 0, "in flight after the close", **labels)
        self.wait_value("messaging_client_consumers", 0, "consumer gone", **labels)

    def test_connection_older_than_the_agent(self):
        n = 12
        queue = "redeye-late"
        late = start_client(self, "late", self.rabbit.port, queue, n, tag=svc("amqplate"))
        self.assertEqual(harness.wait_line(late, "ready", timeout=30), "ready")
        # A second agent that starts after the connection exists: the kernel
        # tells AMQP from the frames alone and the parser learns the roles.
        with Agent(*rule(svc("amqplate"), svc("amqplate"))) as agent:
            late.stdin.write("go\n")
            late.stdin.flush()
            self.assertEqual(late.wait(30), 0, late.stderr.read())
            labels = dict(service_name=svc("amqplate"))
            try:
                m = agent.wait_for(lambda m: m.value("messaging_client_settled_messages_total", **labels) == n,
                                   what="acks on the old connection")
            except AssertionError:
                self.fail(f"settled {agent.metrics().value('messaging_client_settled_messages_total', **labels)}")
            m = agent.settle()
            figures = {
                "sent": m.value("messaging_client_sent_messages_total", messaging_destination_name="amq.default",
                                **labels),
                "got": m.value("messaging_client_consumed_messages_total", messaging_source_name=queue,
                               operation="get", **labels),
                "acked": m.value("messaging_client_settled_messages_total", messaging_source_name=queue,
                                 outcome="ack", **labels),
                "unacked": m.value("messaging_client_unacked_messages", messaging_source_name=queue, **labels),
            }
            print(f"\nold connection: {figures}", file=sys.stderr)
            self.assertEqual(figures, {"sent": n, "got": n, "acked": n, "unacked": 0})

    def test_missing_exchange_and_forced_close(self):
        client("missing", self.rabbit.port, tag=svc("amqpmissing"))
        self.wait_value("redeye_amqp_channel_closes_total", 1, "channel close 404", service_name=svc("amqpmissing"),
                        reply_code="404", side="server")
        idle = start_client(self, "idle", self.rabbit.port, tag=svc("amqpidle"))
        port = int(harness.wait_line(idle, "port", timeout=30).split()[1])
        pids = self.rabbit.connection_pids(port)
        self.assertEqual(len(pids), 1, pids)
        self.rabbit.ctl("close_connection", pids[0], "redeye test")
        self.assertEqual(harness.wait_line(idle, "closed", timeout=30), "closed 320")
        m = self.wait_value("redeye_amqp_connection_closes_total", 1, "forced close", service_name=svc("amqpidle"),
                            reply_code="320", side="server")
        self.assertGreaterEqual(m.value("redeye_amqp_connection_closes_total", service_name="amqpbroker",
                                        reply_code="320", side="server"), 1)
        # every other client closed its connection itself, normally
        self.assertEqual(m.value("redeye_amqp_connection_closes_total", service_name=svc("amqpmissing"),
                                 reply_code="200", side="client"), 1)


if __name__ == "__main__":
    harness.main()
