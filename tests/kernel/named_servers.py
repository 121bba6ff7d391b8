"""Throwaway servers that carry a name of their own run, for the kernel tests
that count at the server: PostgreSQL, MariaDB and nginx, each started
through a symlink named after its port (`pg<port>`, `mdb<port>`,
`ngx<port>`). The kernel takes a process's command name from the file
it executed, so every process of the server (the postmaster and each forked
backend, mariadbd, the nginx master and its workers) carries that name, and
the rule `--service NAME=exe:<link>` (`server.rule()`) names them apart from
every other PostgreSQL, MariaDB or nginx on the host: a system service, or
another test run whose traffic the agent sees too.

Each server listens on loopback TCP and on Unix sockets in its own temp dir
(PostgreSQL also on an abstract one). Every wait is bounded."""
import collections
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import harness


def _wait(ready, proc, what, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        if ready():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not ready within {timeout}s")


def _tcp_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _unix_open(path):
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(1)
        try:
            s.connect(path)
            return True
        except OSError:
            return False


def _owned_tempdir(prefix, user):
    d = tempfile.mkdtemp(prefix=prefix)
    pw = pwd.getpwnam(user)
    os.chown(d, pw.pw_uid, pw.pw_gid)
    return d


def _stop(proc, timeout):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


class Postgres:
    """initdb + postgres (run as the postgres user through the link
    `pg<port>`), trust auth, pg_stat_statements loaded. Listens on
    127.0.0.1:port, on `<dir>/.s.PGSQL.<port>` and on the abstract
    `@<abstract>/.s.PGSQL.<port>`."""

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            harness.cannot_run("PostgreSQL is not installed (scripts/install-deps.sh --with-tests)")
        self.bin = bins[-1]
        self.dir = _owned_tempdir("redeye-pgn-", "postgres")
        self.port = harness.free_port()
        self.comm = f"pg{self.port}"
        self.service = f"pgsrv_{self.port}"
        self.abstract = f"redeye-pg-{self.port}"
        self.data = os.path.join(self.dir, "data")
        link = os.path.join(self.dir, self.comm)
        os.symlink(f"{self.bin}/postgres", link)
        subprocess.run(["runuser", "-u", "postgres", "--", f"{self.bin}/initdb", "-D", self.data, "-A", "trust",
                        "-U", "postgres"], check=True, capture_output=True, timeout=120)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("shared_preload_libraries = 'pg_stat_statements'\n"
                    "pg_stat_statements.track = all\nfsync = off\n")
        self.proc = subprocess.Popen(
            ["runuser", "-u", "postgres", "--", link, "-D", self.data, "-p", str(self.port),
             "-k", f"{self.dir},@{self.abstract}", "-c", "listen_addresses=127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait(lambda: _tcp_open(self.port) and os.path.exists(self.socket_path), self.proc, "postgres", 60)
            _wait(lambda: subprocess.run(["pg_isready", "-h", self.dir, "-p", str(self.port)],
                                         capture_output=True).returncode == 0, self.proc, "postgres", 30)
            self.admin("CREATE EXTENSION pg_stat_statements")
        except Exception:
            self.stop()
            raise

    @property
    def socket_path(self):
        return os.path.join(self.dir, f".s.PGSQL.{self.port}")

    @property
    def abstract_address(self):
        """What the agent is expected to call the abstract socket."""
        return f"@{self.abstract}/.s.PGSQL.{self.port}"

    def rule(self):
        return ["--service", f"{self.service}=exe:{self.comm}"]

    def conninfo(self, host):
        return f"host={host} port={self.port} user=postgres sslmode=disable"

    def psql(self, sql, host, tag=None, check=True):
        """One psql session; `sql` is a string (one -c) or a list (one -c
        each, every one its own Query message)."""
        argv = ["psql", self.conninfo(host), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        for statement in [sql] if isinstance(sql, str) else sql:
            argv += ["-c", statement]
        if tag:
            argv += ["-v", f"tag={tag}"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"psql failed: {r.stderr}")
        return r

    def admin(self, sql):
        """The test's own statements (setup, ground truth), over the Unix
        socket by an untagged psql: run them outside the windows in which the
        agent's counts are compared, since the server counts them too."""
        return self.psql(sql, host=self.dir).stdout

    def statement_calls(self):
        """pg_stat_statements: {normalised query text: calls}."""
        out = self.admin("SELECT calls, query FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'")
        calls = collections.Counter()
        for line in out.splitlines():
            n, query = line.split("|", 1)
            calls[query] += int(n)
        return calls

    def pgbench(self, *args, host="127.0.0.1", tag=None, timeout=300):
        argv = ["pgbench", "-h", host, "-p", str(self.port), "-U", "postgres", *map(str, args)]
        if tag:
            argv += ["-D", f"tag={tag}"]
        r = subprocess.run([*argv, "postgres"], capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise AssertionError(f"pgbench failed: {r.stderr}")
        return r.stdout

    def stop(self):
        _stop(self.proc, 20)
        shutil.rmtree(self.dir, ignore_errors=True)


class MariaDB:
    """mariadb-install-db + mariadbd through the link `mdb<port>`, on
    127.0.0.1:port and `<dir>/mysqld.sock`."""

    def __init__(self):
        if not os.path.exists("/usr/sbin/mariadbd"):
            harness.cannot_run("MariaDB is not installed (scripts/install-deps.sh --with-tests)")
        self.dir = _owned_tempdir("redeye-mdbn-", "mysql")
        self.port = harness.free_port()
        self.comm = f"mdb{self.port}"
        self.service = f"mdbsrv_{self.port}"
        self.data = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "mysqld.sock")
        link = os.path.join(self.dir, self.comm)
        os.symlink("/usr/sbin/mariadbd", link)
        subprocess.run(["mariadb-install-db", "--user=mysql", f"--datadir={self.data}",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True, timeout=180)
        self.proc = subprocess.Popen(
            [link, "--no-defaults", "--user=mysql", f"--datadir={self.data}", f"--socket={self.socket}",
             f"--port={self.port}", "--bind-address=127.0.0.1", f"--pid-file={self.dir}/mysqld.pid",
             "--skip-name-resolve", "--innodb-buffer-pool-size=32M", "--skip-log-bin"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait(lambda: _tcp_open(self.port) and _unix_open(self.socket), self.proc, "mariadbd", 120)
        except Exception:
            self.stop()
            raise

    def rule(self):
        return ["--service", f"{self.service}=exe:{self.comm}"]

    def admin(self, statements):
        """The test's own statements over the Unix socket (untagged mariadb
        CLI): outside the windows in which counts are compared."""
        r = subprocess.run(["mariadb", f"--socket={self.socket}", "-u", "root", "-N", "-B", "-e", statements],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"mariadb failed: {r.stderr}")
        return r.stdout

    def com_counters(self):
        """The server's own statement counters: {"select": n, "insert": n, ...}."""
        out = self.admin("SHOW GLOBAL STATUS LIKE 'Com\\_%'")
        return {name[4:].lower(): int(v) for name, v in (line.split("\t") for line in out.splitlines())}

    def stop(self):
        _stop(self.proc, 30)
        shutil.rmtree(self.dir, ignore_errors=True)


NGINX_CONF = """
worker_processes 2;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
daemon off;
events {{ worker_connections 1024; }}
http {{
  log_format status '$status $request_method $uri';
  access_log {dir}/access.log status;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fcgi;
  uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    listen unix:{dir}/http.sock;
    location / {{ return 200 "hello\\n"; }}
    location /missing {{ return 404; }}
    location /error {{ return 500; }}
  }}
}}
"""


class Nginx:
    """nginx through the link `ngx<port>` (master and workers), on
    127.0.0.1:port and `unix:<dir>/http.sock`; the access log gives one
    line "status method uri" per request."""

    def __init__(self):
        harness.require_tool("nginx")
        self.dir = tempfile.mkdtemp(prefix="redeye-ngxn-")
        os.chmod(self.dir, 0o755)  # workers run as nobody
        self.port = harness.free_port()
        self.comm = f"ngx{self.port}"
        self.service = f"ngxsrv_{self.port}"
        self.socket = os.path.join(self.dir, "http.sock")
        link = os.path.join(self.dir, self.comm)
        os.symlink(shutil.which("nginx"), link)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, port=self.port))
        self.proc = subprocess.Popen([link, "-c", conf, "-p", self.dir], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        try:
            _wait(lambda: _tcp_open(self.port) and _unix_open(self.socket), self.proc, "nginx", 20)
        except Exception:
            self.stop()
            raise

    def rule(self):
        return ["--service", f"{self.service}=exe:{self.comm}"]

    def log_counts(self):
        """{(status, uri): requests} from the access log."""
        counts = collections.Counter()
        path = os.path.join(self.dir, "access.log")
        if os.path.exists(path):
            with open(path) as f:
                for line in f:
                    status, _, uri = line.split()
                    counts[(status, uri)] += 1
        return counts

    def stop(self):
        _stop(self.proc, 10)
        shutil.rmtree(self.dir, ignore_errors=True)
