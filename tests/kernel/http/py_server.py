"""A Python http.server speaking HTTP/1.0 with connection close, for the
kernel tests: /sleep50 answers after 50 ms, /close-delimited answers with
no Content-Length (the body ends when the connection closes), anything
else answers 200 with a length, /fail answers 503."""
import http.server
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path.startswith("/sleep50"):
            time.sleep(0.05)
        if self.path.startswith("/close-delimited"):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"x" * 3000)
            return
        status = 503 if self.path.startswith("/fail") else 200
        body = b"ok\n"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        self.do_POST()

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()


if __name__ == "__main__":
    server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    print("listening", flush=True)
    server.serve_forever()
