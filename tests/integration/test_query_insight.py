"""Query insight: per-statement statistics in SHOW QUERIES, keyed by
(database, user, application_name, fingerprint): calls, rows, errors by
SQLSTATE class, execution and wait times; normalised texts only (no literal,
no parameter); simple and extended protocol, unnamed and named statements;
a bounded table; RESET QUERIES; query_insight = 0; and the slow-statement log
(query_log_min_duration)."""

import asyncio
import time

import psycopg
import pytest

from admin_helpers import admin_config, console, fetch_metrics, prom_parse, prom_value, show
from cluster import wait_for
from helpers import Background, seed_blog
from pgwire import SYNC, bind_msg, close_msg, execute_msg, parse_msg, query_message
from pooler import SANITIZED, SLACK

pytestmark = pytest.mark.sluice_only


def queries(s, db=None):
    rows = show(console(s), "QUERIES" + (f" {db}" if db else ""))
    return {r["query"]: r for r in rows}


def test_calls_rows_and_errors_per_statement(sluice, role):
    s = sluice(config=admin_config(pool_mode="transaction"))
    c = s.connect(user=role, application_name="insight-app")
    for i in range(7):  # extended protocol, unnamed statement, a parameter
        assert c.execute("SELECT %s::int + 1", (i,)).fetchone()[0] == i + 1
    for n in (2, 3):  # rows from CommandComplete
        c.execute("SELECT generate_series(1, %s)", (n,)).fetchall()
    for _ in range(3):
        with pytest.raises(psycopg.errors.DivisionByZero):
            c.execute("SELECT 1 / %s", (0,))
    raw = s.raw_login(user=role)  # simple protocol, literals in the text
    for v in (11, 22, 33, 44):
        raw.query(f"SELECT {v} AS v, 'secret-{v}' AS w")
    # the rows of each kind of tag: INSERT 0 n, UPDATE n, DELETE n, MERGE n, COPY n, FETCH n
    with c.transaction():
        c.execute("CREATE TEMP TABLE insight_dml (a int) ON COMMIT DROP")
        c.execute("INSERT INTO insight_dml SELECT generate_series(1, 12)")
        c.execute("UPDATE insight_dml SET a = a + 1 WHERE a <= 5")
        c.execute("DELETE FROM insight_dml WHERE a > 10")
        c.execute("MERGE INTO insight_dml t USING (SELECT 1 AS a) s ON t.a = s.a"
                  " WHEN NOT MATCHED THEN INSERT VALUES (s.a)")
        with c.cursor().copy("COPY insight_dml TO STDOUT") as cp:
            assert sum(1 for _ in cp.rows()) == 11
        c.execute("DECLARE insight_cur CURSOR FOR SELECT generate_series(1, 40)")
        assert len(c.execute("FETCH 25 FROM insight_cur").fetchall()) == 25
    q = queries(s)
    dml = {
        "insert into insight_dml select generate_series($1, $2)": 12,
        "update insight_dml set a = a + $1 where a <= $2": 5,
        "delete from insight_dml where a > $1": 2,
        "merge into insight_dml t using (select $1 as a) s on t.a = s.a"
        " when not matched then insert values (s.a)": 1,
        "copy insight_dml to stdout": 11,
        "fetch $1 from insight_cur": 25,
    }
    assert {text: q[text]["rows"] for text in dml} == dml
    row = q["select $1::int + $2"]
    assert (row["calls"], row["rows"], row["errors"]) == (7, 7, 0)
    assert (row["database"], row["user"], row["application_name"]) == ("testdb", role, "insight-app")
    assert q["select generate_series($1, $2)"]["calls"] == 2
    assert q["select generate_series($1, $2)"]["rows"] == 5
    err = q["select $1 / $2"]
    assert (err["calls"], err["errors"], err["error_classes"]) == (3, 3, "22:3")
    simple = q["select $1 as v, $2 as w"]
    assert (simple["calls"], simple["rows"]) == (4, 4)
    assert simple["total_us"] > 0 and simple["max_us"] > 0 and simple["p99_us"] >= simple["p50_us"] > 0
    assert len(simple["queryid"]) == 16
    text = "\n".join(q)
    for literal in ("secret-", "11", "44"):
        assert literal not in text
    # by total time, largest first
    totals = [r["total_us"] for r in show(console(s), "QUERIES")]
    assert totals == sorted(totals, reverse=True)


