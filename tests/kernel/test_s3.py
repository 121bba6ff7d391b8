"""S3 metrics from the kernel: a boto3 client signing real S3 requests
(SigV4) against a real S3-compatible server on loopback (s3rver, from npm)
gives exact per-operation counts, bucket and status, and exact object bytes
up and down; the server's side of the same requests is counted too."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import harness
from harness import Agent, rule

HERE = os.path.dirname(os.path.abspath(__file__))
S3_DIR = os.path.join(HERE, "s3")
# Debian's python, which sees python3-boto3 (a python3 first on PATH may not).
SYSTEM_PYTHON = "/usr/bin/python3"

BUCKET = "redeye-test-bucket"
PUTS, GETS, HEADS, OBJECT_SIZE = 7, 5, 3, 10_000


def require_boto3():
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        harness.cannot_run(f"needs {SYSTEM_PYTHON} (python3-boto3)")
    r = subprocess.run([SYSTEM_PYTHON, "-c", "import boto3"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        harness.cannot_run("needs python3-boto3 (scripts/install-deps.sh --with-tests installs it): "
                           + r.stderr.strip())


def install_s3rver():
    """s3rver as pinned by s3/package-lock.json, into s3/node_modules."""
    if os.path.exists(os.path.join(S3_DIR, "node_modules", "s3rver", "package.json")):
        return
    harness.require_tool("npm")
    try:
        r = subprocess.run(["npm", "ci", "--prefix", S3_DIR, "--no-audit", "--no-fund"],
                           capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        harness.cannot_run("npm ci of s3rver did not finish in 300 s")
    if r.returncode != 0:
        harness.cannot_run(f"npm ci of s3rver failed ({r.returncode}): {r.stderr[-2000:]}")


class S3rver:
    """s3rver on a free loopback port, its objects in a temporary directory."""

    def __init__(self, tag, ready_timeout=30):
        self.dir = tempfile.mkdtemp(prefix="redeye-s3rver-")
        self.port = harness.free_port()
        self.log = open(os.path.join(self.dir, "server.log"), "w+")
        self.proc = subprocess.Popen(["node", os.path.join(S3_DIR, "server.js"), str(self.port),
                                      os.path.join(self.dir, "data"), f"tag={tag}"],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"s3rver exited with {self.proc.returncode}: {self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"s3rver not listening after {ready_timeout}s: {self.output()}")

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def s3_count(m, **labels):
    return m.value("s3_client_operation_duration_seconds_count", service_name="s3client", **labels)


def s3_bytes(m, direction):
    return m.value("s3_client_transferred_bytes_total", service_name="s3client", direction=direction)


def server_count(m, **labels):
    return m.value("http_server_request_duration_seconds_count", service_name="s3server", **labels)


class S3Client(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_root()
        harness.require_tool("node")
        require_boto3()
        install_s3rver()
        cls.agent = Agent(*rule("s3client", "s3client"), *rule("s3server", "s3server"))
        cls.agent.start()
        try:
            cls.server = S3rver("s3server")
        except BaseException:
            cls.agent.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.agent.stop()

    def run_client(self):
        r = subprocess.run([SYSTEM_PYTHON, os.path.join(S3_DIR, "client.py"), str(self.server.port), BUCKET,
                            str(PUTS), str(GETS), str(HEADS), str(OBJECT_SIZE), "tag=s3client"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, f"S3 client failed: {r.stderr}\ns3rver: {self.server.output()}")
        return json.loads(r.stdout)

    def test_put_get_counts_and_bytes_are_exact(self):
        report = self.run_client()
        # The client's own view, the ground truth: each operation one request
        # (no retries), with the status S3 answers it with.
        expected = {("CreateBucket", "200"): 1, ("PutObject", "200"): PUTS, ("GetObject", "200"): GETS,
                    ("HeadObject", "200"): HEADS, ("DeleteObject", "204"): 1, ("ListObjects", "200"): 1}
        self.assertEqual({tuple(k.split()): v for k, v in report["requests"].items()}, expected)
        self.assertEqual(report["sent"], PUTS * OBJECT_SIZE)
        self.assertEqual(report["received"], GETS * OBJECT_SIZE)
        total = sum(expected.values())

        # Everything seen from both sides, then nothing more arrives.
        self.agent.wait_for(lambda m: s3_count(m) >= total and server_count(m) >= total
                            and s3_bytes(m, "download") >= GETS * OBJECT_SIZE,
                            timeout=30, what="the S3 client's and server's requests")
        m = self.agent.settle()

        # Client side: one series per operation, bucket and status.
        by_operation = {}
        for labels, v in m.select("s3_client_operation_duration_seconds_count", service_name="s3client"):
            key = (labels["s3_operation"], labels["http_response_status_code"])
            by_operation[key] = by_operation.get(key, 0) + v
            self.assertEqual(labels["s3_bucket"], BUCKET, labels)
        # CreateBucket (PUT on the bucket) is not one of the operations named.
        named = {("Other" if op == "CreateBucket" else op, status): n for (op, status), n in expected.items()}
        self.assertEqual(by_operation, named)
        self.assertEqual(s3_count(m, s3_operation="PutObject", s3_bucket=BUCKET, http_response_status_code="200"),
                         PUTS)
        self.assertEqual(s3_count(m, s3_operation="GetObject", s3_bucket=BUCKET, http_response_status_code="200"),
                         GETS)
        # Object bytes only: PUT bodies up, GET bodies down; not the list's
        # XML, nor any other response body.
        self.assertEqual(s3_bytes(m, "upload"), PUTS * OBJECT_SIZE)
        self.assertEqual(s3_bytes(m, "download"), GETS * OBJECT_SIZE)
        # The S3 requests are HTTP client requests as well, to s3rver's address.
        self.assertEqual(m.value("http_client_request_duration_seconds_count", service_name="s3client",
                                 server_address=f"127.0.0.1:{self.server.port}"), total)

        # Server side: s3rver served exactly the client's requests.
        self.assertEqual(server_count(m), total)
        self.assertEqual(server_count(m, http_request_method="PUT", http_response_status_code="200"), 1 + PUTS)
        self.assertEqual(server_count(m, http_request_method="GET", http_response_status_code="200"), GETS + 1)
        self.assertEqual(server_count(m, http_request_method="HEAD", http_response_status_code="200"), HEADS)
        self.assertEqual(server_count(m, http_request_method="DELETE", http_response_status_code="204"), 1)
        self.assertEqual(m.value("http_server_request_body_size_bytes_sum", service_name="s3server"),
                         PUTS * OBJECT_SIZE)
        self.assertEqual(m.value("http_server_active_requests", service_name="s3server"), 0)
        # s3rver is not an S3 client, whatever headers it answers with.
        self.assertFalse(m.has("s3_client_operation_duration_seconds_count", service_name="s3server"))

        self.agent.assert_nothing_lost(self)


if __name__ == "__main__":
    harness.main()
