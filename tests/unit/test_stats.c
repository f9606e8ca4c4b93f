/*
 * test_stats: the wait-time histogram. Recording a wait is on the hot path and
 * finds its bucket with integer steps; this checks it against the defining
 * formula ceil(4 * log2(us)), and the percentiles read back from the buckets.
 */
#include <math.h>

#include "sluice/stats.h"
#include "unit.h"

static int bucket_by_formula(usec_t us)
{
	if (us <= 1)
		return 0;
	int k = (int)ceil(4.0 * log2((double)us));
	return k >= STATS_WAIT_BUCKETS ? STATS_WAIT_BUCKETS - 1 : k;
}

static void test_bucket_matches_formula(void)
{
	int mismatches = 0;
	for (usec_t us = 0; us <= 200000; us++)
		mismatches += stats_wait_bucket(us) != bucket_by_formula(us);
	/* larger waits, up to and past the last bucket (2^(159/4) µs, ~10 days) */
	for (usec_t us = 200000; us < ((usec_t)1 << 45); us += us / 7 + 1)
		mismatches += stats_wait_bucket(us) != bucket_by_formula(us);
	/* either side of every quarter step's boundary */
	for (int n = 1; n < 40; n++)
		for (int j = 1; j < 4; j++) {
			usec_t edge = (usec_t)(pow(2.0, n + j / 4.0));
			for (usec_t us = edge - 2; us <= edge + 2; us++)
				mismatches += stats_wait_bucket(us) != bucket_by_formula(us);
		}
	CHECK(mismatches == 0);
	/* bucket k covers (2^((k-1)/4), 2^(k/4)]: the powers of two close a bucket */
	CHECK(stats_wait_bucket(2) == 4);
	CHECK(stats_wait_bucket(3) == 7);
	CHECK(stats_wait_bucket(1024) == 40);
	CHECK(stats_wait_bucket(1025) == 41);
	CHECK(stats_wait_bucket(-5) == 0);
	CHECK(stats_wait_bucket((usec_t)1 << 50) == STATS_WAIT_BUCKETS - 1);
}

static void test_percentiles(void)
{
	struct pool_stats st;
	memset(&st, 0, sizeof(st));
	CHECK(stats_wait_percentile(&st.wait_cur, 0.5) == 0);
	for (int i = 0; i < 98; i++)
		stats_record_wait(&st, 0);
	stats_record_wait(&st, 1000);
	stats_record_wait(&st, 50000);
	CHECK(st.wait_cur.count == 100);
	CHECK(st.wait_cur.max == 50000);
	CHECK(stats_wait_percentile(&st.wait_cur, 0.5) == 1);
	/* the 99th wait is 1000 µs: its bucket's bound, 2^(40/4) = 1024 */
	CHECK(stats_wait_percentile(&st.wait_cur, 0.99) == 1024);
	/* the largest is reported as the recorded maximum, not the bucket bound */
	CHECK(stats_wait_percentile(&st.wait_cur, 1.0) == 50000);
	CHECK(st.prom_wait_count == 100);
	CHECK(st.total.wait_time == 51000);
	stats_roll_period(&st);
	CHECK(st.wait_cur.count == 0);
	CHECK(st.wait_last.count == 100);
}

int main(void)
{
	test_bucket_matches_formula();
	test_percentiles();
	UNIT_DONE();
}
