"""Bad input from one client gets an ErrorResponse where the protocol allows
one (08P01 for protocol violations) and/or a closed connection, while other
clients, connected before and after, keep working."""

import socket
import struct
import threading
import time

import psycopg
import pytest

import pgwire
from pgwire import PROTO_3_0, ConnectionClosed, message, query_message, startup_packet
from pooler import SLACK, expect

MAX_PACKET = 20000


class HealthyClient:
    """A client in a thread running queries in a loop for the whole test."""

    def __init__(self, pooler):
        self.conn = pooler.connect()
        self.count = 0
        self.errors = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                n = self.conn.execute("SELECT %s::int", [self.count]).fetchone()[0]
                assert n == self.count
                self.count += 1
            except Exception as e:  # reported in stop()
                self.errors.append(e)
                return
            time.sleep(0.01)

    def stop(self):
        before = self.count
        time.sleep(0.2)
        self._stop.set()
        self._t.join(10)
        assert not self.errors, f"healthy client failed: {self.errors[0]!r}"
        assert self.count > before, "healthy client stopped making progress"


@pytest.fixture
def pooler(sluice):
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 2, "max_packet_size": MAX_PACKET})
    healthy = HealthyClient(s)
    yield s
    healthy.stop()
    # and a brand-new client still gets in
    with s.connect() as c:
        assert c.execute("SELECT 'new client ok'").fetchone()[0] == "new client ok"
    assert s.alive(), "the pooler died"


def check_rejected(raw, allow_close=True, code=expect("08P01")):
    kind, fields, closed = raw.error_or_close(timeout=10 * SLACK)
    assert kind in (("error", "close") if allow_close else ("error",)), f"got {kind}: {fields}"
    assert closed, "the connection was not closed after the error"
    if kind == "error" and code is not None:
        assert fields["C"] == code, fields
    return kind, fields


# ---- before log-in (startup phase)

STARTUP_CASES = {
    "garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) * 4,
    "ascii_garbage": b"hello, is anybody there?\r\n" * 10,
    "length_over_max_packet_size": struct.pack("!ii", MAX_PACKET + 100, PROTO_3_0) + b"user\0u_app\0",
    "negative_length": struct.pack("!ii", -8, PROTO_3_0),
    "length_below_8": struct.pack("!i", 3) + b"\0\0\0\0",
    "zero_length": b"\0\0\0\0\0\0\0\0",
    "unknown_request_code": struct.pack("!ii", 8, 12345678),
    "protocol_2": startup_packet({"user": "u_app", "database": "testdb"}, version=0x00020000),
    "protocol_4": startup_packet({"user": "u_app", "database": "testdb"}, version=0x00040000),
    "no_user": startup_packet({"database": "testdb"}),
    "unterminated_params": struct.pack("!ii", 8 + 9, PROTO_3_0) + b"user\0u_ap",
    "odd_param_pairs": struct.pack("!ii", 8 + 15, PROTO_3_0) + b"user\0u_app\0db\0\0",
    "short_cancel_request": struct.pack("!iii", 12, 80877102, 1),
}


@pytest.mark.parametrize("case", sorted(STARTUP_CASES))
def test_bad_startup(pooler, case):
    raw = pooler.raw()
    raw.send(STARTUP_CASES[case])
    kind, fields = check_rejected(raw, code=None)
    if kind == "error":
        assert fields.get("S") in ("FATAL", "ERROR"), fields
        if case in ("length_over_max_packet_size", "negative_length", "length_below_8", "garbage"):
            assert fields["C"] == expect("08P01"), fields


@pytest.mark.sluice_only
@pytest.mark.parametrize("case", ["negative_length", "length_below_8", "zero_length"])
def test_impossible_startup_length_closed_without_reply(pooler, pg, case):
    """A start-up packet whose length cannot be one is closed without a word,
    as PostgreSQL itself does (checked against it too)."""
    import pgwire

    for port in (pooler.port, pg.port):
        raw = pgwire.RawConn(port=port, timeout=5 * SLACK)
        raw.send(STARTUP_CASES[case])
        closed, msgs = raw.wait_closed(timeout=5 * SLACK)
        raw.close()
        assert closed and msgs == [], (port, msgs)


def test_half_a_startup_then_close(pooler):
    raw = pooler.raw()
    raw.send(startup_packet({"user": "u_app", "database": "testdb"})[:11])
    time.sleep(0.2)
    raw.close()


@pytest.mark.sluice_only  # PgBouncer 1.18: "client sent partial pkt in startup phase"
def test_startup_byte_by_byte(pooler):
    """A StartupMessage split at every byte is framed correctly."""
    raw = pooler.raw()
    for b in startup_packet({"user": "u_app", "database": "testdb"}):
        raw.send(bytes([b]))
        time.sleep(0.002)
    raw.finish_login("u_app", None)
    assert raw.query("SELECT 'framed'") == [["framed"]]


def test_ssl_request_answered_n_then_startup(pooler):
    """'N' without TLS; under the TLS switch 'S', and the log-in goes on over TLS."""
    raw = pooler.raw()
    assert raw.ssl_if_offered() == (b"S" if pgwire.TLS_SWITCH else b"N")
    raw.startup("u_app", "testdb")
    assert raw.query("SELECT 'after ssl N'") == [["after ssl N"]]


def test_gssenc_request_answered_n_then_startup(pooler):
    raw = pooler.raw()
    assert raw.request_ssl(code=80877104) == b"N"
    raw.startup("u_app", "testdb")
    assert raw.query("SELECT 'after gss N'") == [["after gss N"]]


