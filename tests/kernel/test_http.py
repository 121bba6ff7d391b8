"""HTTP RED from the kernel against real servers and clients on loopback:
exact counts against ground truth (nginx's access log, the clients' own
counts), methods, statuses, routes, latency and client-side series."""
import collections
import os
import random
import shutil
import socket
import string
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Agent, rule

HERE = os.path.dirname(os.path.abspath(__file__))

NGINX_CONF = """
worker_processes 2;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
daemon off;
events {{ worker_connections 1024; }}
http {{
  log_format status '$status $request_method $uri $request_completion';
  access_log {dir}/access.log status;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fcgi;
  uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  keepalive_requests 1000000;
  sendfile on;
  server {{
    listen 127.0.0.1:{tls_port} ssl;
    ssl_certificate {dir}/cert.pem;
    ssl_certificate_key {dir}/key.pem;
    location / {{ return 200 "secure\\n"; }}
    location /secret-missing {{ return 404; }}
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{ return 200 "hello\\n"; }}
    location /missing {{ return 404; }}
    location /files/ {{ alias {dir}/files/; }}
    location /error {{ return 500; }}
  }}
}}
"""

BIG_FILE = 5 * 1024 * 1024 + 123  # a 3D model of a few MB, served with sendfile
BIG_UPLOAD = 3 * 1024 * 1024

WRK_SCRIPT = """
local paths = {"/orders/1", "/orders/2", "/missing/a", "/error", "/"}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
"""


def access_log_counts(path):
    """Requests per status whose response nginx sent whole. A request whose
    client went away mid-response (wrk stopping with requests in flight) is
    logged with its status but an empty $request_completion: it has no
    complete exchange to count."""
    counts = collections.Counter()
    with open(path) as f:
        for line in f:
            fields = line.split()
            if fields[-1] == "OK":
                counts[fields[0]] += 1
    return counts


