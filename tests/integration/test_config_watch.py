"""config_watch = 1: a change of the config file is applied without a signal,
exactly as SIGHUP applies it: edited in place, or swapped as a Kubernetes
ConfigMap volume swaps it (sluice.ini -> ..data/sluice.ini, ..data ->
..TIMESTAMP, replaced by renaming a new ..data_tmp link over ..data). An
editor's burst of writes makes one reload; an event that leaves the content
as it was makes none; a broken file keeps the running configuration and the
log says why, and fixing it applies it. config_watch = 0 watches nothing, and
a reload that turns the key on or off starts or stops the watch.
"""

import os
import shutil
import signal
import time

import pytest

from admin_helpers import admin_config, console, show
from cluster import wait_for
from pooler import SLACK

pytestmark = pytest.mark.sluice_only

RELOADED = "configuration reloaded"
REFUSED = "reload failed, keeping the running configuration"


def config_value(a, key):
    return {r["key"]: r["value"] for r in show(a, "CONFIG")}[key]


def databases(a):
    return {r["name"] for r in show(a, "DATABASES")}


def wait_value(a, key, want, what=None):
    wait_for(lambda: config_value(a, key) == want, timeout=5 * SLACK, what=what or f"{key} = {want}")


def watched(sluice, pg, **config):
    dbs = {"testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb"}
    s = sluice(config=admin_config(config_watch=1, default_pool_size=20, **config), databases=dbs)
    wait_for(lambda: "config_watch: watching" in s.log_text(), timeout=5 * SLACK, what="the watch")
    return s, console(s)


def test_edit_in_place_is_applied(sluice, pg):
    s, a = watched(sluice, pg)
    c = s.connect()
    s.overrides["default_pool_size"] = 7
    s.databases["added_db"] = f"host=127.0.0.1 port={pg.port} dbname=postgres"
    s.write_config()  # no signal
    wait_value(a, "default_pool_size", "7")
    assert "added_db" in databases(a)
    assert "changed, reloading" in s.log_text()
    with s.connect(dbname="added_db") as c2:
        assert c2.execute("SELECT current_database()").fetchone()[0] == "postgres"
    # the client from before the change carries on
    assert c.execute("SELECT 'still served'").fetchone()[0] == "still served"


def test_burst_of_writes_makes_one_reload(sluice, pg):
    """An editor that writes the file in pieces, closing it in between, makes
    one reload of the whole file, never one of the half-written file."""
    s, a = watched(sluice, pg)
    s.overrides["default_pool_size"] = 9
    text = s.render()
    half = len(text) // 2
    log_from = len(s.log_text())
    with open(s.config_path, "w") as f:
        f.write(text[:half])
    for i in range(half, len(text), 40):
        with open(s.config_path, "a") as f:
            f.write(text[i:i + 40])
    wait_value(a, "default_pool_size", "9")
    log = s.log_text()[log_from:]
    assert log.count(RELOADED) == 1, log
    assert REFUSED not in log


def test_unrelated_event_does_not_reload(sluice, pg):
    """touch, or another file in the directory: the content is the same, no reload."""
    s, a = watched(sluice, pg, verbose=1)
    log_from = len(s.log_text())
    os.utime(s.config_path)  # IN_ATTRIB on the file itself
    with open(os.path.join(s.dir, "other.txt"), "w") as f:
        f.write("not the config\n")
    wait_for(lambda: "config_watch: " + s.config_path + " unchanged" in s.log_text()[log_from:],
             timeout=5 * SLACK, what="the check that found the content unchanged")
    assert RELOADED not in s.log_text()[log_from:]
    assert "changed, reloading" not in s.log_text()[log_from:]


def make_configmap_layout(s, stamp):
    """Move the Pooler's file into a ConfigMap volume layout inside its dir."""
    data_dir = os.path.join(s.dir, stamp)
    os.mkdir(data_dir)
    os.rename(s.config_path, os.path.join(data_dir, "sluice.ini"))
    os.symlink(stamp, os.path.join(s.dir, "..data"))
    os.symlink("..data/sluice.ini", s.config_path)


def configmap_update(s, old_stamp, new_stamp):
    """As the kubelet does: a new timestamped dir, a ..data_tmp link to it
    renamed over ..data (atomic), then the old dir removed."""
    new_dir = os.path.join(s.dir, new_stamp)
    os.mkdir(new_dir)
    with open(os.path.join(new_dir, "sluice.ini"), "w") as f:
        f.write(s.render())
    os.symlink(new_stamp, os.path.join(s.dir, "..data_tmp"))
    os.rename(os.path.join(s.dir, "..data_tmp"), os.path.join(s.dir, "..data"))
    shutil.rmtree(os.path.join(s.dir, old_stamp))


def test_kubernetes_configmap_swap(sluice, pg):
    dbs = {"testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb"}
    s = sluice(config=admin_config(config_watch=1, default_pool_size=20), databases=dbs, start=False)
    make_configmap_layout(s, "..2026_12_01_10_00_00.000000001")
    s.start()
    a = console(s)
    assert config_value(a, "default_pool_size") == "20"

    s.overrides["default_pool_size"] = 5
    configmap_update(s, "..2026_12_01_10_00_00.000000001", "..2026_12_01_11_00_00.000000002")
    wait_value(a, "default_pool_size", "5", what="the first ConfigMap update")

    # again, after the directory the link pointed into is gone
    s.overrides["default_pool_size"] = 6
    s.databases["added_db"] = f"host=127.0.0.1 port={pg.port} dbname=postgres"
    configmap_update(s, "..2026_12_01_11_00_00.000000002", "..2026_12_01_12_00_00.000000003")
    wait_value(a, "default_pool_size", "6", what="the second ConfigMap update")
    assert "added_db" in databases(a)
    assert REFUSED not in s.log_text()