@pytest.mark.sluice_only
def test_ssl_then_gssenc_then_startup(pooler):
    raw = pooler.raw()
    if pgwire.TLS_SWITCH:  # TLS is on: GSS first (no), then SSL (yes)
        assert raw.request_ssl(code=80877104) == b"N"
        assert raw.ssl_if_offered() == b"S"
    else:
        assert raw.request_ssl() == b"N"
        assert raw.request_ssl(code=80877104) == b"N"
    raw.startup("u_app", "testdb")
    assert raw.query("SELECT 1") == [["1"]]


def test_replication_connection_refused(pooler):
    raw = pooler.raw()
    raw.send(startup_packet({"user": "u_app", "database": "testdb", "replication": "true"}))
    kind, fields = check_rejected(raw, code=None)
    if kind == "error":
        assert fields["S"] == "FATAL"


# ---- after log-in

def logged_in(pooler):
    raw = pooler.raw()
    raw.startup("u_app", "testdb")
    assert raw.query("SELECT 1") == [["1"]]
    return raw


AFTER_LOGIN_CASES = {
    "unknown_message_type": message(b"\x7f", b"??"),
    "unknown_letter": message(b"y", b""),
    "length_over_max_packet_size": b"Q" + struct.pack("!i", MAX_PACKET + 5000),
    "negative_length": b"Q" + struct.pack("!i", -100),
    "length_below_4": b"Q" + struct.pack("!i", 2),
    "garbage": bytes(range(256)) * 8,
    "startup_packet_again": startup_packet({"user": "u_app", "database": "testdb"}),
}


@pytest.mark.parametrize("case", sorted(AFTER_LOGIN_CASES))
def test_bad_message_after_login(pooler, case):
    raw = logged_in(pooler)
    raw.send(AFTER_LOGIN_CASES[case])
    kind, fields = check_rejected(raw, code=None)
    if kind == "error" and case in ("length_over_max_packet_size", "negative_length", "length_below_4",
                                    "unknown_message_type"):
        assert fields["C"] == expect("08P01"), fields


@pytest.mark.sluice_only
@pytest.mark.parametrize("case", ["length_over_max_packet_size", "negative_length", "length_below_4"])
def test_bad_length_gets_08p01(pooler, case):
    """The protocol allows an ErrorResponse here, so sluice sends one: 08P01."""
    raw = logged_in(pooler)
    raw.send(AFTER_LOGIN_CASES[case])
    check_rejected(raw, allow_close=False, code="08P01")


@pytest.mark.parametrize("case", ["unknown_message_type", "length_over_max_packet_size"])
def test_bad_input_inside_transaction_leaves_server_clean(sluice, pg, role, case):
    """The bad client held the only server inside a transaction; the next client
    gets that server rolled back (or a new one)."""
    pg.execute(f"CREATE TABLE IF NOT EXISTS t_bad_{case} (id int)")
    pg.execute(f"GRANT ALL ON t_bad_{case} TO PUBLIC")
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1, "max_packet_size": MAX_PACKET})
    raw = s.raw()
    raw.startup(role, "testdb")
    raw.query("BEGIN")
    raw.query(f"INSERT INTO t_bad_{case} VALUES (1)")
    raw.send(AFTER_LOGIN_CASES[case])
    check_rejected(raw, code=None)
    with s.connect(user=role) as c:
        assert c.execute(f"SELECT count(*) FROM t_bad_{case}").fetchone()[0] == 0
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    assert pg.scalar(f"SELECT count(*) FROM t_bad_{case}") == 0


def test_half_a_message_then_close(pooler):
    raw = logged_in(pooler)
    raw.send(query_message("SELECT 'never finished'")[:9])
    time.sleep(0.2)
    raw.close()


def test_half_a_message_inside_transaction_then_close(sluice, pg, role):
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1})
    raw = s.raw()
    raw.startup(role, "testdb")
    raw.query("BEGIN")
    raw.send(query_message("SELECT 'never finished'")[:9])
    time.sleep(0.2)
    raw.close()
    with s.connect(user=role) as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1
        assert c.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_query_split_at_every_byte(pooler):
    raw = logged_in(pooler)
    for b in query_message("SELECT 'split' || 'ted'"):
        raw.send(bytes([b]))
        time.sleep(0.002)
    assert raw.read_result() == [["splitted"]]


def test_many_messages_in_one_write(pooler):
    raw = logged_in(pooler)
    raw.send(b"".join(query_message(f"SELECT {i}") for i in range(50)))
    for i in range(50):
        assert raw.read_result() == [[str(i)]]


def test_terminate_is_clean(pooler):
    raw = logged_in(pooler)
    raw.send(message(b"X"))
    closed, _ = raw.wait_closed(timeout=5 * SLACK)
    assert closed


def test_many_bad_clients_at_once(pooler):
    """A burst of assorted bad clients in parallel."""
    payloads = list(STARTUP_CASES.values()) * 4

    def bad(p):
        try:
            s = socket.create_connection(("127.0.0.1", pooler.port), timeout=5)
            s.sendall(p)
            s.settimeout(5 * SLACK)
            try:
                while s.recv(4096):
                    pass
            except (socket.timeout, ConnectionResetError):
                pass
            s.close()
        except OSError:
            pass

    threads = [threading.Thread(target=bad, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    with pooler.connect() as c:
        assert c.execute("SELECT 'survived the burst'").fetchone()[0] == "survived the burst"


def test_unix_socket_bad_input(pooler):
    raw = pooler.raw(unix=True)
    raw.send(STARTUP_CASES["garbage"])
    check_rejected(raw, code=None)
    with pytest.raises((ConnectionClosed, OSError)):
        raw.send(b"more")
        raw.recv_msg(timeout=2)