def test_pipelines_charge_each_statement(sluice, role):
    """Statements sent back to back before any answer each get their own
    call, rows and error: a pipeline of four Executes and one Sync (the
    third fails; the server skips the fourth, which is no call), a Parse
    that fails (a failed call; its Execute, skipped, is none), a Parse alone
    that fails (a failed call too: drivers prepare so) before a statement
    that runs, a Parse and Describe that fail as asyncpg prepares, and three
    Queries in one write."""
    from pgwire import SYNC, bind_msg, describe_msg, execute_msg, parse_msg, query_message
    s = sluice(config=admin_config(pool_mode="transaction"))
    raw = s.raw_login(user=role)

    def pipeline(*statements):
        raw.send(b"".join(parse_msg(sql) + bind_msg(params) + execute_msg() for sql, params in statements) + SYNC)
        raw.read_until(b"Z")

    pipeline(("SELECT generate_series(1, $1::int)", (3,)), ("SELECT $1::int AS one", (1,)),
             ("SELECT 1 / $1::int AS boom", (0,)), ("SELECT $1::int AS never", (2,)))
    pipeline(("SELECT generate_series(1, $1::int)", (4,)))
    pipeline(("SELEC broken", ()),)
    # a Parse alone that fails, and in the same write a statement that does not
    raw.send(parse_msg("SELEC alone") + SYNC + parse_msg("SELECT $1::int AS fine") + bind_msg((1,))
             + execute_msg() + SYNC)
    raw.read_until(b"Z")
    raw.read_until(b"Z")
    raw.send(parse_msg("SELECT nope FROM no_such_table WHERE x = $1") + describe_msg(b"S") + SYNC)
    raw.read_until(b"Z")
    raw.send(query_message("SELECT generate_series(1, 5) AS five") + query_message("SELECT 1 AS again")
             + query_message("SELECT generate_series(1, 2) AS two"))
    for _ in range(3):
        raw.read_result()
    q = {r["query"]: r for r in show(console(s), "QUERIES")}
    got = {text: (q[text]["calls"], q[text]["rows"], q[text]["errors"], q[text]["error_classes"])
           for text in q}
    assert got["select generate_series($1, $2::int)"] == (2, 7, 0, ""), got
    assert got["select $1::int as one"] == (1, 1, 0, ""), got
    assert got["select $1 / $2::int as boom"] == (1, 0, 1, "22:1"), got
    assert got.get("select $1::int as never", (0, 0, 0, "")) == (0, 0, 0, ""), got
    assert got["selec broken"] == (1, 0, 1, "42:1"), got
    assert got["select $1::int as fine"] == (1, 1, 0, ""), got
    assert got["selec alone"] == (1, 0, 1, "42:1"), got
    assert got["select nope from no_such_table where x = $1"] == (1, 0, 1, "42:1"), got
    assert got["select generate_series($1, $2) as five"] == (1, 5, 0, ""), got
    assert got["select $1 as again"] == (1, 1, 0, ""), got
    assert got["select generate_series($1, $2) as two"] == (1, 2, 0, ""), got


