"""
admin_helpers: the admin console, HTTP and metrics pieces shared by
test_admin_*.py, test_http.py, test_metrics.py and test_exporter.py.

- admin_config(): config overrides that name an admin user and a stats user;
- console(): a psycopg connection to the console (simple query protocol only,
  which psycopg uses for a query without parameters), tracked for teardown;
- refused_reload(): a reload that must fail, by SIGHUP or the console's RELOAD,
  waited for until the log says why;
- show()/show_desc()/pool_row(): SHOW results as dicts, with column types;
- http(): one raw HTTP/1.1 request on a socket, returning (status, headers, body);
- prom_parse(): the Prometheus text format into {(name, labels): value}.
"""

import os
import re
import shutil
import signal
import socket
import time

import psycopg
import pytest

import pgwire
from cluster import wait_for
from pooler import SLACK

ADMIN = "sluice_admin"
STATS = "sluice_watcher"
NOBODY = "sluice_nobody"

OID_INT4 = 23
OID_INT8 = 20
OID_TEXT = 25
OID_TIMESTAMPTZ = 1184
INT_OIDS = (OID_INT4, OID_INT8)


def admin_config(**extra):
    cfg = {"admin_users": ADMIN, "stats_users": STATS}
    cfg.update(extra)
    return cfg


def wait_admin_port(s, timeout=10.0):
    """pooler.wait_ready() waits for the main port only; sluice opens the admin
    listener just after it. Wait (once per Pooler) until the admin port accepts."""
    if getattr(s, "_admin_port_ready", False):
        return
    deadline = time.monotonic() + timeout * SLACK
    while True:
        try:
            with socket.create_connection(("127.0.0.1", s.admin_port), timeout=1.0):
                s._admin_port_ready = True
                return
        except OSError:
            if not s.alive() or time.monotonic() > deadline:
                raise AssertionError(f"admin port {s.admin_port} does not accept connections (sluice alive: "
                                     f"{s.alive()})\n--- log ---\n{s.log_tail(30)}")
            time.sleep(0.02)


def console(s, user=ADMIN, dbname="sluice", main_port=False, **kw):
    """A psycopg connection to sluice's admin console (admin port unless main_port)."""
    kw.setdefault("connect_timeout", int(10 * SLACK))
    kw.setdefault("prepare_threshold", None)
    wait_admin_port(s)
    conn = psycopg.connect(
        host="127.0.0.1", port=s.port if main_port else s.admin_port, user=user, dbname=dbname,
        autocommit=True, **kw,
    )
    s.conns.append(conn)
    return conn


def refused_reload(s, how, admin, want):
    """Ask for a reload that must fail, by SIGHUP (how == "sighup") or the
    console's RELOAD (which answers with an error), and wait for the log line
    `want` after it. Returns the log text written since the request."""
    log_from = len(s.log_text())
    if how == "sighup":
        s.signal(signal.SIGHUP)
    else:
        with pytest.raises(psycopg.Error, match="reload failed"):
            admin.execute("RELOAD")
    wait_for(lambda: want in s.log_text()[log_from:], timeout=5 * SLACK, what=f"the log line {want!r}")
    return s.log_text()[log_from:]


def show_desc(conn, item):
    """SHOW item -> (column names, type oids, rows as tuples)."""
    cur = conn.execute(f"SHOW {item}")
    names = [d.name for d in cur.description]
    oids = [d.type_code for d in cur.description]
    return names, oids, cur.fetchall()


def show(conn, item):
    """SHOW item -> list of dicts (column name -> value)."""
    names, _, rows = show_desc(conn, item)
    return [dict(zip(names, r)) for r in rows]


def pool_row(conn, database, user):
    for r in show(conn, "POOLS"):
        if r["database"] == database and r["user"] == user:
            return r
    return None


def stats_row(conn, database, item="STATS"):
    for r in show(conn, item):
        if r["database"] == database:
            return r
    return None


# ---------------------------------------------------------------- HTTP


def admin_raw(s, timeout=10.0):
    """A pgwire.RawConn to the admin port (tracked, closed at teardown)."""
    wait_admin_port(s)
    r = pgwire.RawConn(port=s.admin_port, timeout=timeout * SLACK)
    s.raws.append(r)
    return r


def _one_response_read(out):
    """True when out holds a whole response with a Content-Length (the server
    may keep the connection open after it: HTTP/1.1 keep-alive)."""
    head, sep, body = out.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    return bool(sep) and m is not None and len(body) >= int(m.group(1))


def http_raw(s, data, timeout=10.0):
    """Send raw bytes to the admin port, read until the peer closes, a whole
    response with a Content-Length has come (not for HEAD: send Connection:
    close to read to the end), or timeout; return the bytes. A peer that
    closes while we still send is fine."""
    wait_admin_port(s)
    with socket.create_connection(("127.0.0.1", s.admin_port), timeout=timeout * SLACK) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        out = b""
        deadline = time.monotonic() + timeout * SLACK
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                break
            if not chunk:
                break
            out += chunk
            if not data.startswith(b"HEAD ") and _one_response_read(out):
                break
        return out


def parse_http(resp):
    """Raw response bytes -> (status int, headers dict lower-cased, body bytes)."""
    head, sep, body = resp.partition(b"\r\n\r\n")
    assert sep, f"no complete HTTP head in {resp[:200]!r}"
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ", lines[0] + " ")
    assert m, f"bad status line {lines[0]!r}"
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        assert len(body) == int(headers["content-length"]), "Content-Length does not match the body"
    return int(m.group(1)), headers, body


def http(s, path, method="GET", timeout=10.0, extra_headers=""):
    """One HTTP request to the admin port -> (status, headers, body)."""
    req = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra_headers}Connection: close\r\n\r\n"
    return parse_http(http_raw(s, req.encode(), timeout))


# ---------------------------------------------------------------- Prometheus

_sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$')
_label = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def prom_parse(text):
    """Prometheus text -> {(name, frozenset(label items)): float}. Comment lines are skipped."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _sample.match(line)
        assert m, f"unparsable metrics line {line!r}"
        labels = {}
        if m.group(3):
            for k, v in _label.findall(m.group(3)):
                labels[k] = v.replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        out[(m.group(1), frozenset(labels.items()))] = float(m.group(4))
    return out


def prom_value(samples, name, **labels):
    """The value of sample name{labels...} (labels must match exactly); None if absent."""
    return samples.get((name, frozenset(labels.items())))


def fetch_metrics(s):
    status, headers, body = http(s, "/metrics")
    assert status == 200, (status, body[:300])
    return body.decode()


def find_promtool():
    return shutil.which("promtool") or ("/usr/bin/promtool" if os.path.exists("/usr/bin/promtool") else None)
