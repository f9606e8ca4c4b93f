"""
helpers: small pieces shared by the integration tests: a background sampler
of pg_stat_activity, thread runners, a TCP listener that never answers, and a
switchable TCP proxy in front of PostgreSQL.
"""

import socket
import threading
import time

import psycopg
import pytest
from psycopg import errors


class BackendSampler:
    """Samples PostgreSQL's pg_stat_activity for (user, db) in a thread; .max is
    the most client backends seen at once."""

    def __init__(self, pg, user, dbname=None, interval=0.02):
        self.pg = pg
        self.user = user
        self.dbname = dbname or pg.DBNAME
        self.interval = interval
        self.max = 0
        self.samples = 0
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        sql = (
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
            "AND usename = %s AND datname = %s"
        )
        try:
            with self.pg.connect() as conn:
                while not self._stop.is_set():
                    n = conn.execute(sql, [self.user, self.dbname]).fetchone()[0]
                    self.max = max(self.max, n)
                    self.samples += 1
                    time.sleep(self.interval)
        except Exception as e:  # reported by stop()
            self.errors.append(e)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)
        if self.errors:
            raise self.errors[0]


def run_threads(target, n, timeout=120):
    """Run target(i) in n threads; return (results dict, errors dict)."""
    results, errors = {}, {}

    def wrap(i):
        try:
            results[i] = target(i)
        except BaseException as e:  # noqa: B902 - report everything
            errors[i] = e

    threads = [threading.Thread(target=wrap, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(deadline - time.monotonic(), 0.01))
    alive = [i for i, t in enumerate(threads) if t.is_alive()]
    for i in alive:
        errors[i] = TimeoutError(f"thread {i} still running after {timeout}s")
    return results, errors


class Background:
    """Run fn() in a thread; .result() joins and returns its value or raises its error."""

    def __init__(self, fn, *args, **kwargs):
        self.value = None
        self.error = None
        self.done = threading.Event()
        self.finished_at = None

        def wrap():
            try:
                self.value = fn(*args, **kwargs)
            except BaseException as e:  # noqa: B902
                self.error = e
            finally:
                self.finished_at = time.monotonic()
                self.done.set()

        self.started_at = time.monotonic()
        self.thread = threading.Thread(target=wrap, daemon=True)
        self.thread.start()

    def result(self, timeout=30):
        if not self.done.wait(timeout):
            raise AssertionError(f"background call still running after {timeout}s")
        if self.error:
            raise self.error
        return self.value

    def exception(self, timeout=30):
        if not self.done.wait(timeout):
            raise AssertionError(f"background call still running after {timeout}s")
        return self.error


class _Listener:
    """A TCP listener on `listen` (any free port of 127.0.0.1 by default) that
    hands each accepted connection to self._on_accept in its own thread."""

    def __init__(self, listen=("127.0.0.1", 0)):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(listen)
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self._on_accept(c)

    def _on_accept(self, c):
        raise NotImplementedError

    def close(self):
        self._stop.set()
        self.sock.close()


class Blackhole(_Listener):
    """A TCP listener that accepts connections and never says a word. Records
    when each accepted connection was closed by the peer."""

    def __init__(self):
        self.accepted = []  # (accepted_at, closed_at or None)
        self.lock = threading.Lock()
        super().__init__()

    def _on_accept(self, c):
        with self.lock:
            idx = len(self.accepted)
            self.accepted.append([time.monotonic(), None])
        threading.Thread(target=self._drain, args=(c, idx), daemon=True).start()

    def _drain(self, c, idx):
        c.settimeout(0.2)
        try:
            while not self._stop.is_set():
                try:
                    if not c.recv(4096):
                        break
                except socket.timeout:
                    continue
                except OSError:
                    break
        finally:
            with self.lock:
                self.accepted[idx][1] = time.monotonic()
            c.close()


class Proxy(_Listener):
    """A TCP proxy to (host, port), listening on `listen` (any free port of
    127.0.0.1 by default). mode "forward" relays bytes; mode "refuse" accepts
    and closes at once (a server that fails every log-in). Counts connections."""

    def __init__(self, target_port, target_host="127.0.0.1", mode="forward", listen=("127.0.0.1", 0)):
        self.target = (target_host, target_port)
        self.mode = mode
        self.connections = 0
        super().__init__(listen)

    def _on_accept(self, c):
        self.connections += 1
        if self.mode != "forward":
            c.close()
            return
        try:
            up = socket.create_connection(self.target, timeout=5)
        except OSError:
            c.close()
            return
        for a, b in ((c, up), (up, c)):
            threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def check_queries_errors_transactions(s, pg, table, conn_kw=None):
    """Queries, errors and transactions through pooler s; table is created fresh."""
    pg.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v text)")
    pg.execute(f"GRANT ALL ON {table} TO PUBLIC")
    with s.connect(**(conn_kw or {})) as c:
        assert c.execute("SELECT 1 + 1").fetchone()[0] == 2
        assert c.execute("SELECT current_user, current_database()").fetchone() == ("u_app", "testdb")
        # an error does not break the connection
        with pytest.raises(errors.DivisionByZero):
            c.execute("SELECT 1/0")
        assert c.execute("SELECT 'still here'").fetchone()[0] == "still here"
        # a committed transaction is visible, a rolled back one is not
        with c.transaction():
            c.execute(f"INSERT INTO {table} VALUES (1, 'committed')")
        with pytest.raises(errors.UniqueViolation):
            with c.transaction():
                c.execute(f"INSERT INTO {table} VALUES (2, 'rolled back')")
                c.execute(f"INSERT INTO {table} VALUES (1, 'duplicate')")
        c.execute("BEGIN")
        c.execute(f"INSERT INTO {table} VALUES (3, 'explicit rollback')")
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
        c.execute("ROLLBACK")
        # an error inside a block leaves it failed until ROLLBACK
        c.execute("BEGIN")
        with pytest.raises(errors.UndefinedTable):
            c.execute("SELECT * FROM no_such_table")
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.INERROR
        with pytest.raises(errors.InFailedSqlTransaction):
            c.execute("SELECT 1")
        c.execute("ROLLBACK")
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        rows = c.execute(f"SELECT id, v FROM {table} ORDER BY id").fetchall()
        assert rows == [(1, "committed")]
    # and PostgreSQL itself agrees
    assert pg.execute(f"SELECT id FROM {table} ORDER BY id") == [(1,)]


def seed_blog(pg):
    """The seed schema of the N+1 tests: 20 posts (sp_posts) by 20 users (sp_users)."""
    pg.execute("CREATE TABLE IF NOT EXISTS sp_users (id int PRIMARY KEY, name text)")
    pg.execute("CREATE TABLE IF NOT EXISTS sp_posts (id int PRIMARY KEY, user_id int, title text)")
    pg.execute("TRUNCATE sp_users, sp_posts")
    pg.execute("INSERT INTO sp_users SELECT i, 'user-' || i FROM generate_series(1, 20) i")
    pg.execute("INSERT INTO sp_posts SELECT i, i, 'post-' || i FROM generate_series(1, 20) i")
    pg.execute("GRANT SELECT ON sp_users, sp_posts TO PUBLIC")