def test_long_statements_are_told_apart(sluice, role):
    """Statements longer than SHOW ACTIVITY's 1 KB that differ only after it
    are two statements (their first 64 KB are fingerprinted), through the
    extended and the simple protocol; the normalised text shown stays within
    1 KB, and SHOW ACTIVITY's within 1 KB too."""
    s = sluice(config=admin_config(pool_mode="transaction"))
    c = s.connect(user=role)
    cols = ", ".join(f"{i} AS column_with_a_long_name_{i}" for i in range(60))
    assert len(cols) > 2000
    for _ in range(2):
        c.execute(f"SELECT {cols}, %s::int AS tail_a", (1,))
    for _ in range(3):
        c.execute(f"SELECT {cols}, %s::int AS tail_b", (1,))
    raw = s.raw_login(user=role)
    for _ in range(4):
        raw.query(f"SELECT {cols}, 7 AS tail_c")
    long = [r for r in show(console(s), "QUERIES") if r["query"].startswith("select $1 as column_with")]
    assert sorted(r["calls"] for r in long) == [2, 3, 4], long
    assert len({r["queryid"] for r in long}) == 3
    assert all(len(r["query"]) <= 1024 for r in long)
    shown = [r["query"] for r in show(console(s), "ACTIVITY") if (r["query"] or "").startswith("SELECT 0 AS")]
    assert shown and all(len(q) <= 1024 for q in shown), shown


def test_failed_parses_of_named_statements_count_once(sluice, role):
    """In transaction mode sluice renames named statements (prepared.c): a
    Parse of one that fails is still one failed call of its statement, once,
    whether the driver sends it alone to prepare (asyncpg: Parse, Describe,
    Sync) or with its Bind and Execute (psycopg, prepare=True), and in
    session mode the same. Its time is its exchange's, not the client's idle
    time before it (a second here)."""
    asyncpg = pytest.importorskip("asyncpg")
    for mode in ("transaction", "session"):
        s = sluice(config=admin_config(pool_mode=mode))

        async def main():
            c = await asyncpg.connect(host="127.0.0.1", port=s.port, user=role, database="testdb")
            await asyncio.sleep(1.0)
            for sql in ("SELEC broken_one", "SELECT nope FROM no_such_table"):
                for _ in range(2):
                    with pytest.raises(asyncpg.PostgresSyntaxError if "SELEC " in sql
                                       else asyncpg.UndefinedTableError):
                        await c.fetch(sql)
            assert await c.fetchval("SELECT $1::int + 1", 1) == 2
            await c.close()

        asyncio.run(main())
        p = s.connect(user=role)
        time.sleep(1.0)
        for _ in range(3):
            with pytest.raises(psycopg.errors.UndefinedTable):
                p.execute("SELECT gone FROM missing_table WHERE a = %s", (1,), prepare=True)
        q = queries(s)
        got = {t: (q[t]["calls"], q[t]["errors"], q[t]["error_classes"]) for t in q}
        assert got["selec broken_one"] == (2, 2, "42:2"), (mode, got)
        assert got["select nope from no_such_table"] == (2, 2, "42:2"), (mode, got)
        assert got["select gone from missing_table where a = $1"] == (3, 3, "42:3"), (mode, got)
        assert got["select $1::int + $2"] == (1, 0, ""), (mode, got)
        slowest = {t: q[t]["max_us"] for t in q}
        assert all(us < 1_000_000 for us in slowest.values()), (mode, slowest)


def test_named_statements_are_told_apart(sluice, role):
    """psycopg preparing both statements by name (prepare=True), executed in turn."""
    s = sluice(config=admin_config(pool_mode="transaction"))
    c = s.connect(user=role)
    for i in range(5):
        c.execute("SELECT %s::int AS a", (i,), prepare=True)
        c.execute("SELECT %s::text AS b, 1 AS c", (str(i),), prepare=True)
        c.execute("SELECT %s::text AS b, 1 AS c", (str(i),), prepare=True)
    q = queries(s)
    assert q["select $1::int as a"]["calls"] == 5
    assert q["select $1::text as b, $2 as c"]["calls"] == 10


