"""
cluster: throwaway PostgreSQL clusters for the integration tests.

initdb into a temp dir under /tmp, listen on 127.0.0.1 on a free port with the
unix socket in the same dir. PostgreSQL refuses to run as root, so when the
tests run as root every PostgreSQL command runs as the `postgres` system user
on a dir owned by it.
"""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import psycopg

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
IS_ROOT = os.geteuid() == 0
RUN_AS = "postgres" if IS_ROOT else None


def _port_share():
    """This process's share of ports 20000-31999: all of them, or under
    pytest-xdist one worker's disjoint part, so that two workers never hand
    out one port (a port checked free may be bound only later)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    span = 12000 // max(count, 1)
    return 20000 + (index % max(count, 1)) * span, span


_PORT_BASE, _PORT_SPAN = _port_share()
_next_port = [_PORT_BASE + (os.getpid() * 7) % _PORT_SPAN]
_handed_out = set()


def free_port():
    """A TCP port on 127.0.0.1 that nobody uses right now and that this process
    has not handed out before, from its share (_port_share). Ports come from below
    the kernel's ephemeral range (32768+), so an outgoing connection's local port
    can never take one between this check and the server's bind."""
    for _ in range(_PORT_SPAN):
        port = _next_port[0]
        _next_port[0] = _PORT_BASE + (port - _PORT_BASE + 1) % _PORT_SPAN
        if port in _handed_out:
            continue
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free TCP port in {_PORT_BASE}-{_PORT_BASE + _PORT_SPAN - 1}")


def make_dir(prefix):
    """A fresh dir under /tmp that the unprivileged user (postgres when root) owns."""
    d = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    if IS_ROOT:
        pw = pwd.getpwnam(RUN_AS)
        os.chown(d, pw.pw_uid, pw.pw_gid)
    os.chmod(d, 0o755)
    return d


def chown_tree(path):
    if not IS_ROOT:
        return
    pw = pwd.getpwnam(RUN_AS)
    for root, dirs, files in os.walk(path):
        os.chown(root, pw.pw_uid, pw.pw_gid)
        for f in files:
            os.chown(os.path.join(root, f), pw.pw_uid, pw.pw_gid)


def as_user_kwargs():
    """subprocess keyword arguments that run the child as the unprivileged user."""
    if not IS_ROOT:
        return {}
    return {"user": RUN_AS, "group": RUN_AS, "extra_groups": []}


