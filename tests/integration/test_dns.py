"""Host names in [databases] are resolved without blocking the event loop: a
nameserver that has not answered yet stalls only the clients of that database.
Answers are cached for dns_max_ttl; a name that does not resolve gives its
clients a clear 08006 error. The nameserver is a small UDP responder run by the
test, named in a resolv.conf given to sluice with `resolv_conf`."""

import os
import socket
import struct
import threading
import time

import psycopg
import pytest

from admin_helpers import admin_config, console, show
from cluster import free_port, wait_for
from helpers import Proxy
import pgwire
from pooler import SLACK

QTYPE_A, QTYPE_AAAA = 1, 28
RCODE_NXDOMAIN = 3


class FakeNameserver(threading.Thread):
    """Answers A queries for the names it knows with their address in `names`
    (127.0.0.1 unless changed), AAAA queries
    with no records, anything else with NXDOMAIN. A name in `held` is answered
    only once release() is called. `queries` lists (name, qtype) received."""

    def __init__(self, names, held=()):
        super().__init__(daemon=True)
        self.names = {n.lower(): "127.0.0.1" for n in names}
        self.held = {n.lower() for n in held}
        self.released = threading.Event()
        self.asked = threading.Event()
        self.queries = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", free_port()))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.waiting = []

    def resolv_conf(self, directory):
        path = os.path.join(directory, "resolv.conf")
        with open(path, "w") as f:
            f.write(f"nameserver 127.0.0.1:{self.port}\noptions timeout:5 attempts:1\n")
        os.chmod(path, 0o644)
        return path

    def count(self, name, qtype=QTYPE_A):
        with self.lock:
            return sum(1 for n, t in self.queries if n == name and t == qtype)

    def release(self):
        self.released.set()

    def stop(self):
        self.stopping = True
        self.released.set()
        self.join(timeout=5)
        self.sock.close()

    @staticmethod
    def parse(packet):
        qid, _flags, qdcount = struct.unpack("!HHH", packet[:6])
        pos, labels = 12, []
        while packet[pos] != 0:
            n = packet[pos]
            labels.append(packet[pos + 1:pos + 1 + n].decode("ascii"))
            pos += 1 + n
        qtype, _qclass = struct.unpack("!HH", packet[pos + 1:pos + 5])
        question = packet[12:pos + 5]
        return qid, ".".join(labels).lower(), qtype, question

    def answer(self, qid, name, qtype, question):
        known = name in self.names
        records = b""
        if known and qtype == QTYPE_A:
            # name: pointer to the question's; type A, class IN, TTL 300, 4 bytes
            records = struct.pack("!HHHIH", 0xC00C, QTYPE_A, 1, 300, 4) + socket.inet_aton(self.names[name])
        rcode = 0 if known else RCODE_NXDOMAIN
        header = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, 1 if records else 0, 0, 0)
        return header + question + records

    def run(self):
        while not self.stopping:
            if self.released.is_set():
                for reply, addr in self.waiting:
                    self.sock.sendto(reply, addr)
                self.waiting = []
            try:
                packet, addr = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            qid, name, qtype, question = self.parse(packet)
            with self.lock:
                self.queries.append((name, qtype))
            reply = self.answer(qid, name, qtype, question)
            if name in self.held and not self.released.is_set():
                self.waiting.append((reply, addr))
                self.asked.set()
            else:
                self.sock.sendto(reply, addr)


@pytest.fixture
def nameserver():
    made = []

    def factory(names, held=()):
        ns = FakeNameserver(names, held)
        ns.start()
        made.append(ns)
        return ns

    yield factory
    for ns in made:
        ns.stop()


def start_with_names(sluice, pg, ns, dbs, **config):
    s = sluice(start=False, config=admin_config(**config))
    s.overrides["resolv_conf"] = ns.resolv_conf(s.dir)
    s.databases = dict(s.default_databases())
    for db, host in dbs.items():
        s.databases[db] = f"host={host} port={pg.port} dbname=testdb"
    s.write_config()
    s.start()
    return s


def lists(s):
    return {r["list"]: r["items"] for r in show(console(s), "LISTS")}


@pytest.mark.sluice_only
@pytest.mark.timeout(60)
def test_slow_nameserver_stalls_only_its_own_database(sluice, pg, nameserver):
    ns = nameserver(["db.sluice-test"], held=["db.sluice-test"])
    s = start_with_names(sluice, pg, ns, {"named": "db.sluice-test"})
    result = {}

    def named_client():
        try:
            with psycopg.connect(s.dsn(dbname="named"), autocommit=True,
                                 connect_timeout=int(30 * SLACK)) as c:
                result["value"] = c.execute("SELECT 41 + 1").fetchone()[0]
        except Exception as e:  # reported by the assertion below
            result["error"] = e

    t = threading.Thread(target=named_client)
    t.start()
    assert ns.asked.wait(10 * SLACK), "sluice never asked the nameserver"
    # The answer is held: a blocking resolver would stall this client too.
    for _ in range(3):
        with psycopg.connect(s.dsn(), autocommit=True, connect_timeout=int(5 * SLACK)) as c:
            assert c.execute("SELECT 7").fetchone()[0] == 7
    assert t.is_alive() and not result, "the named database answered before its host resolved"
    assert lists(s)["dns_pending"] == 1
    ns.release()
    t.join(timeout=20 * SLACK)
    assert result.get("value") == 42, result
    counts = lists(s)
    assert counts["dns_pending"] == 0
    assert counts["dns_names"] == 1
    assert counts["dns_queries"] >= 1


