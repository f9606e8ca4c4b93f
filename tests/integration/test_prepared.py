"""Named prepared statements in transaction mode: a client's statements work
on whichever server it gets, clients using the same names for different SQL
never see each other's, and every error is the one PostgreSQL itself gives
(each exact-protocol case runs against PostgreSQL directly too, and both
answers are compared)."""

import asyncio
import struct
import subprocess

import psycopg
import pytest

import pgwire
from admin_helpers import admin_config, console, fetch_metrics, prom_parse, prom_value, show, stats_row
from cluster import wait_for
from helpers import run_threads
from pgwire import (
    FLUSH, SYNC, bind_msg, close_msg, describe_msg, execute_msg, parse_msg, query_message,
)
from pooler import SLACK

pytestmark = pytest.mark.sluice_only

TXN = {"pool_mode": "transaction"}


def run(conn, *msgs, until=b"Z"):
    """Send messages and read through the next ReadyForQuery: a list of
    (type, value) with values made comparable: rows as lists, errors as
    (sqlstate, message), ReadyForQuery as its status, the rest as the type."""
    conn.send(b"".join(msgs))
    out = []
    for t, body in conn.read_until(until):
        if t == b"D":
            (n,) = struct.unpack("!h", body[:2])
            pos, row = 2, []
            for _ in range(n):
                (ln,) = struct.unpack("!i", body[pos:pos + 4])
                pos += 4
                row.append(None if ln < 0 else body[pos:pos + ln].decode())
                pos += max(ln, 0)
            out.append(("D", row))
        elif t == b"E":
            f = pgwire.parse_error_fields(body)
            out.append(("E", f.get("C"), f.get("M")))
        elif t == b"Z":
            out.append(("Z", body[:1].decode()))
        elif t in (b"N", b"S"):
            continue
        else:
            out.append((t.decode(),))
    return out


def both(sluice_conn, pg, role, scenario):
    """Run scenario(conn) on sluice and on PostgreSQL directly; both answers."""
    direct = pgwire.RawConn(port=pg.port)
    direct.startup(role, pg.DBNAME)
    try:
        return scenario(sluice_conn), scenario(direct)
    finally:
        direct.close()


def ex(name, params=()):
    return bind_msg(params, stmt=name) + execute_msg()


def test_same_names_different_sql_no_cross_talk(sluice, pg, role):
    """Two clients over one server both call their statement S_1; each keeps
    getting its own, however their transactions interleave."""
    s = sluice(config=admin_config(pool_mode="transaction", default_pool_size=1))
    a = s.raw_login(user=role)
    b = s.raw_login(user=role)
    assert run(a, parse_msg("SELECT 'a:' || $1", "S_1"), SYNC) == [("1",), ("Z", "I")]
    assert run(b, parse_msg("SELECT 'b:' || $1::text || '!'", "S_1"), SYNC) == [("1",), ("Z", "I")]
    for i in range(20):
        assert run(a, ex("S_1", [i]), SYNC) == [("2",), ("D", [f"a:{i}"]), ("C",), ("Z", "I")]
        assert run(b, ex("S_1", [i]), SYNC) == [("2",), ("D", [f"b:{i}!"]), ("C",), ("Z", "I")]
    # one server holds both, under sluice's own names; each client has one name
    names = [r[0] for r in a.query("SELECT name FROM pg_prepared_statements ORDER BY name")]
    assert len(names) == 2 and all(n.startswith("sluice_") for n in names), names
    adm = console(s)
    assert [r["prepared_statements"] for r in show(adm, "SERVERS") if r["user"] == role] == [2]
    assert sorted(r["prepared_statements"] for r in show(adm, "CLIENTS") if r["user"] == role) == [1, 1]


def test_many_clients_one_name_over_few_servers(sluice, pg, role):
    """20 clients at once, 3 servers: every client's S_1 is its own SQL, and
    every result it reads is its own, whichever server ran it."""
    s = sluice(config={**TXN, "default_pool_size": 3, "max_client_conn": 100})

    def client(i):
        c = s.raw_login(user=role)
        assert run(c, parse_msg(f"SELECT '{i}:' || $1::text", "S_1"), SYNC) == [("1",), ("Z", "I")]
        for j in range(30):
            assert run(c, ex("S_1", [j]), SYNC) == [("2",), ("D", [f"{i}:{j}"]), ("C",), ("Z", "I")]
        c.terminate()
        return True

    results, errors = run_threads(client, 20, timeout=120)
    assert not errors, errors
    assert len(results) == 20


