"""Throwaway database servers for the kernel tests: a PostgreSQL cluster and
a MariaDB instance, each on its own loopback port and data directory,
started and stopped by the test. Every wait is bounded."""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import harness


def _wait_port(port, proc, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{what} did not listen on {port} within {timeout}s")


class Postgres:
    """initdb + postgres as the postgres user, trust auth on 127.0.0.1,
    pg_stat_statements loaded: the server's own count of every statement."""

    def __init__(self, ssl=False):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            harness.cannot_run("PostgreSQL is not installed (scripts/install-deps.sh --with-tests)")
        self.bin = bins[-1]
        self.dir = tempfile.mkdtemp(prefix="redeye-pg-")
        pw = pwd.getpwnam("postgres")
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self.port = harness.free_port()
        self._as_postgres([f"{self.bin}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("shared_preload_libraries = 'pg_stat_statements'\n"
                    "pg_stat_statements.track = all\nfsync = off\n")
            if ssl:
                self._make_certificate()
                f.write("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
        self.proc = subprocess.Popen(
            ["runuser", "-u", "postgres", "--", f"{self.bin}/postgres", "-D", self.data, "-p", str(self.port),
             "-k", self.dir, "-c", "listen_addresses=127.0.0.1"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, self.proc, "postgres")
        deadline = time.monotonic() + 30
        while subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(self.port)],
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise AssertionError("postgres not ready")
            time.sleep(0.2)
        self.psql("CREATE EXTENSION pg_stat_statements")

    def _make_certificate(self):
        crt, key = os.path.join(self.data, "server.crt"), os.path.join(self.data, "server.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                        "/CN=localhost", "-keyout", key, "-out", crt], check=True, capture_output=True, timeout=60)
        pw = pwd.getpwnam("postgres")
        for p in (crt, key):
            os.chown(p, pw.pw_uid, pw.pw_gid)
        os.chmod(key, 0o600)

    def _as_postgres(self, argv):
        subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True, capture_output=True, timeout=120)

    def psql(self, sql, check=True, tag=None, sslmode="prefer"):
        argv = ["psql", f"host=127.0.0.1 port={self.port} user=postgres sslmode={sslmode}", "-X", "-q", "-A", "-t",
                "-v", "ON_ERROR_STOP=1", "-c", sql]
        if tag:
            argv += ["-v", f"tag={tag}"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError(f"psql failed: {r.stderr}")
        return r

    def pgbench(self, *args, tag="pgbench"):
        argv = ["pgbench", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", *map(str, args), "postgres"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise AssertionError(f"pgbench failed: {r.stderr}")
        return r.stdout

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class MariaDB:
    """mariadb-install-db + mariadbd on 127.0.0.1, its own datadir and socket."""

    def __init__(self):
        if shutil.which("mariadbd") is None and not os.path.exists("/usr/sbin/mariadbd"):
            harness.cannot_run("MariaDB is not installed (scripts/install-deps.sh --with-tests)")
        self.dir = tempfile.mkdtemp(prefix="redeye-mariadb-")
        pw = pwd.getpwnam("mysql")
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.data = os.path.join(self.dir, "data")
        self.socket = os.path.join(self.dir, "mysqld.sock")
        self.port = harness.free_port()
        subprocess.run(["mariadb-install-db", "--user=mysql", f"--datadir={self.data}", "--auth-root-authentication-method=normal",
                        "--skip-test-db"], check=True, capture_output=True, timeout=180)
        self.proc = subprocess.Popen(
            ["/usr/sbin/mariadbd", "--no-defaults", "--user=mysql", f"--datadir={self.data}", f"--socket={self.socket}",
             f"--port={self.port}", "--bind-address=127.0.0.1", f"--pid-file={self.dir}/mysqld.pid",
             "--skip-name-resolve", "--innodb-buffer-pool-size=32M", "--skip-log-bin"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, self.proc, "mariadbd", timeout=120)
        # over the unix socket, which the agent does not trace
        self.sql("CREATE USER 'redeye'@'127.0.0.1' IDENTIFIED BY 'redeye'; GRANT ALL ON *.* TO 'redeye'@'127.0.0.1';"
                 "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT AUTO_INCREMENT PRIMARY KEY, item VARCHAR(64));")

    def sql(self, statements):
        r = subprocess.run(["mariadb", f"--socket={self.socket}", "-u", "root", "-e", statements],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError(f"mariadb failed: {r.stderr}")
        return r.stdout

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