@pytest.mark.sluice_only
@pytest.mark.timeout(60)
@pytest.mark.parametrize("ttl,expected_queries", [(30, 1), (0, 2)])
def test_answers_are_cached_for_dns_max_ttl(sluice, pg, nameserver, ttl, expected_queries):
    ns = nameserver(["db.sluice-test"])
    s = start_with_names(sluice, pg, ns, {"named": "db.sluice-test"}, dns_max_ttl=ttl)
    # session mode: the first client keeps its server, so the second opens another
    first = psycopg.connect(s.dsn(dbname="named"), autocommit=True, connect_timeout=int(10 * SLACK))
    s.conns.append(first)
    assert first.execute("SELECT 1").fetchone()[0] == 1
    second = psycopg.connect(s.dsn(dbname="named"), autocommit=True, connect_timeout=int(10 * SLACK))
    s.conns.append(second)
    assert second.execute("SELECT 2").fetchone()[0] == 2
    servers = [r for r in show(console(s), "SERVERS") if r["database"] == "named"]
    assert len(servers) == 2
    assert ns.count("db.sluice-test") == expected_queries


@pytest.mark.sluice_only
@pytest.mark.timeout(60)
def test_unresolvable_host_is_a_clear_error(sluice, pg, nameserver):
    ns = nameserver([])
    s = start_with_names(sluice, pg, ns, {"nowhere": "missing.sluice-test"})
    with pytest.raises(pgwire.PgError) as err:
        s.raw_login(database="nowhere", timeout=15 * SLACK)
    assert err.value.sqlstate == "08006"
    assert 'could not resolve host "missing.sluice-test"' in err.value.message
    # other databases are not disturbed
    with psycopg.connect(s.dsn(), autocommit=True, connect_timeout=int(5 * SLACK)) as c:
        assert c.execute("SELECT 3").fetchone()[0] == 3
    assert "could not resolve host" in s.log_text()


@pytest.mark.timeout(60)
def test_localhost_from_the_hosts_file(sluice, pg):
    databases = {"local": f"host=localhost port={pg.port} dbname=testdb"}
    s = sluice(databases=databases)
    with psycopg.connect(s.dsn(dbname="local"), autocommit=True, connect_timeout=int(10 * SLACK)) as c:
        assert c.execute("SELECT current_database()").fetchone()[0] == "testdb"


@pytest.mark.sluice_only
@pytest.mark.timeout(60)
def test_lookup_that_never_answers_ends_at_server_connect_timeout(sluice, pg, nameserver):
    ns = nameserver(["db.sluice-test"], held=["db.sluice-test"])
    s = start_with_names(sluice, pg, ns, {"named": "db.sluice-test"}, server_connect_timeout=1)
    with pytest.raises(pgwire.PgError) as err:
        s.raw_login(database="named", timeout=20 * SLACK)
    assert err.value.sqlstate == "08006"
    assert "server_connect_timeout" in err.value.message
    assert ns.asked.is_set()
    assert lists(s)["dns_pending"] == 0  # the lookup was cancelled with its server
    # a second client starts a new lookup, still unanswered when sluice stops:
    # the exit cancels it (the fixture fails the test on a sanitizer report)
    raw = s.raw()
    raw.send(pgwire.startup_packet({"user": "u_app", "database": "named"}))
    # (after server_login_retry, 1 s in the tests)
    wait_for(lambda: lists(s)["dns_pending"] == 1, timeout=10 * SLACK, what="a second lookup")



@pytest.mark.sluice_only
@pytest.mark.timeout(60)
def test_servers_follow_a_host_that_moved(sluice, pg, nameserver):
    ns = nameserver(["db.sluice-test"])
    # the same database at a second address, as after a failover
    fwd = Proxy(pg.port, listen=("127.0.0.2", pg.port))
    try:
        s = start_with_names(sluice, pg, ns, {"named": "db.sluice-test"}, dns_max_ttl=0.3)
        first = psycopg.connect(s.dsn(dbname="named"), autocommit=True, connect_timeout=int(10 * SLACK))
        s.conns.append(first)
        old_pid = first.execute("SELECT pg_backend_pid()").fetchone()[0]
        assert first.execute("SELECT inet_client_addr()::text").fetchone()[0] == "127.0.0.1/32"

        ns.names["db.sluice-test"] = "127.0.0.2"  # the database moved (failover)
        time.sleep(0.6)  # past dns_max_ttl: the next server connection asks again
        second = psycopg.connect(s.dsn(dbname="named"), autocommit=True, connect_timeout=int(10 * SLACK))
        s.conns.append(second)
        assert second.execute("SELECT 1").fetchone()[0] == 1
        assert fwd.connections == 1, "the new server did not go to the new address"
        servers = {r["remote_pid"]: r for r in show(console(s), "SERVERS") if r["database"] == "named"}
        assert servers[old_pid]["close_needed"] == 1
        assert "now resolves to 127.0.0.2" in s.log_text()

        first.close()  # its session ends: the old server is closed, not pooled
        wait_for(lambda: old_pid not in {r["remote_pid"] for r in show(console(s), "SERVERS")},
                 timeout=5 * SLACK, what="the server at the old address to close")
        third = psycopg.connect(s.dsn(dbname="named"), autocommit=True, connect_timeout=int(10 * SLACK))
        s.conns.append(third)
        assert third.execute("SELECT pg_backend_pid()").fetchone()[0] != old_pid
    finally:
        fwd.close()
