/*
 * stats: counters per pool and their averages per stats_period, and the
 * client wait-time distribution (a log-scale histogram per period, for
 * p50/p99/max, and cumulative Prometheus buckets since start).
 */
#ifndef SLUICE_STATS_H
#define SLUICE_STATS_H

#include <stdint.h>

#include "sluice/config.h"

/* Quarter-octave buckets from 1 µs: bucket k covers (2^((k-1)/4), 2^(k/4)] µs. */
#define STATS_WAIT_BUCKETS 160
/* Prometheus `le` bounds in seconds for the wait histogram. */
#define STATS_PROM_BUCKETS 12
extern const double stats_prom_bounds[STATS_PROM_BUCKETS];

struct stats_counters {
	uint64_t xact_count;
	uint64_t query_count;
	uint64_t server_assignment_count;
	uint64_t server_closed_count;
	uint64_t bytes_received; /* from clients */
	uint64_t bytes_sent;     /* to clients */
	usec_t xact_time;
	usec_t query_time;
	usec_t wait_time;
	usec_t server_lifetime;
	uint64_t client_connect_count; /* client logins to the pool */
	uint64_t client_parse_count;   /* named Parse messages of clients */
	uint64_t server_parse_count;   /* Parse messages sluice sent for them to servers */
	uint64_t bind_count;           /* Bind messages naming a prepared statement */
};

struct wait_hist {
	uint32_t buckets[STATS_WAIT_BUCKETS];
	uint64_t count;
	usec_t max;
};

struct pool_stats {
	struct stats_counters total;            /* since start */
	struct stats_counters last;             /* total at the last period boundary */
	struct stats_counters period;           /* deltas of the last complete period */
	struct wait_hist wait_cur;              /* the running period */
	struct wait_hist wait_last;             /* the last complete period */
	uint64_t prom_wait[STATS_PROM_BUCKETS]; /* since start: waits in (bound[i-1], bound[i]] */
	uint64_t prom_wait_count;
	double prom_wait_sum; /* seconds */
};

/* The histogram bucket of a wait: the smallest k with 2^(k/4) >= us, capped at
 * STATS_WAIT_BUCKETS - 1 (0 for waits of at most 1 µs). */
int stats_wait_bucket(usec_t us);

/* Record one client wait (0 for an immediate hand-over). */
void stats_record_wait(struct pool_stats *st, usec_t wait);

/* Close the running period: compute `period` deltas and rotate the histogram. */
void stats_roll_period(struct pool_stats *st);

/* Percentile (0 < q <= 1) of a histogram, as the bucket's upper bound in µs; 0 if empty. */
usec_t stats_wait_percentile(const struct wait_hist *h, double q);

/* The waits of the last complete period and of the running one, in one histogram. */
void stats_recent_waits(const struct pool_stats *st, struct wait_hist *out);

/* Add the counters of b into a. */
void stats_add(struct stats_counters *a, const struct stats_counters *b);

#endif