def test_closed_statements_leave_the_table(sluice, role):
    """A driver that prepares statement after statement under new names and
    closes them (asyncpg's and pgJDBC's caches) does not fill its client's
    table of names: a Close empties its slot, so a name prepared first is
    still counted after ten thousand others came and went, and names past
    the emptied slots are still found; after DEALLOCATE of its name (or
    DEALLOCATE ALL) a name runs nothing of its statement any more."""
    s = sluice(config=admin_config(pool_mode="transaction"))
    raw = s.raw_login(user=role, params={"application_name": "churn"})
    raw.send(parse_msg("SELECT 1 AS kept", name="keep") + SYNC)
    raw.read_until(b"Z")
    for start in range(0, 10000, 500):
        raw.send(b"".join(parse_msg("SELECT $1::int AS churn", name=f"s{i}", types=(23,))
                          + bind_msg(("1",), stmt=f"s{i}") + execute_msg() + close_msg(b"S", f"s{i}")
                          for i in range(start, start + 500)) + SYNC)
        raw.read_until(b"Z")
    for _ in range(5):
        raw.send(bind_msg(stmt="keep") + execute_msg() + SYNC)
        raw.read_until(b"Z")
    calls = {r["query"]: (r["calls"], r["errors"]) for r in show(console(s), "QUERIES")
             if r["application_name"] == "churn"}
    assert calls == {"select $1 as kept": (5, 0), "select $1::int as churn": (10000, 0)}, calls
    # 300 names in the table at once, half of them closed: the rest are found past the holes
    raw.send(b"".join(parse_msg("SELECT 2 AS many", name=f"m{i}") for i in range(300)) + SYNC)
    raw.read_until(b"Z")
    raw.send(b"".join(close_msg(b"S", f"m{i}") for i in range(0, 300, 2)) + SYNC)
    raw.read_until(b"Z")
    raw.send(b"".join(bind_msg(stmt=f"m{i}") + execute_msg() for i in range(1, 300, 2)) + SYNC)
    assert not any(t == b"E" for t, _ in raw.read_until(b"Z"))
    many = [r for r in show(console(s), "QUERIES") if r["query"] == "select $1 as many"]
    assert [(r["calls"], r["errors"]) for r in many] == [(150, 0)], many
    # DEALLOCATE of one name, which sluice answers in transaction mode: its name is gone too
    raw.send(parse_msg("SELECT 3 AS dealloc", name="d1") + bind_msg(stmt="d1") + execute_msg() + SYNC)
    raw.read_until(b"Z")
    raw.query("DEALLOCATE d1")
    raw.send(bind_msg(stmt="d1") + execute_msg() + SYNC)
    assert any(t == b"E" for t, _ in raw.read_until(b"Z"))
    dealloc = [(r["calls"], r["errors"]) for r in show(console(s), "QUERIES")
               if r["query"] == "select $1 as dealloc"]
    assert dealloc == [(1, 0)], dealloc
    raw.query("DEALLOCATE ALL")
    raw.send(bind_msg(stmt="keep") + execute_msg() + SYNC)
    msgs = raw.read_until(b"Z")
    assert any(t == b"E" for t, _ in msgs)  # no statement "keep" any more
    calls = {r["query"]: (r["calls"], r["errors"]) for r in show(console(s), "QUERIES")
             if r["application_name"] == "churn"}
    assert calls["select $1 as kept"] == (5, 0), calls


def test_a_drivers_statement_cache_is_counted(sluice, role):
    """300 named statements kept prepared (asyncpg caches 100, pgJDBC 256),
    then each bound again by name: every execution is counted on its own
    statement."""
    s = sluice(config=admin_config(pool_mode="transaction"))
    c = s.connect(user=role)
    c.prepared_max = 1000
    for _ in range(3):
        for i in range(300):
            assert c.execute(f"SELECT %s::int AS col{i}", (i,), prepare=True).fetchone()[0] == i
    q = queries(s)
    calls = {i: q.get(f"select $1::int as col{i}", {}).get("calls") for i in range(300)}
    assert set(calls.values()) == {3}, {i: n for i, n in calls.items() if n != 3}


