"""
pooler: start sluice (or, with POOLER=pgbouncer, PgBouncer for checking the
tests themselves) with a generated PgBouncer-style INI, and talk to it.

One Pooler is one process with its own dir under /tmp (config, auth_file,
unix socket, stderr log). The conftest `sluice` fixture makes them and, at
teardown, stops them and fails the test on a sanitizer report or a crash.
"""

import os
import re
import signal
import socket
import subprocess
import time

import psycopg

import pgwire
from cluster import as_user_kwargs, chown_tree, free_port, make_dir

POOLER = os.environ.get("POOLER", "sluice")
IS_PGBOUNCER = POOLER == "pgbouncer"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SLUICE_BIN = os.path.abspath(os.path.join(ROOT, os.environ.get("SLUICE_BIN", "build/sluice")))
PGBOUNCER_BIN = os.environ.get("PGBOUNCER_BIN", "/usr/sbin/pgbouncer")
SANITIZED = os.environ.get("SLUICE_SANITIZED", "") not in ("", "0")
# slower binaries (sanitizers) get more slack in waits, never in assertions of behaviour
SLACK = 3.0 if SANITIZED else 1.0

SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "AddressSanitizer:",
    "ERROR: LeakSanitizer",
    "LeakSanitizer:",
    "UndefinedBehaviorSanitizer",
    "runtime error:",
)

# the TLS switch (conftest): keys every sluice gets, under the test's own overrides
TLS_SETTINGS = {}

# keys only sluice knows; left out of a PgBouncer config
SLUICE_ONLY_KEYS = {"admin_port", "admin_listen_addr", "internal_query_timeout"}

# which signal means what: sluice follows PostgreSQL/Kubernetes (TERM drains,
# INT exits at once); PgBouncer 1.18 has them the other way round.
DRAIN_SIGNAL = signal.SIGINT if IS_PGBOUNCER else signal.SIGTERM
FAST_SIGNAL = signal.SIGTERM if IS_PGBOUNCER else signal.SIGINT


def expect(sluice, pgbouncer=None):
    """The expected value for the pooler under test (PgBouncer differs in places)."""
    if IS_PGBOUNCER and pgbouncer is not None:
        return pgbouncer
    return sluice


def _ini_value(v):
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    return str(v)


