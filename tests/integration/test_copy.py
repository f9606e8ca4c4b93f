"""COPY streams both ways through the pooler: 100k rows in and out, and a
failed COPY leaves client and server usable."""

import hashlib

import psycopg
import pytest

N = 100_000


def row_text(i):
    return f"row number {i} " + "z" * (i % 50)


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_copy_in_and_out_100k_rows(sluice, pg, mode):
    table = f"t_copy_{mode}"
    pg.execute(f"CREATE TABLE {table} (id int, v text)")
    pg.execute(f"GRANT ALL ON {table} TO PUBLIC")
    s = sluice(config={"pool_mode": mode, "default_pool_size": 2})
    with s.connect() as c:
        with c.cursor() as cur:
            with cur.copy(f"COPY {table} (id, v) FROM STDIN") as cp:
                for i in range(N):
                    cp.write_row((i, row_text(i)))
        assert c.execute(f"SELECT count(*), sum(id) FROM {table}").fetchone() == (N, N * (N - 1) // 2)
    # PostgreSQL agrees
    assert pg.scalar(f"SELECT count(*) FROM {table} WHERE v = 'row number ' || id || ' ' || repeat('z', id % 50)") == N

    expected = hashlib.sha256()
    for i in range(N):
        expected.update(f"{i}\t{row_text(i)}\n".encode())
    got = hashlib.sha256()
    nbytes = 0
    with s.connect() as c:
        with c.cursor() as cur:
            with cur.copy(f"COPY (SELECT id, v FROM {table} ORDER BY id) TO STDOUT") as cp:
                for chunk in cp:
                    got.update(chunk)
                    nbytes += len(chunk)
        assert c.execute("SELECT 'usable after copy out'").fetchone()[0] == "usable after copy out"
    assert nbytes > 0
    assert got.hexdigest() == expected.hexdigest()


def test_copy_in_client_failure(sluice, pg, role):
    """CopyFail from the client: nothing is inserted, connection and server carry on."""
    pg.execute("CREATE TABLE t_copy_fail (id int)")
    pg.execute("GRANT ALL ON t_copy_fail TO PUBLIC")
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1})
    c = s.connect(user=role)
    with pytest.raises(psycopg.errors.QueryCanceled):
        with c.cursor() as cur:
            with cur.copy("COPY t_copy_fail FROM STDIN") as cp:
                for i in range(1000):
                    cp.write_row((i,))
                raise RuntimeError("client gives up")
    assert c.execute("SELECT count(*) FROM t_copy_fail").fetchone()[0] == 0
    assert c.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with s.connect(user=role) as d:
        assert d.execute("SELECT 'next client ok'").fetchone()[0] == "next client ok"


def test_copy_in_bad_data(sluice, pg, role):
    """The server rejects the data mid-COPY: an error, then business as usual."""
    pg.execute("CREATE TABLE t_copy_bad (id int)")
    pg.execute("GRANT ALL ON t_copy_bad TO PUBLIC")
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1})
    c = s.connect(user=role)
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        with c.cursor() as cur:
            with cur.copy("COPY t_copy_bad FROM STDIN") as cp:
                for i in range(5000):
                    cp.write(f"{i}\n" if i != 2500 else "not-a-number\n")
    assert c.execute("SELECT count(*) FROM t_copy_bad").fetchone()[0] == 0
    assert c.execute("SELECT 7").fetchone()[0] == 7


def test_copy_inside_transaction(sluice, pg, role):
    pg.execute("CREATE TABLE t_copy_tx (id int)")
    pg.execute("GRANT ALL ON t_copy_tx TO PUBLIC")
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 1})
    c = s.connect(user=role)
    other = s.connect(user=role)
    with c.transaction():
        with c.cursor().copy("COPY t_copy_tx FROM STDIN") as cp:
            for i in range(10_000):
                cp.write_row((i,))
        assert c.execute("SELECT count(*) FROM t_copy_tx").fetchone()[0] == 10_000
    assert other.execute("SELECT count(*) FROM t_copy_tx").fetchone()[0] == 10_000