def test_statement_follows_the_client_to_other_servers(sluice, pg, role):
    """Prepared on one server, used on others: sluice prepares it where it runs."""
    s = sluice(config={**TXN, "default_pool_size": 3})
    a = s.raw_login(user=role)
    holders = [s.raw_login(user=role) for _ in range(2)]
    a.query("BEGIN")
    parsed_on = a.scalar("SELECT pg_backend_pid()")
    assert run(a, parse_msg("SELECT pg_backend_pid(), $1::int * 2", "dbl"), SYNC) == [("1",), ("Z", "T")]
    a.query("COMMIT")
    pids = {parsed_on}
    for i in range(6):
        # other clients keep servers busy in turn, so a gets different servers
        h = holders[i % 2]
        h.query("BEGIN")
        rows = run(a, ex("dbl", [i]), SYNC)
        assert rows[1][1][1] == str(2 * i), rows
        pids.add(rows[1][1][0])
        h.query("COMMIT")
    assert len(pids) >= 2, "the test meant to use several servers"


def test_errors_are_postgresqls_own(sluice, pg, role):
    """Duplicate Parse 42P05, unknown Bind/Describe 26000, Close of an unknown
    name is fine, and a failed transaction stays failed: as PostgreSQL says."""
    s = sluice(config=TXN)

    def scenario(c):
        out = []
        out += run(c, parse_msg("SELECT 1", "S_1"), SYNC)
        out += run(c, parse_msg("SELECT 2", "S_1"), ex("S_1"), SYNC)  # 42P05, Bind skipped
        out += run(c, ex("S_1"), SYNC)  # still the first statement
        out += run(c, ex("nope"), SYNC)
        out += run(c, describe_msg(b"S", "nope"), SYNC)
        out += run(c, close_msg(b"S", "nope"), SYNC)
        out += run(c, query_message("BEGIN"))
        out += run(c, parse_msg("SELECT 3", "S_1"), SYNC)  # in a block: the block fails
        out += run(c, ex("S_1"), SYNC)  # 25P02
        out += run(c, query_message("ROLLBACK"))
        out += run(c, describe_msg(b"S", "S_1"), SYNC)
        out += run(c, close_msg(b"S", "S_1"), SYNC)
        out += run(c, ex("S_1"), SYNC)  # closed: 26000
        return out

    got, want = both(s.raw_login(user=role), pg, role, scenario)
    assert got == want
    assert ("E", "42P05", 'prepared statement "S_1" already exists') in got
    assert ("E", "26000", 'prepared statement "nope" does not exist') in got


def test_pipeline_of_statements_in_one_sync(sluice, pg, role):
    s = sluice(config={**TXN, "default_pool_size": 1})

    def scenario(c):
        return run(
            c,
            parse_msg("SELECT 'one' || $1", "p1"), parse_msg("SELECT 'two' || $1", "p2"),
            describe_msg(b"S", "p2"), ex("p1", [1]), ex("p2", [2]), ex("p1", [3]),
            close_msg(b"S", "p1"), parse_msg("SELECT 'new' || $1", "p1"), ex("p1", [4]), SYNC,
        )

    got, want = both(s.raw_login(user=role), pg, role, scenario)
    assert got == want
    assert [v[1] for v in got if v[0] == "D"] == [["one1"], ["two2"], ["one3"], ["new4"]]


def test_error_in_pipeline_skips_to_sync(sluice, pg, role):
    """An error in the middle: the rest up to the Sync is skipped (sluice's own
    answers too), and statements parsed after it do not exist."""
    s = sluice(config={**TXN, "default_pool_size": 1})

    def scenario(c):
        out = run(c, parse_msg("SELECT 1", "ok1"), parse_msg("SELECT 1/0", "bad"), ex("bad"),
                  parse_msg("SELECT 2", "later"), close_msg(b"S", "ok1"), SYNC)
        out += run(c, ex("ok1"), SYNC)
        out += run(c, ex("later"), SYNC)
        return out

    got, want = both(s.raw_login(user=role), pg, role, scenario)
    assert got == want


def test_eviction_keeps_at_most_max_prepared_statements(sluice, pg, role):
    s = sluice(config=admin_config(pool_mode="transaction", default_pool_size=1,
                                   max_prepared_statements=2))
    c = s.raw_login(user=role)
    for i in range(10):
        assert run(c, parse_msg(f"SELECT {i} + $1::int", f"s{i}"), SYNC) == [("1",), ("Z", "I")]
    for rnd in range(3):
        for i in range(10):
            assert run(c, ex(f"s{i}", [rnd]), SYNC) == [("2",), ("D", [str(i + rnd)]), ("C",), ("Z", "I")]
    n = int(c.scalar("SELECT count(*) FROM pg_prepared_statements"))
    assert n <= 2
    adm = console(s)
    assert [r["prepared_statements"] for r in show(adm, "SERVERS") if r["user"] == role][0] <= 2
    st = stats_row(adm, "testdb", "STATS")
    assert st["total_client_parse_count"] >= 10
    assert st["total_server_parse_count"] >= 30  # re-prepared after each eviction
    assert st["total_bind_count"] >= 30


