"""The metrics listener's defences (docs/threat-model.md): it binds only the
address given, /metrics can require HTTP Basic credentials checked against
crypt(3) hashes, connections served at once are capped (slow senders
included) with a quick 503 over the cap, it can speak HTTPS only (with a
certificate made here by openssl, scraped by curl), and bad settings are one
line and exit code 2."""
import base64
import os
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import harness
from harness import Agent, free_port, main, require_root, require_tool


def get(port, path, user=None, password=None, host="127.0.0.1", timeout=5):
    req = urllib.request.Request(f"http://{host}:{port}{path}")
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        req.add_header("Authorization", "Basic " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def curl_tls(port, path, cacert, user=None, scheme="https"):
    """(exit code, HTTP status or 0, body) of one curl request, checked against cacert."""
    args = ["curl", "-sS", "--max-time", "5", "--cacert", cacert, "-o", "-", "-w", "\n%{http_code}"]
    if user:
        args += ["--user", user]
    r = subprocess.run([*args, f"{scheme}://127.0.0.1:{port}{path}"], capture_output=True, text=True, timeout=15)
    body, _, code = r.stdout.rpartition("\n")
    return r.returncode, int(code or 0), body


def rejected(port, reason, **auth):
    status, _, body = get(port, "/metrics", **auth)
    assert status == 200, status
    return harness.Metrics(body).value("redeye_scrapes_rejected_total", reason=reason)


def connect_refused(host, port):
    with socket.socket() as s:
        s.settimeout(2)
        try:
            s.connect((host, port))
        except ConnectionRefusedError:
            return True
    return False


class ListenerSecurityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        require_root()
        require_tool("openssl")
        cls.dir = tempfile.TemporaryDirectory(prefix="redeye-listener-")

    @classmethod
    def tearDownClass(cls):
        cls.dir.cleanup()

    def write(self, name, text):
        path = os.path.join(self.dir.name, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def hashed(self, password):
        return subprocess.run(["openssl", "passwd", "-6", password], capture_output=True, text=True,
                              check=True).stdout.strip()

    def test_binds_only_the_given_address(self):
        with Agent() as agent:  # --listen 127.0.0.1:PORT
            self.assertEqual(get(agent.port, "/healthz")[0], 200)
            # 127.0.0.2 is loopback too, but not the address bound.
            self.assertTrue(connect_refused("127.0.0.2", agent.port), "reachable on 127.0.0.2")
        agent = Agent()
        agent.args[agent.args.index("--listen") + 1] = f"127.0.0.2:{agent.port}"
        agent.get = lambda path: get(agent.port, path, host="127.0.0.2")[:3:2]
        with agent:
            self.assertEqual(get(agent.port, "/healthz", host="127.0.0.2")[0], 200)
            self.assertTrue(connect_refused("127.0.0.1", agent.port), "reachable on 127.0.0.1")
        print(f"  bound to one loopback address, refused on the other")

    def test_basic_auth_required_accepted_rejected(self):
        auth_file = self.write("users", "# scrapers\nprometheus:" + self.hashed("s3cret pass") + "\n" +
                               "other:" + self.hashed("x") + "\n")
        with Agent("--basic-auth-file", auth_file) as agent:
            status, headers, _ = get(agent.port, "/metrics")
            self.assertEqual(status, 401)
            self.assertEqual(headers["WWW-Authenticate"], 'Basic realm="redeye"')
            self.assertEqual(get(agent.port, "/metrics", user="prometheus", password="wrong")[0], 401)
            self.assertEqual(get(agent.port, "/metrics", user="nobody", password="s3cret pass")[0], 401)
            # probes stay open for the kubelet
            self.assertEqual(get(agent.port, "/healthz")[0], 200)
            self.assertEqual(get(agent.port, "/readyz")[0], 200)
            ok = dict(user="prometheus", password="s3cret pass")
            self.assertEqual(get(agent.port, "/metrics", **ok)[0], 200)
            self.assertEqual(get(agent.port, "/metrics", user="other", password="x")[0], 200)
            self.assertEqual(rejected(agent.port, "unauthorized", **ok), 3)
        print("  401 without, with a wrong password and an unknown user; 200 for both users; 3 counted")

    def certificate(self, name, cn="127.0.0.1"):
        """A self-signed certificate for 127.0.0.1 and its key: (cert path, key path)."""
        cert, key = (os.path.join(self.dir.name, f"{name}.{kind}.pem") for kind in ("cert", "key"))
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", f"/CN={cn}", "-addext", f"subjectAltName=IP:{cn}",
                        "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
        return cert, key

    def tls_agent(self, cert, key, *extra):
        agent = Agent("--tls-cert-file", cert, "--tls-key-file", key, *extra)
        agent.get = lambda path: curl_tls(agent.port, path, cert)[1:]  # readiness over TLS
        return agent

    def test_tls_scrapes_with_and_without_basic_auth(self):
        require_tool("curl")
        cert, key = self.certificate("listener")
        with self.tls_agent(cert, key) as agent:
            rc, status, body = curl_tls(agent.port, "/metrics", cert)
            self.assertEqual((rc, status), (0, 200), body)
            self.assertIsNotNone(harness.Metrics(body).value("redeye_scrapes_rejected_total", reason="over_cap"))
            # Plain HTTP to the TLS port gets no answer, metrics least of all.
            rc, status, body = curl_tls(agent.port, "/metrics", cert, scheme="http")
            self.assertNotEqual(rc, 0, "plain HTTP answered on the TLS port")
            self.assertNotIn("redeye_", body)
            # A certificate that is not the agent's is refused by the client.
            other, _ = self.certificate("other")
            self.assertEqual(curl_tls(agent.port, "/healthz", other)[0], 60, "untrusted certificate accepted")
            # Still up and answering after the bad connections.
            self.assertEqual(curl_tls(agent.port, "/healthz", cert)[:2], (0, 200))
            self.assertIsNone(agent.proc.poll(), "agent exited")
        auth_file = self.write("tls-users", "prometheus:" + self.hashed("over tls") + "\n")
        with self.tls_agent(cert, key, "--basic-auth-file", auth_file) as agent:
            self.assertEqual(curl_tls(agent.port, "/metrics", cert)[1], 401)
            self.assertEqual(curl_tls(agent.port, "/metrics", cert, user="prometheus:wrong")[1], 401)
            rc, status, body = curl_tls(agent.port, "/metrics", cert, user="prometheus:over tls")
            self.assertEqual((rc, status), (0, 200), body)
            self.assertEqual(harness.Metrics(body).value("redeye_scrapes_rejected_total", reason="unauthorized"), 2)
            self.assertEqual(curl_tls(agent.port, "/healthz", cert)[:2], (0, 200))
            self.assertIsNone(agent.proc.poll(), "agent exited")
        print("  HTTPS scrape 200, plain HTTP and a foreign CA refused, agent up; with Basic auth 401, 401, 200")

    def test_bad_settings_are_one_line_and_exit_2(self):
        plain = self.write("plain", "prometheus:secret\n")
        empty = self.write("empty", "# nobody\n")
        cert, key = self.certificate("settings")
        _, other_key = self.certificate("settings-other")
        encrypted = os.path.join(self.dir.name, "encrypted.key.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-aes256", "-pass", "pass:x", "-out", encrypted],
                       check=True, capture_output=True, timeout=60)
        cases = [
            (["--basic-auth-file", plain], "line 1: the password must be a crypt(3) hash"),
            (["--basic-auth-file", empty], "no USER:HASH line"),
            (["--basic-auth-file", os.path.join(self.dir.name, "missing")], "No such file"),
            (["--basic-auth-file", self.dir.name], "it is a directory"),
            (["--max-scrapes", "0"], "invalid --max-scrapes 0"),
            (["--listen", "127.0.0.1"], "invalid --listen"),
            (["--tls-cert-file", cert], "--tls-cert-file and --tls-key-file go together"),
            (["--tls-key-file", key], "--tls-cert-file and --tls-key-file go together"),
            (["--tls-cert-file", os.path.join(self.dir.name, "missing"), "--tls-key-file", key], "No such file"),
            (["--tls-cert-file", plain, "--tls-key-file", key], "invalid --tls-cert-file"),
            (["--tls-cert-file", cert, "--tls-key-file", plain], "invalid --tls-key-file"),
            (["--tls-cert-file", cert, "--tls-key-file", encrypted], "expected an unencrypted PEM private key"),
            (["--tls-cert-file", cert, "--tls-key-file", other_key], "is not the key of --tls-cert-file"),
        ]
        for args, expected in cases:
            with self.subTest(args=args):
                r = subprocess.run([harness.ARGS.agent, "run", *args], capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 2, r.stderr)
                lines = r.stderr.strip().splitlines()
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertIn(expected, lines[0])

    def test_scrape_cap_with_slow_connections(self):
        cap = 2
        with Agent("--max-scrapes", str(cap)) as agent:
            slow = []
            try:
                for _ in range(cap):
                    s = socket.create_connection(("127.0.0.1", agent.port), timeout=5)
                    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
                    slow.append(s)
                time.sleep(0.5)
                start = time.monotonic()
                status, headers, body = get(agent.port, "/metrics")
                elapsed = time.monotonic() - start
                self.assertEqual(status, 503, body)
                self.assertEqual(headers["Retry-After"], "1")
                self.assertLess(elapsed, 1.0, "the refusal was not quick")
                self.assertEqual(get(agent.port, "/healthz")[0], 200, "probes blocked by slow scrapers")
            finally:
                for s in slow:
                    s.close()
            # The slots come back as soon as the slow connections go.
            deadline = time.monotonic() + 5
            more = 0  # 503s while the server was still closing them
            while get(agent.port, "/metrics")[0] != 200:
                more += 1
                self.assertLess(time.monotonic(), deadline, "scrapes still refused after the slow ones left")
                time.sleep(0.1)
            self.assertEqual(rejected(agent.port, "over_cap"), 1 + more)
        print(f"  {cap} slow connections held: next scrape 503 in {elapsed * 1000:.0f} ms, counted once")


if __name__ == "__main__":
    main()
