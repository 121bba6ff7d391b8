"""RabbitMQ clients for test_amqp.py, one role per run (python3-pika):

  publish PORT QUEUE BODIES...   declare QUEUE, publish each body to the default
                                 exchange (publisher confirms on), one at a time
  trickle PORT QUEUE N MS        publish N bodies, MS milliseconds apart, no confirms
  consume PORT QUEUE N PREFETCH  settle by body: "r.." reject (requeue=false),
                                 "k.." nack (requeue=true) then ack when redelivered,
                                 else ack; "s.." sleeps 100 ms first; ends after N
                                 final settlements
  hold PORT QUEUE PREFETCH       consume and never ack; prints "held N" at PREFETCH
                                 deliveries, then waits for stdin to close
  missing PORT                   publish to an exchange that does not exist
  late PORT QUEUE N              connect and declare, print "ready", wait for a line
                                 on stdin, then publish N and fetch them with basic.get
                                 and ack (a connection older than the agent)
  idle PORT                      print the local port, wait until the broker
                                 closes the connection (at most 60 s)

A trailing tag=NAME argument only names the process for the agent's service
rules. Exits non-zero when something unexpected happens."""
import sys
import time

import pika


def connect(port):
    return pika.BlockingConnection(pika.ConnectionParameters(host="127.0.0.1", port=int(port), heartbeat=0,
                                                             blocked_connection_timeout=30))


def publish(port, queue, *bodies):
    conn = connect(port)
    ch = conn.channel()
    ch.queue_declare(queue)
    ch.confirm_delivery()
    for body in bodies:
        ch.basic_publish("", queue, body.encode())
    conn.close()


def trickle(port, queue, n, ms):
    conn = connect(port)
    ch = conn.channel()
    ch.queue_declare(queue)
    for i in range(int(n)):
        ch.basic_publish("", queue, f"t{i}".encode())
        time.sleep(int(ms) / 1000)
    conn.close()


def consume(port, queue, n, prefetch):
    conn = connect(port)
    ch = conn.channel()
    ch.queue_declare(queue)
    ch.basic_qos(prefetch_count=int(prefetch))
    done = [0]

    def on_message(ch, method, props, body):
        kind = body[:1]
        if kind == b"s":
            time.sleep(0.1)
        if kind == b"r":
            ch.basic_reject(method.delivery_tag, requeue=False)
        elif kind == b"k" and not method.redelivered:
            ch.basic_nack(method.delivery_tag, requeue=True)
            return
        else:
            ch.basic_ack(method.delivery_tag)
        done[0] += 1
        if done[0] == int(n):
            ch.stop_consuming()

    ch.basic_consume(queue, on_message)
    conn.call_later(60, ch.stop_consuming)
    ch.start_consuming()
    conn.close()
    if done[0] != int(n):
        sys.exit(f"settled {done[0]} of {n}")


def hold(port, queue, prefetch):
    conn = connect(port)
    ch = conn.channel()
    ch.queue_declare(queue)
    ch.basic_qos(prefetch_count=int(prefetch))
    held = []
    ch.basic_consume(queue, lambda ch, method, props, body: held.append(method.delivery_tag))
    deadline = time.monotonic() + 60
    while len(held) < int(prefetch) and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.1)
    print(f"held {len(held)}", flush=True)
    sys.stdin.read()
    conn.close()


def missing(port):
    conn = connect(port)
    ch = conn.channel()
    ch.basic_publish("redeye-missing", "k", b"x")
    try:
        ch.queue_declare("redeye-after-missing", passive=False)
    except pika.exceptions.ChannelClosedByBroker as e:
        if e.reply_code != 404:
            sys.exit(f"channel closed with {e.reply_code}")
        conn.close()
        return
    sys.exit("the channel was not closed")


def late(port, queue, n):
    conn = connect(port)
    ch = conn.channel()
    ch.queue_declare(queue)
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(int(n)):
        ch.basic_publish("", queue, f"l{i}".encode())
    got = 0
    deadline = time.monotonic() + 30
    while got < int(n) and time.monotonic() < deadline:
        method, props, body = ch.basic_get(queue)
        if method:
            ch.basic_ack(method.delivery_tag)
            got += 1
    conn.close()
    if got != int(n):
        sys.exit(f"got {got} of {n}")


def idle(port):
    conn = connect(port)
    sock = conn._impl._transport._sock
    print(f"port {sock.getsockname()[1]}", flush=True)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            conn.process_data_events(time_limit=0.2)
    except pika.exceptions.ConnectionClosedByBroker as e:
        print(f"closed {e.reply_code}", flush=True)
        return
    sys.exit("the broker did not close the connection")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("tag=")]
    {"publish": publish, "trickle": trickle, "consume": consume, "hold": hold, "missing": missing,
     "late": late, "idle": idle}[args[0]](*args[1:])