@pytest.mark.parametrize("how", ["DEALLOCATE ALL", "DISCARD ALL"])
def test_deallocate_all_and_discard_all(sluice, pg, role, how):
    s = sluice(config={**TXN, "default_pool_size": 1})

    def scenario(c):
        out = run(c, parse_msg("SELECT 'x'", "a"), parse_msg("SELECT 'y'", "b"), SYNC)
        out += run(c, query_message(how))
        out += run(c, ex("a"), SYNC)  # gone: 26000
        out += run(c, parse_msg("SELECT 'z'", "a"), ex("a"), SYNC)  # reusable
        return out

    got, want = both(s.raw_login(user=role), pg, role, scenario)
    assert got == want
    assert ("D", ["z"]) in got


def test_deallocate_one_simple_and_extended(sluice, pg, role):
    """DEALLOCATE name as a simple Query and as psycopg sends it (an unnamed
    Parse), inside and outside a transaction, and in a failed one."""
    s = sluice(config={**TXN, "default_pool_size": 1})

    def scenario(c):
        out = run(c, parse_msg("SELECT 1", "a"), parse_msg("SELECT 2", "b"), SYNC)
        out += run(c, query_message("DEALLOCATE a"))
        out += run(c, ex("a"), SYNC)
        out += run(c, parse_msg("DEALLOCATE b"), bind_msg(), describe_msg(), execute_msg(), SYNC)
        out += run(c, ex("b"), SYNC)
        out += run(c, parse_msg("SELECT 3", "c"), SYNC)
        out += run(c, query_message("BEGIN"))
        out += run(c, query_message("DEALLOCATE PREPARE c"))
        out += run(c, query_message("COMMIT"))
        out += run(c, parse_msg("SELECT 4", "d"), SYNC)
        out += run(c, query_message("BEGIN"))
        out += run(c, query_message("SELECT 1/0"))
        out += run(c, query_message("DEALLOCATE d"))  # 25P02
        out += run(c, query_message("ROLLBACK"))
        out += run(c, query_message("DEALLOCATE nosuch"))
        return out

    got, want = both(s.raw_login(user=role), pg, role, scenario)
    assert got == want
    assert ("E", "25P02", "current transaction is aborted, commands ignored until end of transaction block") in got


def test_result_type_change_is_recovered(sluice, pg, role):
    """ALTER TABLE changes a prepared statement's result: the first execution
    fails with 0A000 as it would directly; the driver's retry (Close, Parse
    again, Bind) then succeeds, instead of getting the stale plan forever."""
    table = f"alt_{role}"[:60]
    pg.execute(f"CREATE TABLE {table} (a int)")
    pg.execute(f"INSERT INTO {table} VALUES (1)")
    pg.execute(f"GRANT ALL ON {table} TO PUBLIC")
    s = sluice(config={**TXN, "default_pool_size": 1})
    c = s.raw_login(user=role)
    assert run(c, parse_msg(f"SELECT * FROM {table}", "q"), ex("q"), SYNC)[2] == ("D", ["1"])
    pg.execute(f"ALTER TABLE {table} ADD COLUMN b text DEFAULT 'new'")
    err = run(c, ex("q"), SYNC)
    assert err[0][:2] == ("E", "0A000"), err
    # the retry of pgJDBC and others: Close, Parse the same text, Bind
    retry = run(c, close_msg(b"S", "q"), parse_msg(f"SELECT * FROM {table}", "q"), ex("q"), SYNC)
    assert ("D", ["1", "new"]) in retry, retry
    # and the statement keeps working
    assert ("D", ["1", "new"]) in run(c, ex("q"), SYNC)


def test_client_leaves_between_parse_and_sync(sluice, pg, role):
    s = sluice(config=admin_config(pool_mode="transaction", default_pool_size=1))
    a = s.raw_login(user=role)
    a.send(parse_msg("SELECT 'leaving'", "x") + bind_msg(stmt="x") + execute_msg() + FLUSH)
    a.read_until(b"C")
    a.close()
    b = s.raw_login(user=role)
    assert run(b, parse_msg("SELECT 'mine'", "x"), ex("x"), SYNC) == [("1",), ("2",), ("D", ["mine"]), ("C",), ("Z", "I")]
    adm = console(s)
    wait_for(lambda: all(r["state"] == "idle" for r in show(adm, "SERVERS") if r["user"] == role),
             timeout=5 * SLACK, what="servers idle")