def test_wait_time_is_the_poolers_share(sluice, role):
    """A statement that waited for a server has that wait, apart from its run time."""
    s = sluice(config=admin_config(pool_mode="transaction", default_pool_size=1))
    holder = s.connect(user=role, autocommit=False)
    holder.execute("SELECT 1")
    waiter = s.connect(user=role)
    bg = Background(waiter.execute, "SELECT 'waited' AS w")
    wait_for(lambda: "waiting" in [r["state"] for r in show(console(s), "ACTIVITY")], timeout=5 * SLACK,
             what="a waiting client")
    time.sleep(0.3)
    holder.commit()
    bg.result(timeout=10 * SLACK)
    row = queries(s)["select $1 as w"]
    assert row["wait_us"] >= 250000, row
    assert row["total_us"] < row["wait_us"], row


def test_reset_off_and_bounded(sluice, role):
    s = sluice(config=admin_config(pool_mode="transaction", query_stats_max=20))
    c = s.connect(user=role)
    for i in range(200):  # 200 different statements (the alias differs)
        c.execute(f"SELECT 1 AS col{i}")
    rows = show(console(s), "QUERIES")
    assert len(rows) == 20
    assert {r["query"] for r in rows} == {f"select $1 as col{i}" for i in range(180, 200)}
    console(s).execute("RESET QUERIES")
    assert show(console(s), "QUERIES") == []
    with pytest.raises(psycopg.Error, match="only SHOW QUERIES takes an argument"):
        console(s).execute("SHOW POOLS testdb")
    assert show(console(s), "QUERIES otherdb") == []
    s.reload(config={"query_insight": 0})
    wait_for(lambda: "configuration reloaded" in s.log_text(), timeout=5 * SLACK, what="the reload")
    c2 = s.connect(user=role)
    c2.execute("SELECT 'not counted'")
    assert show(console(s), "QUERIES") == []


def test_a_new_query_stats_max_keeps_the_statistics(sluice, role):
    """A reload that changes query_stats_max keeps what the table holds:
    raised, every statement with its counts (a driver's named statement
    too, whose references stay good); lowered, the most recently used ones,
    and the rest count as evictions."""
    s = sluice(config=admin_config(pool_mode="transaction", query_stats_max=20))
    c = s.connect(user=role)
    for i in range(10):
        for _ in range(i + 1):
            c.execute(f"SELECT 1 AS col{i}")
    named = s.connect(user=role, prepare_threshold=0)
    named.execute("SELECT %s::int AS named", (1,))
    s.reload(config={"query_stats_max": 50})
    wait_for(lambda: s.log_text().count("configuration reloaded") == 1, timeout=5 * SLACK,
             what="the first reload")
    c.execute("SELECT 2 AS after_raise")  # the next statement sizes the table
    named.execute("SELECT %s::int AS named", (2,))
    rows = queries(s)
    assert {q: r["calls"] for q, r in rows.items()} == {
        **{f"select $1 as col{i}": i + 1 for i in range(10)},
        "select $1 as after_raise": 1, "select $1::int as named": 2}
    evicted = prom_value(prom_parse(fetch_metrics(s)), "sluice_query_stats_evictions_total")
    s.reload(config={"query_stats_max": 4})
    wait_for(lambda: s.log_text().count("configuration reloaded") == 2, timeout=5 * SLACK,
             what="the second reload")
    c.execute("SELECT 3 AS after_lower")
    # the four most recent were named, after_raise, col9 and col8; after_lower took col8's place
    assert {q: r["calls"] for q, r in queries(s).items()} == {
        "select $1 as after_lower": 1, "select $1::int as named": 2, "select $1 as after_raise": 1,
        "select $1 as col9": 10}
    assert prom_value(prom_parse(fetch_metrics(s)), "sluice_query_stats_evictions_total") == evicted + 9