class PgCluster:
    SUPERUSER = "postgres"
    DBNAME = "testdb"

    def __init__(self, max_connections=300, name="pg", certs=None):
        self.certs = certs  # a certs.Certs: ssl = on with its PostgreSQL certificate
        self.dir = make_dir(f"sluice-it-{name}-")
        self.data = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "postgres.log")
        self.port = free_port()
        self.host = "127.0.0.1"
        self.sockdir = self.dir
        self.max_connections = max_connections
        self.version = None

    # ---- processes

    def _run(self, args, check=True, timeout=120):
        env = dict(os.environ, LC_ALL="C", LANG="C", HOME=self.dir, PGTZ="UTC")
        env.pop("PGHOST", None)
        env.pop("PGPORT", None)
        p = subprocess.run(
            args,
            cwd=self.dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            **as_user_kwargs(),
        )
        if check and p.returncode != 0:
            raise RuntimeError(
                f"{' '.join(args)} failed ({p.returncode}):\n{p.stdout.decode(errors='replace')}\n"
                f"--- postgres log ---\n{self.log_tail()}"
            )
        return p

    def init(self):
        self._run(
            [f"{PG_BIN}/initdb", "-D", self.data, "-A", "trust", "-U", self.SUPERUSER,
             "-E", "UTF8", "--no-locale", "-N"]
        )
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write(
                f"""
# --- sluice integration tests
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.sockdir}'
max_connections = {self.max_connections}
shared_buffers = 32MB
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
log_line_prefix = '%m [%p] %u@%d '
log_timezone = 'UTC'
timezone = 'UTC'
"""
            )
            if self.certs:
                # also on 127.0.0.9, an address its certificate does not name
                f.write(
                    f"""
listen_addresses = '127.0.0.1,127.0.0.9'
ssl = on
ssl_cert_file = '{self.certs.pg[0]}'
ssl_key_file = '{self.certs.pg[1]}'
ssl_ca_file = '{self.certs.ca}'
"""
                )
        self.write_hba()
        return self

    def write_hba(self):
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write(
                """# written by the sluice integration tests
local   all  all                    trust
host    all  postgres  127.0.0.1/32 trust
host    all  u_trust   127.0.0.1/32 trust
host    all  u_plain   127.0.0.1/32 password
host    all  u_md5     127.0.0.1/32 md5
host    all  u_scram   127.0.0.1/32 scram-sha-256
host    all  all       127.0.0.1/32 trust
"""
            )

    def add_hba_first(self, line):
        """Put `line` first in pg_hba.conf (once) and reload PostgreSQL."""
        path = os.path.join(self.data, "pg_hba.conf")
        with open(path) as f:
            text = f.read()
        if line not in text.splitlines():
            with open(path, "w") as f:
                f.write(line + "\n" + text)
            self._run([f"{PG_BIN}/pg_ctl", "-D", self.data, "reload"])

    def start(self):
        self._run([f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", self.logfile, "-w", "-t", "60", "start"])
        return self

    def stop(self, mode="fast", check=True):
        return self._run([f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop"], check=check)

    def restart(self, mode="fast"):
        self._run([f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", self.logfile, "-m", mode, "-w", "-t", "60", "restart"])

    def is_running(self):
        return self._run([f"{PG_BIN}/pg_ctl", "-D", self.data, "status"], check=False).returncode == 0

    def destroy(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self.stop(mode="immediate", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, n=40):
        try:
            with open(self.logfile, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    # ---- SQL as superuser over the unix socket

    def connect(self, dbname=None, user=None, **kw):
        kw.setdefault("autocommit", True)
        return psycopg.connect(
            host=self.sockdir, port=self.port, dbname=dbname or self.DBNAME,
            user=user or self.SUPERUSER, connect_timeout=10, **kw
        )

    def execute(self, sql, params=None, dbname=None):
        """Run sql as superuser; return all rows (or [] when there are none)."""
        with self.connect(dbname=dbname) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def scalar(self, sql, params=None, dbname=None):
        rows = self.execute(sql, params, dbname)
        return rows[0][0] if rows else None

    def backends(self, user, dbname=None, states=None):
        """Client backends of `user` in `dbname` now (pg_stat_activity)."""
        sql = (
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND usename = %s AND datname = %s"
        )
        params = [user, dbname or self.DBNAME]
        if states:
            sql += " AND state = ANY(%s)"
            params.append(list(states))
        return self.scalar(sql, params)

    # ---- the standard roles and database

    PASSWORDS = {
        "u_trust": "pw_trust",
        "u_plain": "pw_plain",
        "u_md5": "pw_md5",
        "u_scram": "pw_scram",
        "u_app": "pw_app",
    }

    def setup_roles(self):
        self.execute(f"CREATE DATABASE {self.DBNAME}", dbname="postgres")
        self.execute("GRANT ALL ON SCHEMA public TO PUBLIC")
        with self.connect() as conn:
            for user, pw in self.PASSWORDS.items():
                enc = "md5" if user == "u_md5" else "scram-sha-256"
                conn.execute(f"SET password_encryption = '{enc}'")
                conn.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{pw}'")
        self.version = self.scalar("SHOW server_version")
        return self

    def secret(self, user):
        """The password hash PostgreSQL stores for `user` (md5... or SCRAM-SHA-256$...)."""
        return self.scalar("SELECT rolpassword FROM pg_authid WHERE rolname = %s", [user])

    def create_role(self, name, password=None, superuser=False):
        pw = f" PASSWORD '{password}'" if password else ""
        su = " SUPERUSER" if superuser else ""
        self.execute(f'DROP ROLE IF EXISTS "{name}"')
        self.execute(f'CREATE ROLE "{name}" LOGIN{su}{pw}')
        return name


def wait_for(pred, timeout=10.0, interval=0.05, what="condition"):
    """Poll pred() until it returns a truthy value; return it, or raise AssertionError."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