def test_unnamed_statement_is_never_tracked(sluice, pg, role):
    s = sluice(config=admin_config(pool_mode="transaction"))
    c = s.raw_login(user=role)
    for i in range(5):
        assert run(c, parse_msg("SELECT $1::int + 1"), bind_msg([i]), execute_msg(), SYNC)[2] == ("D", [str(i + 1)])
    adm = console(s)
    assert [r["prepared_statements"] for r in show(adm, "CLIENTS") if r["user"] == role] == [0]
    assert stats_row(adm, "testdb", "STATS")["total_client_parse_count"] == 0


def test_session_mode_passes_statements_through(sluice, pg, role):
    s = sluice(config={"pool_mode": "session"})
    c = s.raw_login(user=role)
    assert run(c, parse_msg("SELECT 1", "S_9"), SYNC) == [("1",), ("Z", "I")]
    assert c.query("SELECT name FROM pg_prepared_statements") == [["S_9"]]


def test_max_prepared_statements_zero_turns_tracking_off(sluice, pg, role):
    s = sluice(config={**TXN, "max_prepared_statements": 0, "default_pool_size": 1})
    c = s.raw_login(user=role)
    assert run(c, parse_msg("SELECT 1", "S_9"), SYNC) == [("1",), ("Z", "I")]
    assert c.query("SELECT name FROM pg_prepared_statements") == [["S_9"]]


def test_counters_in_stats_and_metrics(sluice, pg, role):
    s = sluice(config=admin_config(pool_mode="transaction"))
    c = s.raw_login(user=role)
    run(c, parse_msg("SELECT $1::int", "m"), SYNC)
    for i in range(7):
        run(c, ex("m", [i]), SYNC)
    adm = console(s)
    totals = stats_row(adm, "testdb", "STATS_TOTALS")
    assert totals["client_parse_count"] == 1 and totals["bind_count"] == 7
    assert totals["server_parse_count"] >= 1
    m = prom_parse(fetch_metrics(s))
    assert prom_value(m, "sluice_bind_total", database="testdb", user=role) == 7
    assert prom_value(m, "sluice_client_parse_total", database="testdb", user=role) == 1


# ---- real drivers, with their defaults


def test_psycopg_default_prepare_threshold_40_clients_pool_5(sluice, pg, role):
    """psycopg 3 prepares a query after 5 runs (named statements _pg3_N): 40
    connections over 5 servers, every value checked."""
    s = sluice(config={**TXN, "default_pool_size": 5, "max_client_conn": 100})

    def client(i):
        with psycopg.connect(s.dsn(user=role), autocommit=True) as conn:
            assert conn.prepare_threshold == 5
            for j in range(15):
                v = conn.execute("SELECT %s::int * 1000 + %s::int", [i, j]).fetchone()[0]
                assert v == i * 1000 + j
                with conn.transaction():
                    assert conn.execute("SELECT %s::text || '-' || %s::text", [i, j]).fetchone()[0] == f"{i}-{j}"
            return True

    results, errors = run_threads(client, 40, timeout=120)
    assert not errors, errors
    assert len(results) == 40


def test_asyncpg_defaults_40_clients_pool_5(sluice, pg, role):
    asyncpg = pytest.importorskip("asyncpg")
    s = sluice(config={**TXN, "default_pool_size": 5, "max_client_conn": 100})

    async def client(i):
        conn = await asyncpg.connect(host="127.0.0.1", port=s.port, user=role, database="testdb")
        try:
            for j in range(10):
                assert await conn.fetchval("SELECT $1::int * 1000 + $2::int", i, j) == i * 1000 + j
                async with conn.transaction():
                    row = await conn.fetchrow("SELECT $1::text AS a, $2::int AS b", f"c{i}", j)
                    assert (row["a"], row["b"]) == (f"c{i}", j)
                stmt = await conn.prepare("SELECT $1::int + 1")
                assert await stmt.fetchval(j) == j + 1
        finally:
            await conn.close()
        return True

    async def main():
        return await asyncio.gather(*(client(i) for i in range(40)))

    assert asyncio.run(asyncio.wait_for(main(), 120)) == [True] * 40


def test_pgbench_prepared_more_clients_than_servers(sluice, pg, role, tmp_path):
    s = sluice(config={**TXN, "default_pool_size": 3})
    script = tmp_path / "bench.sql"
    script.write_text("\\set x random(1, 1000)\nSELECT :x::int + 1;\nSELECT 'v' || :x;\n")
    p = subprocess.run(
        ["pgbench", "-n", "-M", "prepared", "-c", "12", "-j", "2", "-t", "100", "-f", str(script),
         "-h", "127.0.0.1", "-p", str(s.port), "-U", role, "testdb"],
        capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert "number of transactions actually processed: 1200/1200" in p.stdout, p.stdout
    assert "number of failed transactions: 0" in p.stdout or "failed" not in p.stdout