def test_slow_statements_are_logged_without_literals(sluice, role):
    s = sluice(config=admin_config(pool_mode="transaction", query_log_min_duration=100))
    c = s.connect(user=role, application_name="slow-app")
    # a parameter no log line can hold by chance ("0.2" did: a timestamp "10:04:00.286")
    c.execute("SELECT pg_sleep(%s), 'hidden-literal'", (0.2013,))
    c.execute("SELECT 'fast'")
    wait_for(lambda: "slow_query" in s.log_text() or "duration:" in s.log_text(), timeout=5 * SLACK,
             what="the slow-statement line")
    lines = [l for l in s.log_text().splitlines() if "duration:" in l]
    assert len(lines) == 1, lines
    assert "select pg_sleep($1), $2" in lines[0] and role in lines[0]
    ms = float(lines[0].split("duration: ")[1].split(" ms")[0])
    assert ms >= 190
    assert "hidden-literal" not in s.log_text() and "0.2013" not in s.log_text()


@pytest.fixture
def blog(pg):
    """The seed schema: 20 posts by 20 users."""
    seed_blog(pg)


def n_plus_one(c, transaction):
    """The ORM mistake: the posts, then each post's author one by one."""
    def loop():
        posts = c.execute("SELECT id, user_id FROM sp_posts ORDER BY id LIMIT 20").fetchall()
        for _, user_id in posts:
            c.execute("SELECT * FROM sp_users WHERE id = %s", (user_id,)).fetchone()
    if transaction:
        with c.transaction():
            loop()
    else:
        loop()


@pytest.mark.parametrize("transaction", [True, False], ids=["transaction", "autocommit"])
def test_n_plus_one_is_flagged(sluice, role, blog, transaction):
    s = sluice(config=admin_config(pool_mode="transaction"))
    c = s.connect(user=role, application_name="orm-app")
    n_plus_one(c, transaction)
    n_plus_one(c, transaction)
    loops = show(console(s), "N_PLUS_ONE")
    assert len(loops) == 1, loops
    loop = loops[0]
    assert loop["query"] == "select * from sp_users where id = $1"
    assert loop["parent_query"] == "select id, user_id from sp_posts order by id limit $1"
    assert (loop["application_name"], loop["times_seen"], loop["largest_loop"]) == ("orm-app", 2, 20)
    assert loop["last_seen"] is not None
    q = queries(s)
    assert loop["queryid"] == q[loop["query"]]["queryid"]
    assert loop["parent_queryid"] == q[loop["parent_query"]]["queryid"]
    warnings = [l for l in s.log_text().splitlines() if "N+1 loop" in l]
    assert len(warnings) == 1, warnings  # at most once a minute per pattern
    assert "user-" not in s.log_text() and "post-" not in s.log_text()
    m = prom_parse(fetch_metrics(s))
    assert prom_value(m, "sluice_n_plus_one_total", queryid=loop["queryid"], database="testdb", user=role,
                      parent_queryid=loop["parent_queryid"]) == 2


