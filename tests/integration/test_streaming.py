"""Results larger than any buffer stream through without being held: a 200 MB
result while sluice's RSS grows by less than 32 MB. (Under sanitizers the RSS
figure means little, so there only the data is checked.)"""

import threading
import time

import pytest

from pooler import SANITIZED

RSS_LIMIT_KB = 32 * 1024


class RssSampler:
    def __init__(self, pooler, interval=0.02):
        self.pooler = pooler
        self.interval = interval
        self.max = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.max = max(self.max, self.pooler.rss_kb())
            except (OSError, AssertionError):
                return
            time.sleep(self.interval)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(5)


def check_rss(baseline, peak, what):
    growth = peak - baseline
    print(f"{what}: RSS baseline {baseline} kB, peak {peak} kB, growth {growth} kB")
    if SANITIZED:
        return
    assert growth < RSS_LIMIT_KB, f"{what}: sluice RSS grew by {growth} kB (limit {RSS_LIMIT_KB} kB)"


def warm_up(s):
    with s.connect() as c:
        c.execute("SELECT repeat('w', 100000) FROM generate_series(1, 20)").fetchall()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_200mb_result_streamed(sluice, pg, mode):
    s = sluice(config={"pool_mode": mode, "default_pool_size": 2})
    warm_up(s)
    baseline = s.rss_kb()
    rows = 0
    nbytes = 0
    with RssSampler(s) as sampler:
        with s.connect() as c:
            cur = c.cursor()
            for (v,) in cur.stream("SELECT repeat('x', 1000) FROM generate_series(1, 200000)"):
                rows += 1
                nbytes += len(v)
            assert c.execute("SELECT 'after'").fetchone()[0] == "after"
    assert rows == 200_000
    assert nbytes == 200_000_000
    check_rss(baseline, max(sampler.max, s.rss_kb()), "200 MB result")


@pytest.mark.timeout(240)
def test_200mb_copy_out_streamed(sluice, pg):
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 2})
    warm_up(s)
    baseline = s.rss_kb()
    nbytes = 0
    with RssSampler(s) as sampler:
        with s.connect() as c:
            with c.cursor().copy("COPY (SELECT repeat('y', 1000) FROM generate_series(1, 200000)) TO STDOUT") as cp:
                while True:
                    data = cp.read()
                    if not data:
                        break
                    nbytes += len(data)
    assert nbytes == 200_000 * 1001
    check_rss(baseline, max(sampler.max, s.rss_kb()), "200 MB COPY OUT")


@pytest.mark.timeout(120)
def test_single_row_larger_than_any_buffer(sluice, pg):
    """One 100 MB value: a single DataRow far larger than the I/O buffer."""
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 2})
    warm_up(s)
    baseline = s.rss_kb()
    with RssSampler(s) as sampler:
        with s.connect() as c:
            v = c.execute("SELECT repeat('z', 100 * 1024 * 1024)").fetchone()[0]
            assert len(v) == 100 * 1024 * 1024
            del v
            assert c.execute("SELECT 'after'").fetchone()[0] == "after"
    check_rss(baseline, max(sampler.max, s.rss_kb()), "100 MB row")


@pytest.mark.timeout(120)
def test_large_query_in(sluice, pg):
    """A 20 MB parameter from the client goes through and comes back intact."""
    s = sluice(config={"pool_mode": "transaction", "default_pool_size": 2})
    big = "q" * (20 * 1024 * 1024)
    with s.connect() as c:
        assert c.execute("SELECT length(%s::text), md5(%s::text) = md5(repeat('q', 20971520))", [big, big]).fetchone() == (
            len(big),
            True,
        )
