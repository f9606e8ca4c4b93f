/*
 * nplusone: the N+1 loop detector. Each client has a run: one statement
 * executed again and again, and the statement before it. A run of at least
 * n_plus_one_threshold executions with other parameters each time, right
 * after another statement, within a transaction or (autocommit) with gaps
 * under n_plus_one_window, is a loop. Loops are counted per pattern (the
 * statement before, the repeated one, database, user, application): once
 * per run, with a WARNING at most once a minute per pattern. A query that
 * batches (= ANY($1), IN (...)) runs once: no run, no loop.
 *
 * n1_step is pure (the run only); the table of patterns is touched only
 * when a loop is found or goes on.
 */
#ifndef SLUICE_NPLUSONE_H
#define SLUICE_NPLUSONE_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/config.h"

struct client;
struct n1_table;

/* One client's run. */
struct n1_run {
	uint64_t prev_fp; /* the statement before the run (0: none in this scope) */
	uint64_t fp;      /* the statement run */
	uint64_t params;  /* the hash of its last parameters */
	uint32_t len;     /* executions in the run */
	bool varied;      /* its parameters were not all the same */
	int32_t pattern;  /* the pattern the run was counted as, or -1 */
	usec_t last;      /* monotonic time of its last execution */
};

/* An N+1 pattern, for SHOW N_PLUS_ONE, /metrics and the status page; strings
 * live until the table is reset. */
struct insight_loop {
	const char *db, *user, *app, *text, *parent_text;
	uint64_t queryid, parent_queryid, times;
	uint32_t largest;
	usec_t last_seen; /* wall clock */
};

/* A statement as a pattern names it. */
struct n1_statement {
	uint64_t fp;
	const char *db, *user, *app, *text;
};

enum n1_verdict {
	N1_NOTHING, /* no loop (yet) */
	N1_FOUND,   /* the run just became a loop: n1_found */
	N1_GOES_ON, /* a run counted as a loop goes on: n1_goes_on */
};

void n1_run_init(struct n1_run *r);

/* Statement fp ran with parameters' hash params at `now`, in a transaction
 * or not: the run moves on, and says what the table must hear of it. */
enum n1_verdict n1_step(struct n1_run *r, const struct config *cfg, uint64_t fp, uint64_t params,
			bool in_tx, usec_t now);

/* The pattern table; NULL-safe free; reset forgets every pattern. */
struct n1_table *n1_new(void);
void n1_free(struct n1_table *t);
void n1_reset(struct n1_table *t);

/* r just became a loop of st after the statement r->prev_fp, whose text is
 * parent_text ("" unknown): its pattern counts it (made when new; none when
 * the table is full), and client c's log warns at most once a minute. */
void n1_found(struct n1_table *t, struct client *c, struct n1_run *r, const struct n1_statement *st,
	      const char *parent_text);

/* r, counted as a loop, ran once more: its pattern's largest loop and last sight. */
void n1_goes_on(struct n1_table *t, const struct n1_run *r);

/* fn for each pattern found. */
void n1_foreach(const struct n1_table *t, void (*fn)(const struct insight_loop *l, void *arg),
		void *arg);

#endif
