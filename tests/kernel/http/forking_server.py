"""An HTTP/1.1 server that forks a child for every connection, like
PostgreSQL's postmaster or inetd: the child answers one request and exits at
once, and the parent reaps it at once, so the child's /proc entry is usually
gone before the agent reads the child's data.

  forking_server.py PORT_FILE MAX_CONNECTIONS tag=NAME

Writes its port to PORT_FILE when listening; serves MAX_CONNECTIONS
connections, then prints `served N` (N: children that exited with status 0,
each after sending one 200 response) and exits. The tag argument is there
only for the agent's cmdline rule."""
import os
import socket
import sys


def answer(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return 1
        data += chunk
    body = b"forked\n"
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    return 0


def main():
    port_file, limit = sys.argv[1], int(sys.argv[2])
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(60)  # every wait bounded: a client that never comes ends the server
    with open(port_file + ".tmp", "w") as f:
        f.write(str(listener.getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    served = 0
    for _ in range(limit):
        conn, _ = listener.accept()
        pid = os.fork()
        if pid == 0:
            listener.close()
            conn.settimeout(10)
            try:
                status = answer(conn)
                conn.close()
            except OSError:
                status = 1
            os._exit(status)
        conn.close()
        _, status = os.waitpid(pid, 0)
        served += status == 0
    print(f"served {served}", flush=True)


if __name__ == "__main__":
    main()
