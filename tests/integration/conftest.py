"""
Fixtures for the integration suite: a real PostgreSQL (session-scoped), a
factory of real sluice processes with generated configs, a private
PostgreSQL for destructive tests, and unique roles per test.

Environment:
  SLUICE_BIN        binary to test (default build/sluice)
  POOLER=pgbouncer  run the suite against Debian's PgBouncer instead, to check
                    the tests themselves; tests of sluice-only behaviour skip
  SLUICE_SANITIZED=1  the binary is built with sanitizers (slower, more RSS)
  SLUICE_TEST_TLS=1   the TLS switch: the shared PostgreSQL runs with ssl=on,
                    every sluice offers TLS to clients (client_tls_sslmode=prefer:
                    libpq-based clients and pgwire's startup() then use it) and
                    connects to PostgreSQL with server_tls_sslmode=verify-ca (names
                    vary with the DNS tests; test_tls.py checks verify-full)
"""

import itertools
import os
import shutil
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pooler  # noqa: E402
from certs import Certs  # noqa: E402
from cluster import PgCluster  # noqa: E402
from pgwire import TLS_SWITCH  # noqa: E402
from pooler import IS_PGBOUNCER, POOLER, SLUICE_BIN, Pooler, role_name  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "sluice_only: behaviour PgBouncer 1.18 does not have; skipped with POOLER=pgbouncer")


def pytest_report_header(config):
    binary = "/usr/sbin/pgbouncer" if IS_PGBOUNCER else SLUICE_BIN
    tls = ", TLS on both sides (SLUICE_TEST_TLS=1)" if TLS_SWITCH else ""
    return f"pooler under test: {POOLER} ({binary}){tls}"


def pytest_collection_modifyitems(config, items):
    if not IS_PGBOUNCER:
        return
    skip = pytest.mark.skip(reason="sluice-only behaviour (POOLER=pgbouncer)")
    for item in items:
        if "sluice_only" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item, so fixtures can tell a failed test."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def pytest_sessionstart(session):
    if not IS_PGBOUNCER and not os.access(SLUICE_BIN, os.X_OK):
        # a missing binary is a failure, never a skip
        raise pytest.UsageError(f"sluice binary not found at {SLUICE_BIN} (build it, or set SLUICE_BIN)")


@pytest.fixture(scope="session")
def certs():
    """A CA, an unrelated CA, and certificates for PostgreSQL, sluice and clients."""
    c = Certs()
    yield c
    shutil.rmtree(c.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg(certs):
    """The shared PostgreSQL: database testdb, roles u_trust (hba trust),
    u_plain (password), u_md5 (md5, md5-stored), u_scram (scram-sha-256),
    u_app (trust; the default test user), superuser postgres. With the TLS
    switch it has ssl = on and every sluice uses TLS on both sides."""
    cluster = PgCluster(name="pg", certs=certs if TLS_SWITCH else None)
    if TLS_SWITCH and not IS_PGBOUNCER:
        pooler.TLS_SETTINGS = certs.sluice_settings(mode="prefer", server_mode="verify-ca")
    try:
        cluster.init().start().setup_roles()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def pg_ssl(pg, certs):
    """A PostgreSQL with ssl = on (the shared one under the TLS switch), also
    listening on 127.0.0.9, which its certificate does not name."""
    if pg.certs:
        yield pg
        return
    cluster = PgCluster(name="pgssl", certs=certs)
    try:
        cluster.init().start().setup_roles()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def pg_private(certs):
    """A PostgreSQL of this test's own, for destructive tests (restart, stop)."""
    cluster = PgCluster(name="pgpriv", max_connections=100, certs=certs if TLS_SWITCH else None)
    try:
        cluster.init().start().setup_roles()
        yield cluster
    finally:
        cluster.destroy()


_role_counter = itertools.count(1)


@pytest.fixture
def role(pg, request):
    """A fresh trust-authenticated role, so pg_stat_activity counts see only this test."""
    name = role_name(request.node.nodeid, next(_role_counter))
    pg.create_role(name)
    return name


@pytest.fixture
def sluice(pg, request):
    """Factory: sluice(config={...}, databases={...}, users={...}, userlist={...},
    pg=other_cluster, start=True, env={...}) -> pooler.Pooler (running); env adds
    variables to the process's environment. Databases default
    to testdb and '*' on the shared PostgreSQL. At teardown each process is
    stopped and the test fails on a sanitizer report or an unexpected crash."""
    made = []

    def factory(config=None, databases=None, users=None, userlist=None, pg_cluster=None, start=True, env=None):
        p = Pooler(pg_cluster or pg, config=config, databases=databases, users=users, userlist=userlist, env=env)
        made.append(p)
        if start:
            p.start()
        return p

    yield factory

    problems = []
    rep = getattr(request.node, "rep_call", None)
    test_failed = rep is not None and rep.failed
    for p in made:
        mine = p.stop()
        for problem in mine:
            problems.append(f"{problem}\n--- {p.log_path} (tail) ---\n{p.log_tail(80)}")
        if test_failed or mine:
            # shown under "Captured stdout teardown" of the failed test; the dir is kept
            print(f"--- {POOLER} log {p.log_path} (tail) ---\n{p.log_tail(80)}")
        else:
            shutil.rmtree(p.dir, ignore_errors=True)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)
