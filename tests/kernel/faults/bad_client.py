"""Sends malformed traffic to a real server, one connection per stream, and
prints how many streams it sent. Bounded: every socket has a timeout.

  bad_client.py MODE PORT N [tag=...]

Modes (HTTP):  random, negative-length, valid-then-garbage, truncated,
               oversized-head, short-body
Modes (PostgreSQL): pg-random, pg-huge-length, pg-truncated-startup
Modes (AMQP 0-9-1): amqp-random, amqp-bad-frame-end, amqp-huge-frame
"""
import random
import socket
import struct
import sys
import time

RNG = random.Random(8)


def garbage(n):
    # never a request line: the first byte is not an upper-case letter
    return bytes([0x01]) + bytes(RNG.randrange(256) for _ in range(n - 1))


def drain(s, seconds=2.0):
    """Reads what the server answers until it closes or goes quiet."""
    s.settimeout(0.3)
    deadline = time.monotonic() + seconds
    data = b""
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionError:
            break
        if not chunk:
            break
        data += chunk
    return data


def pg_startup():
    params = b"user\0postgres\0database\0postgres\0\0"
    return struct.pack("!ii", 8 + len(params), 196608) + params


def pg_wait_ready(s):
    """Reads until ReadyForQuery ('Z')."""
    s.settimeout(5)
    data = b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("postgres closed during startup")
        data += chunk
        if b"Z\0\0\0\x05" in data:
            return
    raise SystemExit("postgres never became ready")


AMQP_HEADER = b"AMQP\0\0\x09\x01"


def amqp_wait_start(s):
    """Reads the broker's connection.start after the protocol header."""
    s.settimeout(5)
    data = b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(data) < 7:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("broker closed before connection.start")
        data += chunk
    if not data.startswith(b"\x01\0\0"):
        raise SystemExit(f"no connection.start from the broker: {data[:16]!r}")


def send(mode, port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        if mode.startswith("amqp-") and mode != "amqp-random":
            s.sendall(AMQP_HEADER)
        if mode == "random":
            s.sendall(garbage(RNG.randrange(64, 4096)))
        elif mode == "negative-length":
            s.sendall(b"GET /neg HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
        elif mode == "valid-then-garbage":
            s.sendall(b"GET /valid-first HTTP/1.1\r\nHost: x\r\n\r\n" + garbage(512))
        elif mode == "truncated":
            s.sendall(b"GET /truncated HTTP/1.1\r\nHo")
            time.sleep(0.05)
        elif mode == "oversized-head":
            s.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
        elif mode == "short-body":
            s.sendall(b"POST /short HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-some")
            time.sleep(0.05)
        elif mode == "pg-random":
            s.sendall(garbage(RNG.randrange(64, 4096)))
        elif mode == "pg-huge-length":
            s.sendall(pg_startup())
            pg_wait_ready(s)
            s.sendall(b"Q" + struct.pack("!I", 0x7FFFFFF0) + b"SELECT 1;\0")
        elif mode == "pg-truncated-startup":
            s.sendall(struct.pack("!ii", 200, 196608) + b"user\0")
            time.sleep(0.05)
        elif mode == "amqp-random":
            s.sendall(garbage(RNG.randrange(64, 4096)))
        elif mode == "amqp-bad-frame-end":
            # connection.start-ok's place: a method frame whose end byte is wrong
            amqp_wait_start(s)
            payload = struct.pack("!HH", 10, 11) + b"\0" * 8
            s.sendall(struct.pack("!BHI", 1, 0, len(payload)) + payload + b"\x00")
        elif mode == "amqp-huge-frame":
            # a frame header claiming ~2 GB, then a few bytes of it
            amqp_wait_start(s)
            s.sendall(struct.pack("!BHI", 1, 0, 0x7FFFFFF0) + b"\0" * 32)
        else:
            raise SystemExit(f"unknown mode {mode}")
        if mode not in ("truncated", "short-body", "pg-truncated-startup"):
            drain(s)
    finally:
        s.close()


def main():
    mode, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    for _ in range(n):
        send(mode, port)
    print(f"sent {n}", flush=True)


if __name__ == "__main__":
    main()
