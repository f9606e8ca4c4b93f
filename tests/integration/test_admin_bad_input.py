"""Bad input on the admin port: garbage bytes, half an HTTP request, a huge
header, protocol abuse after log-in and SQL-injection-shaped commands get an
error and/or a closed connection, and the pooler keeps serving."""

import socket
import struct
import time

import pytest

import pgwire
from admin_helpers import admin_config, admin_raw, console, http, http_raw, parse_http, show, wait_admin_port
from pooler import SLACK

pytestmark = pytest.mark.sluice_only


def still_serving(s):
    assert s.alive()
    with s.connect() as c:
        assert c.execute("SELECT 'fine'").fetchone()[0] == "fine"
    assert console(s).execute("SHOW VERSION").fetchone()
    assert http(s, "/healthz")[0] == 200


GARBAGE = {
    "zeros": b"\x00" * 64,
    "ones": b"\xff" * 64,
    "lowercase_text": b"hello there, this is not postgres\r\n\r\n",
    "bad_version": struct.pack("!ii", 8, 12345678),
    "short_length": struct.pack("!i", 3) + b"xxxx",
    "negative_length": struct.pack("!i", -100) + b"xxxx",
    "huge_length": struct.pack("!ii", 0x7FFFFFF0, 196608) + b"user\0x\0\0",
    "startup_without_user": pgwire.startup_packet({"database": "sluice"}),
    "tls_hello": bytes.fromhex("16030100a5010000a10303") + b"\x00" * 100,
}


@pytest.mark.parametrize("name", list(GARBAGE))
def test_garbage_before_login(sluice, name):
    s = sluice(config=admin_config(client_login_timeout=3))
    wait_admin_port(s)
    r = pgwire.RawConn(port=s.admin_port, timeout=10 * SLACK)
    s.raws.append(r)
    r.send(GARBAGE[name])
    kind, fields, closed = r.error_or_close(timeout=8 * SLACK)
    assert kind in ("error", "close"), (kind, fields)
    if kind == "error":
        assert fields.get("C", "").startswith(("08", "28", "0A", "53", "57")), fields
    assert closed
    still_serving(s)


@pytest.mark.parametrize("msg", [
    pgwire.message(b"P", b"\0SHOW POOLS\0\0\0"),  # extended protocol
    pgwire.message(b"B", b"\0\0\0\0\0\0\0\0"),
    pgwire.message(b"d", b"copy data"),
    pgwire.message(b"Z"),  # not a frontend message
    pgwire.message(b"Q", b"SHOW POOLS"),  # no terminating NUL
    pgwire.message(b"Q", b"SHOW\0POOLS\0"),  # NUL inside
    b"Q" + struct.pack("!i", 2),  # length shorter than itself
    b"Q" + struct.pack("!i", 100_000) + b"SHOW POOLS",  # longer than any console command
])
def test_protocol_abuse_after_login(sluice, msg):
    s = sluice(config=admin_config())
    r = admin_raw(s)
    r.startup("sluice_admin", "sluice")
    r.send(msg)
    kind, fields, closed = r.error_or_close(timeout=8 * SLACK)
    assert kind in ("error", "close"), (kind, fields)
    if kind == "error":
        assert fields["C"] == "08P01", fields
    assert closed
    still_serving(s)


def test_long_commands(sluice):
    s = sluice(config=admin_config())
    r = admin_raw(s)
    r.startup("sluice_admin", "sluice")
    # over the command size limit but a sane message: an error, the session goes on
    with pytest.raises(pgwire.PgError) as ei:
        r.query("SHOW " + "x" * 4095)
    assert ei.value.sqlstate == "42601"
    assert r.query("SHOW STATE")
    # just under the limit, with '=' words that each add a NUL to the parsed text
    # (found by tests/fuzz/fuzz_admin: it used to overflow the parser's buffer)
    with pytest.raises(pgwire.PgError) as ei:
        r.query("x" * 4087 + "=x=x=x=")
    assert ei.value.sqlstate == "42601"
    assert r.query("SHOW STATE")
    # a message far larger than any command: an error and the connection closed
    try:
        r.send(pgwire.query_message("SHOW " + "POOLS" * 20000))
    except OSError:
        pass  # closed before all of it was written (over TLS the write itself sees that)
    kind, fields, closed = r.error_or_close(timeout=8 * SLACK)
    assert kind in ("error", "close"), (kind, fields)
    if kind == "error":
        assert fields["C"] in ("08P01", "42601", "54000"), fields
    assert closed
    still_serving(s)


