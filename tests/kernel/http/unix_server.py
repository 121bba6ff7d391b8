"""An HTTP/1.1 keep-alive server on a Unix stream socket, for the kernel
tests: `unix_server.py PATH [tag=NAME]`, PATH a file path or "@name" for an
abstract socket. GET /status/NNN answers NNN (with a short body), anything
else 200. Prints "listening" once bound; when its stdin closes it prints the
requests it answered per status as JSON and exits: the server's own count,
the ground truth for the agent's."""
import collections
import http.server
import json
import os
import socketserver
import sys
import threading

COUNTS = collections.Counter()
LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def address_string(self):
        return "unix"

    def log_message(self, *args):
        pass

    def do_GET(self):
        status = 200
        if self.path.startswith("/status/"):
            status = int(self.path.split("/")[2])
        body = f"status {status}\n".encode()
        with LOCK:
            COUNTS[str(status)] += 1
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def server_bind(self):
        address = self.server_address
        if address.startswith("@"):
            address = "\0" + address[1:]
        self.socket.bind(address)


if __name__ == "__main__":
    path = [a for a in sys.argv[1:] if not a.startswith("tag=")][0]
    server = Server(path, Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print("listening", flush=True)
    sys.stdin.read()
    server.shutdown()
    with LOCK:
        print(json.dumps(dict(COUNTS)), flush=True)
    if not path.startswith("@"):
        os.unlink(path)
