"""The drivers applications use, each with its defaults, in transaction mode:
pgx v4 (named statements from its LRU cache) and pgJDBC (named statements
after prepareThreshold runs). 40 connections over 5 servers, every value
checked by the driver program itself (tests/drivers/). asyncpg, psycopg and
pgbench -M prepared are in test_prepared.py."""

import os
import shutil
import subprocess

import pytest

from pooler import ROOT, SLACK

pytestmark = pytest.mark.sluice_only

DRIVERS = os.path.join(ROOT, "tests", "drivers")
JDBC_JAR = "/usr/share/java/postgresql.jar"
PGX_SRC = "/usr/share/gocode/src/github.com/jackc/pgx/v4"


@pytest.fixture(scope="module")
def pgx_check(tmp_path_factory):
    """pgx_check built with Debian's Go and pgx v4 (scripts/lib.sh installs them)."""
    if shutil.which("go") is None or not os.path.isdir(PGX_SRC):
        pytest.skip("golang-go / golang-github-jackc-pgx-v4-dev not installed (scripts/test.sh installs them)")
    out = tmp_path_factory.mktemp("pgx") / "pgx_check"
    env = dict(os.environ, GOPATH="/usr/share/gocode", GO111MODULE="off",
               GOCACHE=str(tmp_path_factory.mktemp("gocache")), GOFLAGS="")
    p = subprocess.run(["go", "build", "-o", str(out), os.path.join(DRIVERS, "pgx_check.go")],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return str(out)


def run_driver(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=180 * SLACK)
    assert p.returncode == 0, f"{cmd[0]} failed:\n{p.stdout}\n{p.stderr}"
    return p.stdout


def test_pgx_defaults_40_clients_pool_5(sluice, pg, role, pgx_check):
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 5, "max_client_conn": 100})
    dsn = f"postgres://{role}@127.0.0.1:{s.port}/testdb?sslmode=disable"
    assert "ok: 40 clients x 20 rounds" in run_driver([pgx_check, dsn, "40", "20"])


def test_pgjdbc_defaults_40_clients_pool_5(sluice, pg, role):
    if shutil.which("java") is None or not os.path.exists(JDBC_JAR):
        pytest.skip("java / libpostgresql-jdbc-java not installed (scripts/test.sh installs them)")
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 5, "max_client_conn": 100})
    url = f"jdbc:postgresql://127.0.0.1:{s.port}/testdb"
    out = run_driver(["java", "-cp", JDBC_JAR, os.path.join(DRIVERS, "JdbcCheck.java"), url, role, "40", "20"])
    assert "ok: 40 clients x 20 rounds" in out
