/*
 * stats: period roll-over and the wait-time histograms. Recording a wait is
 * on the hot path, so it is a handful of integer operations.
 */
#include "sluice/stats.h"

#include <math.h>
#include <string.h>

const double stats_prom_bounds[STATS_PROM_BUCKETS] = {
	0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60,
};

/* 2^(j/4) for j = 1..3: the quarter steps between powers of two. */
#define Q1 1.189207115002721
#define Q2 1.414213562373095
#define Q3 1.681792830507429

/* quarter_floor[n][j], j = 0..3: floor(2^n * 2^(j/4)), so that for an integer us,
 * us > 2^n * 2^(j/4) exactly when us > quarter_floor[n][j]. */
#define QF(n)                                                                      \
	{                                                                          \
		UINT64_C(1) << (n), (uint64_t)(Q1 * (double)(UINT64_C(1) << (n))), \
			(uint64_t)(Q2 * (double)(UINT64_C(1) << (n))),             \
			(uint64_t)(Q3 * (double)(UINT64_C(1) << (n)))              \
	}
#define QF8(n)       QF(n), QF(n + 1), QF(n + 2), QF(n + 3), QF(n + 4), QF(n + 5), QF(n + 6), QF(n + 7)
#define QUARTER_ROWS 40 /* the last bucket begins in the last row, at its q[2] */
_Static_assert(4 * (QUARTER_ROWS - 1) + 2 == STATS_WAIT_BUCKETS - 2,
	       "the table ends where the last bucket begins");
static const uint64_t quarter_floor[QUARTER_ROWS][4] = { QF8(0), QF8(8), QF8(16), QF8(24),
							 QF8(32) };

/* Smallest k with 2^(k/4) >= us, without libm or floating point: us lies in
 * [2^n, 2^(n+1)) (0 and 1 in row 0), so k is 4n plus the quarter steps it
 * passes; one compare first tells the last bucket's waits, so that no k
 * needs capping. */
int stats_wait_bucket(usec_t us)
{
	uint64_t u = us > 0 ? (uint64_t)us : 0;
	if (u > quarter_floor[QUARTER_ROWS - 1][2]) /* past 2^((STATS_WAIT_BUCKETS - 2) / 4) */
		return STATS_WAIT_BUCKETS - 1;
	int n = 63 - __builtin_clzll(u | 1);
	const uint64_t *q = quarter_floor[n];
	return 4 * n + (u > q[0]) + (u > q[1]) + (u > q[2]) + (u > q[3]);
}

void stats_record_wait(struct pool_stats *st, usec_t wait)
{
	if (wait < 0)
		wait = 0;
	struct wait_hist *h = &st->wait_cur;
	h->buckets[stats_wait_bucket(wait)]++;
	h->count++;
	if (wait > h->max)
		h->max = wait;
	double secs = (double)wait / 1e6;
	int i = 0;
	while (i < STATS_PROM_BUCKETS && secs > stats_prom_bounds[i])
		i++;
	if (i < STATS_PROM_BUCKETS)
		st->prom_wait[i]++; /* made cumulative when rendered */
	st->prom_wait_count++;
	st->prom_wait_sum += secs;
	st->total.wait_time += wait;
}

static void counters_sub(struct stats_counters *out, const struct stats_counters *a,
			 const struct stats_counters *b)
{
	out->xact_count = a->xact_count - b->xact_count;
	out->query_count = a->query_count - b->query_count;
	out->server_assignment_count = a->server_assignment_count - b->server_assignment_count;
	out->server_closed_count = a->server_closed_count - b->server_closed_count;
	out->bytes_received = a->bytes_received - b->bytes_received;
	out->bytes_sent = a->bytes_sent - b->bytes_sent;
	out->xact_time = a->xact_time - b->xact_time;
	out->query_time = a->query_time - b->query_time;
	out->wait_time = a->wait_time - b->wait_time;
	out->server_lifetime = a->server_lifetime - b->server_lifetime;
	out->client_connect_count = a->client_connect_count - b->client_connect_count;
	out->client_parse_count = a->client_parse_count - b->client_parse_count;
	out->server_parse_count = a->server_parse_count - b->server_parse_count;
	out->bind_count = a->bind_count - b->bind_count;
}

void stats_add(struct stats_counters *a, const struct stats_counters *b)
{
	a->xact_count += b->xact_count;
	a->query_count += b->query_count;
	a->server_assignment_count += b->server_assignment_count;
	a->server_closed_count += b->server_closed_count;
	a->bytes_received += b->bytes_received;
	a->bytes_sent += b->bytes_sent;
	a->xact_time += b->xact_time;
	a->query_time += b->query_time;
	a->wait_time += b->wait_time;
	a->server_lifetime += b->server_lifetime;
	a->client_connect_count += b->client_connect_count;
	a->client_parse_count += b->client_parse_count;
	a->server_parse_count += b->server_parse_count;
	a->bind_count += b->bind_count;
}

void stats_roll_period(struct pool_stats *st)
{
	counters_sub(&st->period, &st->total, &st->last);
	st->last = st->total;
	st->wait_last = st->wait_cur;
	memset(&st->wait_cur, 0, sizeof(st->wait_cur));
}

usec_t stats_wait_percentile(const struct wait_hist *h, double q)
{
	if (h->count == 0)
		return 0;
	uint64_t rank = (uint64_t)ceil(q * (double)h->count);
	uint64_t seen = 0;
	for (int k = 0; k < STATS_WAIT_BUCKETS; k++) {
		seen += h->buckets[k];
		if (seen >= rank && seen > 0) {
			usec_t bound = k == 0 ? 1 : (usec_t)ceil(pow(2.0, k / 4.0));
			return bound < h->max ? bound : h->max;
		}
	}
	return h->max;
}

void stats_recent_waits(const struct pool_stats *st, struct wait_hist *out)
{
	*out = st->wait_last;
	const struct wait_hist *cur = &st->wait_cur;
	for (int k = 0; k < STATS_WAIT_BUCKETS; k++)
		out->buckets[k] += cur->buckets[k];
	out->count += cur->count;
	if (cur->max > out->max)
		out->max = cur->max;
}