class Nginx:
    def __init__(self):
        harness.require_tool("nginx")
        self.dir = tempfile.mkdtemp(prefix="redeye-nginx-")
        self.port = harness.free_port()
        self.tls_port = harness.free_port()
        harness.require_tool("openssl")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-keyout", os.path.join(self.dir, "key.pem"),
                        "-out", os.path.join(self.dir, "cert.pem")], check=True, capture_output=True, timeout=60)
        os.chmod(self.dir, 0o755)  # workers run as nobody
        os.mkdir(os.path.join(self.dir, "files"))
        with open(os.path.join(self.dir, "files", "model.stl"), "wb") as f:
            f.write(os.urandom(BIG_FILE))
        with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, port=self.port, tls_port=self.tls_port))
        self.proc = subprocess.Popen(["nginx", "-c", os.path.join(self.dir, "nginx.conf"), "-p", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nginx did not start: " + self.proc.stderr.read().decode())

    def log_counts(self):
        return access_log_counts(os.path.join(self.dir, "access.log"))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def server_count(m, service, **labels):
    return m.value("http_server_request_duration_seconds_count", service_name=service, **labels)


def client_count(m, service, **labels):
    return m.value("http_client_request_duration_seconds_count", service_name=service, **labels)


class HttpRed(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        cls.agent = Agent(*rule("pyserver", "pyserver"), *rule("nodeserver", "nodeserver"),
                          *rule("nodeclient", "nodeclient"), *rule("pipeliner", "pipeliner"),
                          "--http-max-routes", "50", "--http-source", "header:X-User-Id")
        cls.agent.start()
        cls.nginx = Nginx()

    @classmethod
    def tearDownClass(cls):
        cls.nginx.stop()
        cls.agent.stop()

    def wait_equal(self, fn, truth, what, timeout=30):
        self.agent.wait_for(lambda m: fn(m) >= truth, timeout=timeout, what=what)
        m = self.agent.settle()
        self.assertEqual(fn(m), truth, what)
        return m

    def test_nginx_under_wrk_matches_access_log(self):
        harness.require_tool("wrk")
        script = os.path.join(self.nginx.dir, "paths.lua")
        with open(script, "w") as f:
            f.write(WRK_SCRIPT)
        before = self.nginx.log_counts()
        out = subprocess.run(["wrk", "-t2", "-c8", "-d3s", "-s", script, f"http://127.0.0.1:{self.nginx.port}/"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        wrk_total = int(out.split(" requests in ")[0].split()[-1])
        time.sleep(1)  # nginx writes its log line after the response
        truth = self.nginx.log_counts() - before
        self.assertEqual(set(truth), {"200", "404", "500"})
        base = self.base_nginx
        for status, n in truth.items():
            self.wait_equal(lambda m: server_count(m, "nginx", http_response_status_code=status)
                            - base.get(status, 0), n, f"nginx {status}")
        m = self.agent.metrics()
        # /orders/1 and /orders/2 are one route; the 404s and 500s each theirs
        self.assertGreater(server_count(m, "nginx", http_route="/orders/{id}") - self.base_orders, 0)
        self.assertEqual(server_count(m, "nginx", http_route="/orders/{id}", http_response_status_code="404"), 0)
        self.assertEqual(server_count(m, "nginx", http_request_method="GET") - sum(base.values()),
                         sum(truth.values()))
        # client side: wrk's own count of completed requests, towards nginx's address
        address = f"127.0.0.1:{self.nginx.port}"
        self.wait_equal(lambda m: client_count(m, "wrk", server_address=address), wrk_total, "wrk client requests")

    @classmethod
    def nginx_baseline(cls):
        m = cls.agent.metrics()
        cls.base_nginx = {s: server_count(m, "nginx", http_response_status_code=s) for s in ("200", "404", "500")}
        cls.base_orders = server_count(m, "nginx", http_route="/orders/{id}")

    def setUp(self):
        self.nginx_baseline()

    def test_pipelined_requests_each_counted(self):
        before = self.nginx.log_counts()
        requests = b"".join(f"GET /pipe/{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(5))
        code = ("import socket,sys;s=socket.create_connection(('127.0.0.1',%d));s.sendall(%r);"
                "d=b'';\nwhile d.count(b'HTTP/1.1 200')<5:\n d+=s.recv(65536)\nprint(d.count(b'HTTP/1.1 200'))"
                % (self.nginx.port, requests))
        out = subprocess.run(["python3", "-c", code, "tag=pipeliner"], capture_output=True, text=True, timeout=30,
                             check=True).stdout
        self.assertEqual(out.strip(), "5")
        time.sleep(0.5)
        self.assertEqual((self.nginx.log_counts() - before)["200"], 5)
        self.wait_equal(lambda m: server_count(m, "nginx", http_route="/pipe/{id}"), 5, "pipelined requests")
        self.wait_equal(lambda m: client_count(m, "pipeliner"), 5, "pipelined requests, client side")

    def test_python_http10_server_counts_methods_statuses_latency(self):
        port = harness.free_port()
        server = subprocess.Popen(["python3", os.path.join(HERE, "http", "py_server.py"), str(port), "tag=pyserver"],
                                  stdout=subprocess.PIPE, text=True)
        self.addCleanup(server.kill)
        self.assertEqual(server.stdout.readline().strip(), "listening")
        url = f"http://127.0.0.1:{port}"
        plan = [("GET", "/items/7", 7), ("GET", "/fail", 3), ("POST", "/items", 4), ("GET", "/sleep50", 10),
                ("GET", "/close-delimited", 2), ("PUT", "/upload", 1)]
        for method, path, n in plan:
            for _ in range(n):
                args = ["curl", "-s", "-o", "/dev/null", "-X", method, url + path]
                if method == "POST":
                    args += ["--data-binary", "x" * 100]
                if method == "PUT":
                    big = os.path.join(tempfile.gettempdir(), "redeye-upload.bin")
                    with open(big, "wb") as f:
                        f.write(b"u" * BIG_UPLOAD)
                    args += ["-H", "Expect:", "--data-binary", "@" + big]
                subprocess.run(args, check=True, timeout=10)
        svc = "pyserver"
        self.wait_equal(lambda m: server_count(m, svc), 27, "python server requests")
        self.assertEqual(self.agent.metrics().value("http_server_request_body_size_bytes_sum", service_name=svc,
                                                    http_route="/upload"), BIG_UPLOAD)
        m = self.agent.metrics()
        self.assertEqual(server_count(m, svc, http_request_method="GET", http_response_status_code="200",
                                      http_route="/items/{id}"), 7)
        self.assertEqual(server_count(m, svc, http_response_status_code="503"), 3)
        self.assertEqual(server_count(m, svc, http_request_method="POST", http_response_status_code="201"), 4)
        self.assertEqual(server_count(m, svc, http_route="/close-delimited"), 2)
        self.assertEqual(m.value("http_server_response_body_size_bytes_sum", service_name=svc,
                                 http_route="/close-delimited"), 6000)
        self.assertEqual(m.value("http_server_request_body_size_bytes_sum", service_name=svc, http_route="/items"), 400)
        # known latency: 50 ms sleeps land in the bucket holding 0.05 s, mean within 5 %
        slow = dict(service_name=svc, http_route="/sleep50")
        self.assertEqual(m.value("http_server_request_duration_seconds_bucket", le="0.025", **slow), 0)
        self.assertEqual(m.value("http_server_request_duration_seconds_bucket", le="0.075", **slow), 10)
        mean = m.value("http_server_request_duration_seconds_sum", **slow) / 10
        self.assertAlmostEqual(mean, 0.050, delta=0.0025)
        self.assertEqual(m.value("http_server_active_requests", service_name=svc), 0)
        # curl's side of the same requests
        self.assertGreaterEqual(client_count(m, "curl", server_address=f"127.0.0.1:{port}"), 27)

    def test_node_chunked_keepalive(self):
        harness.require_tool("node")
        port = harness.free_port()
        server = subprocess.Popen(["node", os.path.join(HERE, "http", "node_server.js"), str(port), "tag=nodeserver"],
                                  stdout=subprocess.PIPE, text=True)
        self.addCleanup(server.kill)
        self.assertEqual(server.stdout.readline().strip(), "listening")
        for path, n in (("/chunked", 12), ("/missing", 4)):
            out = subprocess.run(["node", os.path.join(HERE, "http", "node_client.js"), str(port), str(n), path,
                                  "tag=nodeclient"], capture_output=True, text=True, timeout=30, check=True).stdout
            self.assertEqual(out.strip(), f"done {n}")
        self.wait_equal(lambda m: server_count(m, "nodeserver"), 16, "node server requests")
        m = self.agent.metrics()
        self.assertEqual(server_count(m, "nodeserver", http_response_status_code="200"), 12)
        self.assertEqual(server_count(m, "nodeserver", http_response_status_code="404"), 4)
        # chunked bodies: 10 + 10 + 12 bytes each
        self.assertEqual(m.value("http_server_response_body_size_bytes_sum", service_name="nodeserver",
                                 http_route="/chunked"), 12 * 32)
        self.wait_equal(lambda m: client_count(m, "nodeclient", server_address=f"127.0.0.1:{port}"), 16,
                        "node client requests")

    def test_bodies_of_many_megabytes(self):
        url = f"http://127.0.0.1:{self.nginx.port}/files/model.stl"
        for _ in range(3):
            r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{size_download}", url], check=True,
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(int(r.stdout), BIG_FILE)
        route = dict(service_name="nginx", http_route="/files/model.stl")
        m = self.wait_equal(lambda m: m.value("http_server_request_duration_seconds_count", **route), 3, "downloads")
        self.assertEqual(m.value("http_server_response_body_size_bytes_sum", **route), 3 * BIG_FILE)
        self.assertEqual(client_count(m, "curl", server_address=f"127.0.0.1:{self.nginx.port}") > 0, True)

    def test_https_counted_like_http(self):
        before = self.nginx.log_counts()
        url = f"https://127.0.0.1:{self.nginx.tls_port}"
        for path, n in (("/secure/1", 6), ("/secret-missing", 2)):
            for _ in range(n):
                subprocess.run(["curl", "-sk", "-o", "/dev/null", url + path], check=True, timeout=10)
        time.sleep(0.5)
        truth = self.nginx.log_counts() - before
        self.assertEqual(truth, collections.Counter({"200": 6, "404": 2}))
        self.wait_equal(lambda m: server_count(m, "nginx", http_route="/secure/{id}"), 6, "HTTPS requests at nginx")
        m = self.wait_equal(lambda m: server_count(m, "nginx", http_route="/secret-missing"), 2, "HTTPS 404s")
        self.assertEqual(server_count(m, "nginx", http_route="/secret-missing", http_response_status_code="404"), 2)
        self.wait_equal(lambda m: client_count(m, "curl", server_address=f"127.0.0.1:{self.nginx.tls_port}"), 8,
                        "HTTPS requests at curl")

    def test_requests_per_source_header(self):
        url = f"http://127.0.0.1:{self.nginx.port}/who"
        for user, n in (("alice", 4), ("bob", 2)):
            for _ in range(n):
                subprocess.run(["curl", "-s", "-o", "/dev/null", "-H", f"X-User-Id: {user}", url], check=True,
                               timeout=10)
        key = "http_server_requests_by_source_total"
        self.wait_equal(lambda m: m.value(key, service_name="nginx", http_request_source="alice"), 4, "alice")
        m = self.wait_equal(lambda m: m.value(key, service_name="nginx", http_request_source="bob"), 2, "bob")
        # the header's value is the only thing exported; nothing else of the request
        self.assertNotIn("X-User-Id", m.text)

    def test_route_cardinality_is_capped(self):
        # 10 000 distinct paths of words (not ids): far more routes than the cap of 50
        rng = random.Random(7)
        paths = {"/" + "".join(rng.choice(string.ascii_lowercase) for _ in range(8)) for _ in range(10_000)}
        self.assertEqual(len(paths), 10_000)
        listfile = os.path.join(self.nginx.dir, "urls.txt")
        with open(listfile, "w") as f:
            for p in paths:
                f.write(f"url = \"http://127.0.0.1:{self.nginx.port}{p}\"\noutput = /dev/null\n")
        before = self.nginx.log_counts()
        subprocess.run(["curl", "-s", "-K", listfile], check=True, timeout=120)
        time.sleep(0.5)
        self.assertEqual((self.nginx.log_counts() - before)["200"], 10_000)
        self.agent.wait_for(lambda m: server_count(m, "nginx", http_route="_other") >= 10_000 - 50,
                            what="requests over the route cap", timeout=60)
        m = self.agent.settle()
        routes = {l["http_route"] for l, _ in m.select("http_server_request_duration_seconds_count",
                                                       service_name="nginx")}
        self.assertLessEqual(len(routes), 51)  # the cap plus "_other"
        self.assertIn("_other", routes)


if __name__ == "__main__":
    harness.main()
