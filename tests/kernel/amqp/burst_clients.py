"""RabbitMQ clients that send and receive in bursts, for
test_capture_bursts.py (python3-pika, BlockingConnection, run with
/usr/bin/python3):

  publish PORT QUEUE N plain|packed
      declare QUEUE and publish N small bodies to the default exchange as
      fast as pika goes, no publisher confirms. "plain": each basic_publish
      is sent as pika sends it (one send per frame); "packed": 100
      publishes at a time are queued and leave in one write.
  consume PORT QUEUE N PREFETCH single|multiple
      consume QUEUE with that prefetch and take deliveries as they come;
      after each pass of the I/O loop, settle every delivery of the pass,
      "single": one basic.ack (multiple=False) each, "multiple": one
      basic.ack multiple=True for the lot, and send all of the pass's acks
      in one write. Prints "ready" once consuming, then JSON: acks sent,
      deliveries acked, passes, the largest pass.

pika writes each frame with its own send(); packing joins what is queued
into one buffer before it is flushed, so the bytes leave the way a client
with a buffered writer sends them (many frames per write). A trailing
tag=NAME argument only names the process for the agent's service rules.
Exits non-zero when something unexpected happens; every loop is bounded."""
import json
import sys
import time

import pika


def connect(port):
    return pika.BlockingConnection(pika.ConnectionParameters(host="127.0.0.1", port=int(port), heartbeat=0,
                                                             blocked_connection_timeout=60))


def pack(conn):
    """Join the frames pika has queued into one buffer: one write."""
    tx = conn._impl._transport._tx_buffers
    if len(tx) > 1:
        joined = b"".join(tx)
        tx.clear()
        tx.append(joined)


def publish(port, queue, n, mode):
    conn = connect(port)
    ch = conn.channel()
    ch.queue_declare(queue)
    n = int(n)
    if mode == "plain":
        for i in range(n):
            ch.basic_publish("", queue, f"b{i}".encode())
    elif mode == "packed":
        for start in range(0, n, 100):
            for i in range(start, min(n, start + 100)):
                ch._impl.basic_publish("", queue, f"b{i}".encode())
            pack(conn)
            conn.process_data_events(time_limit=0)  # flushes the write
    else:
        sys.exit(f"unknown publish mode {mode}")
    conn.close()
    print(json.dumps({"published": n}))


def consume(port, queue, n, prefetch, mode):
    if mode not in ("single", "multiple"):
        sys.exit(f"unknown ack mode {mode}")
    n = int(n)
    conn = connect(port)
    ch = conn.channel()
    ch.queue_declare(queue)
    ch.basic_qos(prefetch_count=int(prefetch))
    pending = []
    ch.basic_consume(queue, lambda c, method, props, body: pending.append(method.delivery_tag))
    print("ready", flush=True)
    acked = acks = passes = largest = 0
    deadline = time.monotonic() + 180
    while acked < n and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.05)
        if not pending:
            continue
        if mode == "single":
            for tag in pending:
                ch._impl.basic_ack(tag)
            acks += len(pending)
        else:
            ch._impl.basic_ack(pending[-1], multiple=True)
            acks += 1
        pack(conn)
        acked += len(pending)
        passes += 1
        largest = max(largest, len(pending))
        pending.clear()
    conn.process_data_events(time_limit=0)  # the last pass's acks
    conn.close()
    print(json.dumps({"acks": acks, "acked": acked, "passes": passes, "largest_pass": largest}), flush=True)
    if acked != n:
        sys.exit(f"acked {acked} of {n}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("tag=")]
    {"publish": publish, "consume": consume}[args[0]](*args[1:])
