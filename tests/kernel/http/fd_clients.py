"""HTTP/1.1 clients that share one TCP connection between file descriptors
and processes, for test_shared_sockets.py. Each request is
"GET /<mode>/<i>" (every third one "/missing/<mode>/<i>") on one keep-alive
connection to 127.0.0.1:PORT, written with write(2) and answered with
read(2) on the fd the mode says; each response is read to the end of its
Content-Length before the next request is sent.

  dup|dup2|dup3 PORT N M
      connect; copy the fd (dup, dup2 onto fd 77, dup3 onto fd 78); N
      requests each written on one fd and its response read on the other,
      alternating; then close the original and make M more on the copy
  pass PORT N1 N2 N3 CHILD_TAG
      connect, N1 requests; start a child process (its own executable run,
      tag=CHILD_TAG) and hand it the connection over a Unix socketpair
      (SCM_RIGHTS); the child makes N2 requests on the fd it received,
      says "done" and exits; the parent then makes N3 more and closes
  fork PORT N1 N2 N3
      connect, N1 requests; fork; the child makes N2, lingers 1.5 s and
      exits; the parent waits for it, then makes N3

Prints JSON {"status": count} of the responses this process read (the
parent's include its child's for "fork"; for "pass" the child prints its
own line first, prefixed "child "). A trailing tag=NAME argument only names
the process for the agent's service rules. Every read is bounded by a
timeout."""
import collections
import json
import os
import socket
import subprocess
import sys
import time

TIMEOUT = 10


def request(i, mode):
    path = f"/missing/{mode}/{i}" if i % 3 == 2 else f"/{mode}/{i}"
    return f"GET {path} HTTP/1.1\r\nHost: shared\r\nUser-Agent: fd-clients\r\n\r\n".encode()


def read_response(fd):
    """Reads one response (head and Content-Length body) from fd; its status."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = os.read(fd, 65536)
        if not chunk:
            sys.exit("connection closed before a response head")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    while len(body) < length:
        chunk = os.read(fd, 65536)
        if not chunk:
            sys.exit("connection closed inside a body")
        body += chunk
    if len(body) != length:
        sys.exit("more bytes than one response: the exchange is not one request at a time")
    return lines[0].split()[1]


def exchange(write_fd, read_fd, i, mode, counts):
    os.write(write_fd, request(i, mode))
    counts[read_response(read_fd)] += 1


def connect(port):
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=TIMEOUT)
    s.settimeout(None)  # plain blocking reads; the test bounds the whole run
    return s


def copies(port, n, m, mode):
    s = connect(port)
    fd = s.fileno()
    if mode == "dup":
        copy = os.dup(fd)
    elif mode == "dup2":
        copy = os.dup2(fd, 77)
    else:
        copy = os.dup2(fd, 78, inheritable=False)  # dup3(2) on Linux
    counts = collections.Counter()
    fds = (fd, copy)
    for i in range(int(n)):
        exchange(fds[i % 2], fds[(i + 1) % 2], i, mode, counts)
    s.close()  # the original fd; the connection lives on in the copy
    for i in range(int(n), int(n) + int(m)):
        exchange(copy, copy, i, mode, counts)
    os.close(copy)
    return counts


def pass_fd(port, n1, n2, n3, child_tag):
    s = connect(port)
    counts = collections.Counter()
    for i in range(int(n1)):
        exchange(s.fileno(), s.fileno(), i, "pass", counts)
    parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    child = subprocess.Popen([sys.executable, os.path.abspath(__file__), "receive", str(child_end.fileno()),
                              str(int(n1)), str(int(n2)), f"tag={child_tag}"], pass_fds=(child_end.fileno(),))
    child_end.close()
    socket.send_fds(parent_end, [b"fd"], [s.fileno()])
    parent_end.settimeout(TIMEOUT * 3)
    if parent_end.recv(16) != b"done":
        sys.exit("the child did not finish")
    if child.wait(TIMEOUT) != 0:
        sys.exit(f"the child exited with {child.returncode}")
    for i in range(int(n1) + int(n2), int(n1) + int(n2) + int(n3)):
        exchange(s.fileno(), s.fileno(), i, "pass", counts)
    s.close()
    return counts


def receive(channel_fd, first, n):
    channel = socket.socket(fileno=int(channel_fd))
    channel.settimeout(TIMEOUT)
    _, fds, _, _ = socket.recv_fds(channel, 16, 1)
    if len(fds) != 1:
        sys.exit(f"received {len(fds)} fds")
    counts = collections.Counter()
    for i in range(int(first), int(first) + int(n)):
        exchange(fds[0], fds[0], i, "pass", counts)
    os.close(fds[0])
    print("child " + json.dumps(counts), flush=True)
    channel.sendall(b"done")
    channel.close()


def fork(port, n1, n2, n3):
    s = connect(port)
    counts = collections.Counter()
    for i in range(int(n1)):
        exchange(s.fileno(), s.fileno(), i, "fork", counts)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        child = collections.Counter()
        for i in range(int(n1), int(n1) + int(n2)):
            exchange(s.fileno(), s.fileno(), i, "fork", child)
        os.write(w, json.dumps(child).encode())
        # Live on a moment: a forked child (no exec) that is gone before the
        # agent first sees it alive is named by its command name, not by the
        # tag in its command line. That is the process table's limit, not
        # what this client is for.
        time.sleep(1.5)
        os._exit(0)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        sys.exit(f"the child exited with {status}")
    with os.fdopen(r) as f:
        counts.update(json.loads(f.read()))
    for i in range(int(n1) + int(n2), int(n1) + int(n2) + int(n3)):
        exchange(s.fileno(), s.fileno(), i, "fork", counts)
    s.close()
    return counts


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("tag=")]
    mode = args[0]
    if mode == "receive":
        receive(*args[1:])
        sys.exit(0)
    if mode in ("dup", "dup2", "dup3"):
        result = copies(*args[1:], mode)
    elif mode == "pass":
        result = pass_fd(*args[1:])
    elif mode == "fork":
        result = fork(*args[1:])
    else:
        sys.exit(f"unknown mode {mode}")
    print(json.dumps(result), flush=True)
