"""The status page: GET / on the admin port is an HTML page of the pools and
the clients, rendered on the server (it works without JavaScript) and
refreshed by a few lines of script; every text from a client is escaped and
no query text or literal appears; status_page = 0 turns it off. A real
browser (Debian's headless Chromium) loads it while a client waits for a
server, with scripts off and on, and keeps a screenshot."""

import os
import re
import shutil
import subprocess
import tempfile

import psycopg
import pytest

from admin_helpers import admin_config, http, wait_admin_port
from cluster import wait_for
from helpers import Background, seed_blog
from pooler import ROOT, SANITIZED, SLACK

pytestmark = pytest.mark.sluice_only

CHROMIUM = shutil.which("chromium")
ARTIFACTS = os.path.join(ROOT, "build", "test-artifacts")


def page(s, path="/"):
    st, headers, body = http(s, path)
    assert st == 200, (st, body[:200])
    assert headers["content-type"].startswith("text/html")
    return body.decode()


def pool_cells(html, role):
    """The cells of the pools table row of `role`."""
    table = re.search(r'<table id="pools">(.*?)</table>', html, re.S).group(1)
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        if len(cells) > 1 and cells[1] == role:
            return cells
    return None


def held_pool(sluice, pg, role):
    """A pool of one server held by a transaction that ran an N+1 loop (the
    posts, then each one's author), and a second client waiting."""
    seed_blog(pg)
    s = sluice(config=admin_config(pool_mode="transaction", default_pool_size=1))
    holder = s.connect(user=role, autocommit=False, application_name="<b>holder</b>")
    holder.execute("SELECT 'secret-literal-4711'")
    for _, user_id in holder.execute("SELECT id, user_id FROM sp_posts ORDER BY id").fetchall():
        holder.execute("SELECT name FROM sp_users WHERE id = %s", (user_id,)).fetchone()
    waiter = s.connect(user=role, application_name="waiter & co")
    bg = Background(waiter.execute, "SELECT 'another-literal-0815'")
    wait_for(lambda: (pool_cells(page(s), role) or [None] * 5)[4] == "1", timeout=5 * SLACK,
             what="the waiting client on the page")
    return s, holder, bg


def test_page_shows_pools_and_clients_escaped_without_queries(sluice, pg, role):
    s, holder, bg = held_pool(sluice, pg, role)
    html = page(s)
    assert html.startswith("<!DOCTYPE html>")
    cells = pool_cells(html, role)
    assert cells[0] == "testdb" and cells[2] == "transaction"
    assert cells[4] == "1", cells  # waiting
    assert cells[5] == "1" and cells[7] == "1"  # one active server of a pool of one
    assert "&lt;b&gt;holder&lt;/b&gt;" in html and "<b>holder</b>" not in html
    assert "waiter &amp; co" in html
    assert "secret-literal-4711" not in html and "another-literal-0815" not in html
    assert "user-" not in html and "post-" not in html
    loop = re.search(r'<table id="n_plus_one">(.*?)</table>', html, re.S).group(1)
    assert "select name from sp_users where id = $1" in loop
    assert "select id, user_id from sp_posts order by id" in loop
    assert "select name from sp_users where id = $1" in re.search(
        r'<table id="queries">(.*?)</table>', html, re.S).group(1)
    assert re.search(r'<span id="ready" class="ok">ready</span>', html)
    # the live part alone, for the script
    frag = page(s, "/?fragment=1")
    assert frag.lstrip().startswith('<p class="meta">') and "<html" not in frag
    assert pool_cells(frag, role)[4] == "1"
    holder.commit()
    bg.result(timeout=10 * SLACK)
    wait_for(lambda: pool_cells(page(s), role)[4] == "0", timeout=5 * SLACK, what="no waiter")


def test_status_page_off(sluice):
    s = sluice(config=admin_config(status_page=0))
    assert http(s, "/")[0] == 404
    assert http(s, "/healthz")[0] == 200


def chromium(url, out_dir, *args):
    """Run headless Chromium on url; return what it printed (the DOM with --dump-dom)."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={out_dir}", *args, url]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60 * SLACK)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
@pytest.mark.skipif(SANITIZED, reason="the page is the same; the browser is slow beside ASan")
def test_page_in_headless_chromium_while_a_client_waits(sluice, pg, role):
    s, holder, bg = held_pool(sluice, pg, role)
    url = f"http://127.0.0.1:{s.admin_port}/"
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(ARTIFACTS, exist_ok=True)
        # scripts off: what the server rendered is the page (--dump-dom itself needs
        # scripts, so the text is checked on the HTML as served, and the browser renders it)
        assert pool_cells(page(s), role)[4] == "1"
        noscript = os.path.join(ARTIFACTS, "status-page-noscript.png")
        chromium(url, d, "--disable-javascript", "--window-size=1280,800",
                 f"--screenshot={noscript}")
        assert os.path.getsize(noscript) > 1000
        # scripts on, time run past one refresh: the live part came back through fetch()
        dom = chromium(url, d, "--virtual-time-budget=7000", "--dump-dom")
        assert '<main id="live" class="">' in dom, dom[:500]
        assert pool_cells(dom, role)[4] == "1"
        assert "select name from sp_users where id = $1" in dom  # the N+1 pattern, rendered
        assert "secret-literal-4711" not in dom
        shot = os.path.join(ARTIFACTS, "status-page.png")
        chromium(url, d, "--window-size=1280,800", f"--screenshot={shot}")
        assert os.path.getsize(shot) > 1000
    holder.commit()
    bg.result(timeout=10 * SLACK)