def test_half_http_request_and_huge_header(sluice):
    s = sluice(config=admin_config(client_login_timeout=2))
    wait_admin_port(s)
    # half a request line, then close
    with socket.create_connection(("127.0.0.1", s.admin_port)) as sock:
        sock.sendall(b"GET /metrics HT")
    # half a head, left open while the pooler serves others
    half = socket.create_connection(("127.0.0.1", s.admin_port), timeout=10 * SLACK)
    half.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
    still_serving(s)
    # a huge header: 431 or a plain close
    resp = http_raw(s, b"GET /metrics HTTP/1.1\r\nX: " + b"z" * 64 * 1024 + b"\r\n\r\n")
    assert resp == b"" or parse_http(resp)[0] == 431, resp[:100]
    half.close()
    still_serving(s)


def test_sql_injection_shaped_commands(sluice, pg, role):
    pg.execute("CREATE TABLE IF NOT EXISTS inj_target (v int)")
    s = sluice(config=admin_config(pool_mode="transaction"))
    with s.connect(user=role) as c:
        c.execute("SELECT 1")
    r = admin_raw(s)
    r.startup("sluice_admin", "sluice")
    attempts = [
        "SHOW pools; DROP TABLE inj_target",
        "SHOW pools;DROP TABLE inj_target;",
        'SHOW "pools\'--"',
        "SHOW pools'; DROP TABLE inj_target; --",
        "SHOW pools -- DROP TABLE inj_target",
        "SHOW pools /* */",
        'SHOW "pools"; PAUSE',
        "PAUSE testdb; DROP TABLE inj_target",
        'PAUSE "testdb; DROP TABLE inj_target"',
        "PAUSE 'testdb''--'",
        "KILL_CLIENT 1 OR 1=1",
        "KILL_CLIENT 1; SHUTDOWN",
        "SET default_pool_size = '5; DROP TABLE inj_target'",
        "SET default_pool_size = 5; SHUTDOWN",
        "DISABLE testdb); DROP TABLE inj_target; --",
        "SHUTDOWN; SELECT 1",
        "SHOW \x01pools",
        "SHOW pools\\; DROP TABLE inj_target",
    ]
    for sql in attempts:
        with pytest.raises(pgwire.PgError) as ei:
            r.query(sql)
        assert ei.value.sqlstate in ("42601", "42602", "22023", "22P02"), (sql, ei.value)
        assert r.status == b"I", sql
    # nothing of it happened
    assert pg.scalar("SELECT to_regclass('inj_target') IS NOT NULL") is True
    a = console(s)
    assert {x["key"]: x["value"] for x in show(a, "STATE")} == {"active": "yes", "paused": "no", "suspended": "no"}
    assert {x["key"]: x["value"] for x in show(a, "CONFIG")}["default_pool_size"] == "20"
    assert all(x["paused"] == 0 and x["disabled"] == 0 for x in show(a, "DATABASES"))
    assert any(x["user"] == role for x in show(a, "POOLS"))
    still_serving(s)
    pg.execute("DROP TABLE inj_target")


def test_many_bad_connections_at_once(sluice):
    s = sluice(config=admin_config(client_login_timeout=3))
    wait_admin_port(s)
    socks = []
    for i in range(30):
        sock = socket.create_connection(("127.0.0.1", s.admin_port), timeout=10 * SLACK)
        sock.sendall((b"GET /x", b"\x00\x00", b"\xff" * 10, b"Q")[i % 4])
        socks.append(sock)
    t0 = time.monotonic()
    still_serving(s)
    assert time.monotonic() - t0 < 5 * SLACK
    for sock in socks:
        sock.close()
    still_serving(s)