class Pooler:
    def __init__(self, pg, config=None, databases=None, users=None, userlist=None, name="sluice",
                 env=None, no_config=False):
        self.pg = pg
        self.dir = make_dir(f"sluice-it-{name}-")
        self.config_path = os.path.join(self.dir, "sluice.ini")
        self.auth_file = os.path.join(self.dir, "userlist.txt")
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.port = free_port()
        self.admin_port = free_port()
        self.proc = None
        self.returncode = None
        self.signals_sent = []
        self.conns = []
        self.raws = []
        self.expect_crash = False
        self.overrides = dict(config or {})
        self.databases = databases
        self.users = users
        self.userlist = userlist
        # environment of the process on top of ours, SLUICE_* variables removed
        # (the test runner's SLUICE_BIN would otherwise be read as a setting)
        self.env = dict(env or {})
        # no_config: no CONFIG argument; DATABASE_URL and SLUICE_* in env configure it,
        # with the ports chosen here unless env names others
        self.no_config = no_config
        self.extra_args = []  # more command-line arguments, before CONFIG
        self.extra_ini = ""  # more sections, appended to the generated file
        if no_config:
            self.env.setdefault("SLUICE_LISTEN_PORT", str(self.port))
            self.env.setdefault("SLUICE_ADMIN_PORT", str(self.admin_port))
        self.write_config()

    # ---- configuration

    def pgbouncer_userlist(self):
        """PgBouncer's trust still wants each user in auth_file: list every role
        of the cluster (with the known passwords, for server log-in)."""
        roles = [r[0] for r in self.pg.execute("SELECT rolname FROM pg_roles WHERE rolcanlogin")]
        return {r: self.pg.PASSWORDS.get(r, "") for r in roles}

    def default_databases(self):
        return {
            "testdb": f"host=127.0.0.1 port={self.pg.port} dbname=testdb",
            "*": f"host=127.0.0.1 port={self.pg.port}",
        }

    def effective_userlist(self):
        if self.userlist is not None:
            return self.userlist
        if IS_PGBOUNCER and self.overrides.get("auth_type", "trust") == "trust":
            return self.pgbouncer_userlist()
        return None

    def settings(self):
        s = {
            "listen_addr": "127.0.0.1",
            "listen_port": self.port,
            "unix_socket_dir": self.dir,
            "auth_type": "trust",
            "pool_mode": "session",
            "max_client_conn": 500,
            "default_pool_size": 20,
            "server_login_retry": 1,
            "log_connections": 1,
            "log_disconnections": 1,
            "admin_port": self.admin_port,
        }
        if self.effective_userlist() is not None:
            s["auth_file"] = self.auth_file
        s.update(TLS_SETTINGS)
        s.update(self.overrides)
        return {k: v for k, v in s.items() if v is not None}

    def render(self):
        section = "pgbouncer" if IS_PGBOUNCER else "sluice"
        lines = ["; generated by tests/integration", "[databases]"]
        dbs = self.databases if self.databases is not None else self.default_databases()
        for name, val in dbs.items():
            lines.append(f"{name} = {val}")
        lines.append("")
        if self.users:
            lines.append("[users]")
            for name, val in self.users.items():
                lines.append(f"{name} = {val}")
            lines.append("")
        lines.append(f"[{section}]")
        for k, v in self.settings().items():
            if IS_PGBOUNCER and k in SLUICE_ONLY_KEYS:
                continue
            lines.append(f"{k} = {_ini_value(v)}")
        return "\n".join(lines) + "\n" + self.extra_ini

    def write_config(self):
        with open(self.config_path, "w") as f:
            f.write(self.render())
        userlist = self.effective_userlist()
        if userlist is not None:
            with open(self.auth_file, "w") as f:
                for user, secret in userlist.items():
                    u = user.replace('"', '""')
                    s = secret.replace('"', '""')
                    f.write(f'"{u}" "{s}"\n')
        if IS_PGBOUNCER:
            chown_tree(self.dir)

    # ---- process

    def command(self):
        if IS_PGBOUNCER:
            return [PGBOUNCER_BIN, self.config_path]
        return [SLUICE_BIN, *self.extra_args] + ([] if self.no_config else [self.config_path])

    def process_env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
        env.update(self.env)
        return env

    def start(self, wait=True, timeout=10.0):
        self.logf = open(self.log_path, "ab")
        kw = as_user_kwargs() if IS_PGBOUNCER else {}
        self.proc = subprocess.Popen(
            self.command(),
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=self.logf,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=self.process_env(),
            **kw,
        )
        self.pid = self.proc.pid
        if wait:
            self.wait_ready(timeout * SLACK)
        return self

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.returncode = rc
                raise AssertionError(
                    f"{POOLER} exited with {rc} before accepting connections\n"
                    f"--- config ---\n{self.render()}--- log ---\n{self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                # sluice opens the admin port right after the main one
                if not IS_PGBOUNCER and self.effective_admin_port():
                    with socket.create_connection(("127.0.0.1", self.effective_admin_port()), timeout=0.5):
                        pass
                return
            except OSError:
                time.sleep(0.02)
        raise AssertionError(
            f"{POOLER} did not accept connections on port {self.port} within {timeout}s\n"
            f"--- log ---\n{self.log_tail()}"
        )

    def effective_admin_port(self):
        """The admin port the running config asks for (0: none)."""
        return int(self.settings().get("admin_port", 0) or 0)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.signals_sent.append(sig)
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=10.0):
        """Wait for the process to exit; return its returncode (negative: killed by signal)."""
        try:
            self.returncode = self.proc.wait(timeout * SLACK)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{POOLER} still running {timeout * SLACK}s later\n{self.log_tail()}")
        return self.returncode

    def reload(self, config=None, databases=None, users=None, userlist=None):
        """Rewrite the config with these changes and send SIGHUP."""
        if config:
            self.overrides.update(config)
        if databases is not None:
            self.databases = databases
        if users is not None:
            self.users = users
        if userlist is not None:
            self.userlist = userlist
        self.write_config()
        self.signal(signal.SIGHUP)

    def rss_kb(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, n=60):
        return "\n".join(self.log_text().splitlines()[-n:])

    # ---- clients

    def dsn(self, user="u_app", dbname="testdb", password=None, **extra):
        parts = {"host": "127.0.0.1", "port": self.port, "user": user, "dbname": dbname}
        if password is not None:
            parts["password"] = password
        parts.update(extra)
        return " ".join(f"{k}='{v}'" for k, v in parts.items())

    def connect(self, user="u_app", dbname="testdb", password=None, autocommit=True, host="127.0.0.1", **kw):
        """A psycopg connection through the pooler (tracked, closed at teardown),
        with psycopg's own prepare_threshold (named prepared statements after 5
        runs) unless SLUICE_TEST_PREPARE_THRESHOLD says otherwise."""
        kw.update({k: v for k, v in psycopg_defaults().items() if k not in kw})
        kw.setdefault("connect_timeout", int(10 * SLACK))
        conn = psycopg.connect(
            host=host, port=self.port, user=user, dbname=dbname, password=password,
            autocommit=autocommit, **kw,
        )
        self.conns.append(conn)
        return conn

    def raw(self, timeout=10.0, unix=False):
        """A pgwire.RawConn to the pooler (tracked, closed at teardown)."""
        if unix:
            c = pgwire.RawConn(path=os.path.join(self.dir, f".s.PGSQL.{self.port}"), timeout=timeout * SLACK)
        else:
            c = pgwire.RawConn(port=self.port, timeout=timeout * SLACK)
        self.raws.append(c)
        return c

    def raw_login(self, user="u_app", database="testdb", password=None, params=None, timeout=10.0):
        c = self.raw(timeout)
        c.startup(user, database, password=password, params=params)
        return c

    # ---- teardown

    def close_clients(self):
        for c in self.conns:
            try:
                c.close()
            except Exception:
                pass
        for r in self.raws:
            r.close()

    def stop(self):
        """Stop the process (drain, then fast, then kill). Returns a list of problems."""
        problems = []
        self.close_clients()
        if self.proc is None:
            return problems
        if self.proc.poll() is None:
            for sig, wait in ((DRAIN_SIGNAL, 5.0), (FAST_SIGNAL, 5.0)):
                self.signals_sent.append(sig)
                try:
                    self.proc.send_signal(sig)
                    self.returncode = self.proc.wait(wait * SLACK)
                except subprocess.TimeoutExpired:
                    continue
                if sig == DRAIN_SIGNAL and self.returncode != 0:
                    problems.append(f"{POOLER} exited with {self.returncode} after {sig.name} with no clients (expected 0)")
                break
            else:
                self.proc.kill()
                self.returncode = self.proc.wait(10)
                problems.append(f"{POOLER} did not exit on SIGTERM nor SIGINT; killed")
        else:
            self.returncode = self.proc.returncode
        rc = self.returncode
        if rc is not None and rc < 0 and -rc not in self.signals_sent and not self.expect_crash:
            problems.append(f"{POOLER} died from signal {signal.Signals(-rc).name}")
        if getattr(self, "logf", None):
            self.logf.close()
        log = self.log_text()
        for marker in SANITIZER_MARKERS:
            if marker in log:
                problems.append(f"sanitizer report in {POOLER}'s log ({marker!r})")
                break
        return problems


def psycopg_defaults():
    """Keyword arguments for psycopg.connect through the pooler. By default
    none: psycopg prepares a query after 5 runs, as applications get it.
    SLUICE_TEST_PREPARE_THRESHOLD=0 prepares every query at once ("none":
    never), for a second run of the transaction-mode tests."""
    v = os.environ.get("SLUICE_TEST_PREPARE_THRESHOLD")
    if v is None or v == "":
        return {}
    return {"prepare_threshold": None if v == "none" else int(v)}


def pg_error_code(exc):
    """SQLSTATE of a psycopg exception, falling back to parsing its text."""
    code = getattr(exc, "sqlstate", None)
    if code:
        return code
    diag = getattr(exc, "diag", None)
    if diag is not None and diag.sqlstate:
        return diag.sqlstate
    return None


def wait_port_closed(port, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                pass
        except OSError:
            return True
        time.sleep(0.05)
    return False


_ident = re.compile(r"[^a-z0-9_]")


def role_name(nodeid, n):
    base = _ident.sub("_", nodeid.split("::")[-1].lower())[:40]
    return f"r_{base}_{n}"