def test_texts_sent_again_are_told_apart(sluice, role, blog):
    """A client that sends a text again with another number in it is known
    to run the same statement without a pass over the text
    (fingerprint_alike); a name, a parameter or a new application_name
    still makes another statement, and the simple protocol's N+1 loop, whose
    literals change, is flagged while a repeated poll is not."""
    s = sluice(config=admin_config(pool_mode="transaction"))
    raw = s.raw_login(user=role, params={"application_name": "first"})
    for v in ("5", "55", "5.5", "5", "5"):
        raw.query(f"SELECT {v} AS n")
    for name in ("n1", "n2", "n1"):
        raw.query(f"SELECT 7 AS {name}")
    for i in (1, 2, 3):  # each text the one before but for a number, each in another application
        raw.query(f"SELECT set_config('application_name', 'app' || {i}, false)")
    by = {(r["application_name"], r["query"]): r["calls"] for r in show(console(s), "QUERIES")}
    assert by[("first", "select $1 as n")] == 5
    assert by[("first", "select $1 as n1")] == 2
    assert by[("first", "select $1 as n2")] == 1
    app = "select set_config($1, $2 || $3, $4)"
    assert (by[("first", app)], by[("app1", app)], by[("app2", app)]) == (1, 1, 1), by
    assert not any(name == "app3" for name, _ in by)

    orm = s.raw_login(user=role, params={"application_name": "simple-orm"})
    orm.query("SELECT id, user_id FROM sp_posts ORDER BY id LIMIT 20")
    for user_id in range(1, 21):
        orm.query(f"SELECT * FROM sp_users WHERE id = {user_id}")
    orm.query("SELECT 1")
    for _ in range(30):  # the same text: a poll, not a loop
        orm.query("SELECT name FROM sp_users WHERE id = 3")
    loops = show(console(s), "N_PLUS_ONE")
    assert [(l["query"], l["parent_query"], l["largest_loop"]) for l in loops] == [
        ("select * from sp_users where id = $1", "select id, user_id from sp_posts order by id limit $1", 20)]
    by = {(r["application_name"], r["query"]): r["calls"] for r in show(console(s), "QUERIES")}
    assert by[("simple-orm", "select * from sp_users where id = $1")] == 20
    assert by[("simple-orm", "select name from sp_users where id = $1")] == 30


def test_texts_read_where_they_lie(sluice, role):
    """A text that is the client's text before again, or that but for a
    number, is known where it lies in the receive buffer, and only its
    number and tail are copied (fingerprint_again): SHOW ACTIVITY still
    shows each text whole; the counts are those of the general way; the
    bytes after a text (the next Query of a pipeline) decide nothing; and
    texts noted while query insight was off are not taken for the text
    before."""
    s = sluice(config=admin_config(pool_mode="transaction"))
    a = console(s)

    def shown():
        rows = [r for r in show(a, "ACTIVITY") if r["application_name"] == "again"]
        assert len(rows) == 1, rows
        return rows[0]["query"]

    raw = s.raw_login(user=role, params={"application_name": "again"})
    texts = ["SELECT 5 AS n", "SELECT 123456 AS n", "SELECT 7 AS n", "SELECT 7 AS n",
             "SELECT 1234567 AS n", "SELECT 12345678 AS n", "SELECT 3 AS n", "SELECT 3.5 AS n",
             "SELECT 42 AS n -- a tail longer than a word", "SELECT 43 AS n -- a tail longer than a word"]
    for t in texts:
        raw.query(t)
        assert shown() == t
    raw.send(b"".join(query_message(f"SELECT {v} AS n") for v in (11, 22, 3333333, 4)))
    for v in (11, 22, 3333333, 4):
        assert raw.read_result() == [[str(v)]]
    assert shown() == "SELECT 4 AS n"
    for name in ("", "s1"):  # a Parse again: unnamed, and named in transaction mode
        for v in (1, 22, 333):
            raw.send(parse_msg(f"SELECT {v}::int AS p", name=name) + bind_msg(stmt=name) + execute_msg()
                     + (b"" if name == "" else close_msg(b"S", name)) + SYNC)
            raw.read_until(b"Z")
            assert shown() == f"SELECT {v}::int AS p"
    def calls():
        return {r["query"]: r["calls"] for r in show(a, "QUERIES") if r["application_name"] == "again"}

    assert calls() == {"select $1 as n": 14, "select $1::int as p": 6}
    raw.query("SELECT 1 AS q")
    raw.query("SELECT 2 AS q")  # the text before, but for a number: anchored at the number
    reloads = 0
    # (the texts alike "SELECT 2 AS q" at its anchor: the same prefix, tails as long)
    for key, off, on, alias in (("query_stats_max", 0, 5000, "r"), ("query_insight", 0, 1, "s")):
        s.reload(config={key: off})
        reloads += 1
        wait_for(lambda: s.log_text().count("configuration reloaded") == reloads, timeout=5 * SLACK,
                 what="the reload")
        raw.query(f"SELECT 8 AS {alias}")  # noted, not counted
        s.reload(config={key: on})
        reloads += 1
        wait_for(lambda: s.log_text().count("configuration reloaded") == reloads, timeout=5 * SLACK,
                 what="the reload")
        raw.query(f"SELECT 9 AS {alias}")  # alike the text noted last, which "q" was not found for
        assert shown() == f"SELECT 9 AS {alias}"
    got = calls()
    assert (got["select $1 as q"], got["select $1 as r"], got["select $1 as s"]) == (2, 1, 1), got