@pytest.mark.parametrize("where", ["other_dir", "same_dir"])
def test_symlink_target_edited_in_place(sluice, pg, where):
    """The config path is a symlink to a file of another name, in another
    directory or in its own; editing the file it points to is seen too."""
    dbs = {"testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb"}
    s = sluice(config=admin_config(config_watch=1, default_pool_size=20), databases=dbs, start=False)
    target = os.path.join(s.dir, "real") if where == "other_dir" else s.dir
    os.makedirs(target, exist_ok=True)
    os.rename(s.config_path, os.path.join(target, "real.ini"))
    os.symlink(os.path.join(target, "real.ini"), s.config_path)
    s.start()
    a = console(s)
    s.overrides["default_pool_size"] = 4
    with open(os.path.join(target, "real.ini"), "w") as f:
        f.write(s.render())
    wait_value(a, "default_pool_size", "4")


def test_broken_file_keeps_running_config_until_fixed(sluice, pg):
    s, a = watched(sluice, pg)
    c = s.connect()
    log_from = len(s.log_text())
    with open(s.config_path, "a") as f:
        f.write("pool_mode = not-a-mode\n")
    wait_for(lambda: REFUSED in s.log_text()[log_from:], timeout=5 * SLACK, what="the refused reload")
    assert "pool_mode" in s.log_text()[log_from:]  # the log says why
    assert s.alive()
    assert c.execute("SELECT 'still served'").fetchone()[0] == "still served"
    with s.connect() as c2:
        assert c2.execute("SELECT 1").fetchone()[0] == 1
    assert config_value(a, "default_pool_size") == "20"

    s.overrides["default_pool_size"] = 8
    s.write_config()  # the fixed file
    wait_value(a, "default_pool_size", "8", what="the fixed file")


def test_deleted_then_recreated(sluice, pg):
    """An editor that deletes the file and writes a new one: no reload of a
    missing file, then the new content is applied."""
    s, a = watched(sluice, pg)
    log_from = len(s.log_text())
    os.unlink(s.config_path)
    wait_for(lambda: "config_watch: cannot read" in s.log_text()[log_from:], timeout=5 * SLACK,
             what="the missing file noticed")
    assert REFUSED not in s.log_text()[log_from:]
    s.overrides["default_pool_size"] = 3
    s.write_config()
    wait_value(a, "default_pool_size", "3")


def unchanged_for(a, key, want, seconds):
    """A change that must not happen: nothing to wait for, so watch it for a
    while (several debounce periods) and check it never came."""
    deadline = time.monotonic() + seconds * SLACK
    while time.monotonic() < deadline:
        assert config_value(a, key) == want
        time.sleep(0.1)


def test_off_watches_nothing_and_reload_turns_it_on_and_off(sluice, pg):
    dbs = {"testdb": f"host=127.0.0.1 port={pg.port} dbname=testdb"}
    s = sluice(config=admin_config(config_watch=0, default_pool_size=20), databases=dbs)
    a = console(s)
    s.overrides["default_pool_size"] = 11
    s.write_config()
    unchanged_for(a, "default_pool_size", "20", 1.0)
    assert "config_watch" not in s.log_text()

    # a SIGHUP applies the edit, and config_watch = 1 with it starts the watch
    s.reload(config={"config_watch": 1})
    wait_for(lambda: "config_watch: watching" in s.log_text(), timeout=5 * SLACK, what="the watch")
    wait_value(a, "default_pool_size", "11")
    s.overrides["default_pool_size"] = 12
    s.write_config()
    wait_value(a, "default_pool_size", "12", what="the edit seen by the watch")

    # turned off through the watch itself: that change is applied, the next is not
    s.overrides["config_watch"] = 0
    s.write_config()
    wait_for(lambda: "config_watch: no longer watching" in s.log_text(), timeout=5 * SLACK,
             what="the watch stopped")
    assert config_value(a, "config_watch") == "0"
    s.overrides["default_pool_size"] = 13
    s.write_config()
    unchanged_for(a, "default_pool_size", "12", 1.0)

    # and SET starts it again: the edit made meanwhile waits for the next change
    a.execute("SET config_watch = 1")
    assert s.log_text().count("config_watch: watching") == 2
    s.overrides.update(config_watch=1, default_pool_size=14)
    s.write_config()
    wait_value(a, "default_pool_size", "14", what="the edit after SET config_watch = 1")
    # a SIGHUP reloads as well, and the watch carries on after it
    reloads = s.log_text().count(RELOADED)
    s.signal(signal.SIGHUP)
    wait_for(lambda: s.log_text().count(RELOADED) == reloads + 1, timeout=5 * SLACK, what="the SIGHUP reload")
    s.overrides["default_pool_size"] = 15
    s.write_config()
    wait_value(a, "default_pool_size", "15", what="the edit after the SIGHUP")
