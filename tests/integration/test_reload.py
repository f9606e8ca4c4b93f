"""A file that would empty the configuration is never applied.

A reload (SIGHUP or the admin RELOAD) of a file that lacks the global section
([sluice] or [pgbouncer]) or the [databases] section, or that holds a NUL
byte, is refused: the log says why, clients already connected carry on, and a
new client still logs in with its auth_file password to a database of the
running [databases]. The same files fail `sluice --check` and a start with
exit code 1 and a `file: reason` / `file:line: reason` message. An empty
[databases] section is valid (Debian's stock pgbouncer.ini has one).
"""

import subprocess

import psycopg
import pytest

from admin_helpers import ADMIN, admin_config, console, refused_reload
from pooler import SLACK, SLUICE_BIN

pytestmark = pytest.mark.sluice_only

ADMIN_PW = "Admin-pw-1"
APP_PW = "App-pw-1"

NO_SECTIONS = "no [databases] section and no [sluice] (or [pgbouncer]) section"


def only_databases(s):
    text = s.render()
    return text[: text.index("[sluice]")].encode()


def only_global(s):
    text = s.render()
    return text[text.index("[sluice]"):].encode()


def nul_in_line(s):
    """The running file with a NUL byte at the end of the auth_type line, and
    its line number (a reader that stops at the NUL would see a good line)."""
    lines = s.render().splitlines(keepends=True)
    n = next(i for i, ln in enumerate(lines) if ln.startswith("auth_type"))
    lines[n] = lines[n].rstrip("\n") + "\0trust\n"
    return "".join(lines).encode(), n + 1


# name -> (bytes of the file given the running Pooler, expected reason after "PATH")
BAD_FILES = {
    "empty": (lambda s: b"", f": {NO_SECTIONS}"),
    "comment_only": (lambda s: b"; emptied by a broken deploy\n# nothing else\n\n", f": {NO_SECTIONS}"),
    "only_databases": (only_databases, ": no [sluice] (or [pgbouncer]) section"),
    "only_sluice": (only_global, ": no [databases] section"),
    # a write interrupted after the file was extended: all zeros
    "zeros": (lambda s: b"\0" * 4096, ":1: NUL byte in line"),
    "nul_in_line": (lambda s: nul_in_line(s)[0], lambda s: f":{nul_in_line(s)[1]}: NUL byte in line"),
}


def expected_reason(s, name):
    reason = BAD_FILES[name][1]
    return reason(s) if callable(reason) else reason


def make_pooler(sluice, pg):
    """md5 clients against an auth_file, one database (no '*'): losing either shows."""
    return sluice(
        config=admin_config(auth_type="md5", pool_mode="transaction"),
        databases={"testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb"},
        userlist={"u_app": APP_PW, ADMIN: ADMIN_PW},
    )


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def assert_still_serving(s, before):
    assert s.alive()
    assert before.execute("SELECT 'still served'").fetchone()[0] == "still served"
    with s.connect(user="u_app", password=APP_PW) as c:
        assert c.execute("SELECT current_database()").fetchone()[0] == "testdb"
    # the running auth_file still refuses a wrong password
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        s.connect(user="u_app", password="wrong")


@pytest.mark.parametrize("how", ["sighup", "admin_reload"])
@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_reload_of_bad_file_keeps_running_config(sluice, pg, name, how):
    s = make_pooler(sluice, pg)
    before = s.connect(user="u_app", password=APP_PW)
    before.execute("SELECT 1")
    admin = console(s, password=ADMIN_PW)
    write_bytes(s.config_path, BAD_FILES[name][0](s))
    want = f"reload failed, keeping the running configuration: {s.config_path}{expected_reason(s, name)}"
    assert "configuration reloaded" not in refused_reload(s, how, admin, want)
    assert_still_serving(s, before)
    # the console still answers, on the running admin_users
    assert admin.execute("SHOW CONFIG").fetchall()
    with psycopg.connect(host="127.0.0.1", port=s.admin_port, user=ADMIN, password=ADMIN_PW, dbname="sluice",
                         autocommit=True, connect_timeout=int(10 * SLACK)) as a2:
        assert a2.execute("SHOW CONFIG").fetchall()


def test_good_file_after_a_refused_one_is_applied(sluice, pg):
    s = make_pooler(sluice, pg)
    admin = console(s, password=ADMIN_PW)
    write_bytes(s.config_path, b"")
    with pytest.raises(psycopg.Error):
        admin.execute("RELOAD")
    s.overrides["default_pool_size"] = 7
    s.write_config()
    assert admin.execute("RELOAD").statusmessage == "RELOAD"
    row = [r for r in admin.execute("SHOW CONFIG").fetchall() if r[0] == "default_pool_size"]
    assert row and row[0][1] == "7"
    with s.connect(user="u_app", password=APP_PW) as c:
        assert c.execute("SELECT 1").fetchone()[0] == 1


def test_empty_databases_section_reloads(sluice, pg):
    """An empty [databases] section is a valid file: the reload applies it, and
    then a database that was listed is gone."""
    s = make_pooler(sluice, pg)
    with s.connect(user="u_app", password=APP_PW) as c:
        c.execute("SELECT 1")
    admin = console(s, password=ADMIN_PW)
    s.databases = {}
    s.write_config()
    assert admin.execute("RELOAD").statusmessage == "RELOAD"
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        s.connect(user="u_app", password=APP_PW)


# ---- the same checks at start and in --check


def run(*args, timeout=20):
    return subprocess.run([SLUICE_BIN, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          errors="replace", timeout=timeout)


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_check_and_start_refuse_bad_file(sluice, pg, name):
    s = sluice(config={"auth_type": "md5"}, userlist={"u_app": APP_PW}, start=False)
    write_bytes(s.config_path, BAD_FILES[name][0](s))
    want = f"{s.config_path}{expected_reason(s, name)}"
    p = run("--check", s.config_path)
    assert p.returncode == 1, p.stdout + p.stderr
    assert want in p.stderr, p.stderr
    assert "valid" not in p.stdout
    p = run(s.config_path, timeout=10)
    assert p.returncode == 1, p.stdout + p.stderr
    assert want in p.stderr, p.stderr


DEBIAN_PGBOUNCER_INI = "/etc/pgbouncer/pgbouncer.ini"


def test_check_accepts_debians_stock_pgbouncer_ini():
    """Debian's pgbouncer package ships a pgbouncer.ini whose [databases]
    section holds only comments; it stays valid."""
    try:
        with open(DEBIAN_PGBOUNCER_INI) as f:
            text = f.read()
    except OSError:
        pytest.skip(f"{DEBIAN_PGBOUNCER_INI} is not installed")
    assert "[databases]" in text
    p = run("--check", DEBIAN_PGBOUNCER_INI)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "configuration is valid" in p.stdout