def test_batched_and_repeated_queries_are_not_flagged(sluice, role, blog):
    s = sluice(config=admin_config(pool_mode="transaction"))
    c = s.connect(user=role)
    with c.transaction():  # the JOIN version
        c.execute("SELECT p.id, u.name FROM sp_posts p JOIN sp_users u ON u.id = p.user_id").fetchall()
    with c.transaction():  # the = ANY($1) version
        ids = [r[1] for r in c.execute("SELECT id, user_id FROM sp_posts ORDER BY id").fetchall()]
        c.execute("SELECT * FROM sp_users WHERE id = ANY(%s)", (ids,)).fetchall()
    with c.transaction():  # the same parameters every time: a poll, not a loop
        c.execute("SELECT 1")
        for _ in range(30):
            c.execute("SELECT name FROM sp_users WHERE id = %s", (1,)).fetchone()
    assert show(console(s), "N_PLUS_ONE") == []
    assert "N+1" not in s.log_text()


def test_top_statements_in_metrics_are_bounded(sluice, role):
    s = sluice(config=admin_config(pool_mode="transaction", query_metrics_top=5))
    c = s.connect(user=role)
    for i in range(40):
        c.execute(f"SELECT {i} AS col{i}")
    m = prom_parse(fetch_metrics(s))
    calls = [k for k in m if k[0] == "sluice_query_calls_total"]
    assert len(calls) == 5
    assert all(dict(k[1]).keys() == {"queryid", "database", "user"} for k in calls)
    assert m[("sluice_query_stats_entries", frozenset())] >= 40


def test_distinct_statements_stay_bounded(sluice, role):
    """100,000 statements with distinct fingerprints (10,000 under the
    sanitizers), pipelined on one raw connection: the table holds
    query_stats_max of them, evictions count the rest, /metrics keeps
    query_metrics_top samples per family, and memory grows by the table, not
    by the statements seen (asserted loosely, printed)."""
    from pgwire import query_message
    batches = 10 if SANITIZED else 100
    s = sluice(config=admin_config(pool_mode="transaction", query_stats_max=1000))
    raw = s.raw_login(user=role)
    raw.query("SELECT 1")
    rss_before = s.rss_kb()
    for batch in range(batches):
        raw.send(b"".join(query_message(f"SELECT 1 AS c{batch}_{i}") for i in range(1000)))
        for _ in range(1000):
            raw.read_result(timeout=30 * SLACK)
        if batch == 9:
            rss_at_10k = s.rss_kb()
    rss_after = s.rss_kb()
    rows = show(console(s), "QUERIES")
    assert len(rows) == 1000
    m = prom_parse(fetch_metrics(s))
    assert m[("sluice_query_stats_entries", frozenset())] == 1000
    # exactly: every text was seen whole, none cut at a read boundary into another statement
    assert m[("sluice_query_stats_evictions_total", frozenset())] == batches * 1000 + 1 - 1000
    assert len([k for k in m if k[0] == "sluice_query_calls_total"]) == 20
    # the table is full after 1,000: what follows replaces entries, it adds none
    assert rss_after - rss_at_10k < 4096, (rss_at_10k, rss_after)
    print(f"RSS {rss_before} kB -> {rss_at_10k} kB after 10,000 -> {rss_after} kB after "
          f"{batches * 1000:,} distinct statements (query_stats_max = 1000)")
