/*
 * test_nplusone: the N+1 detector's run (n1_step), which is pure: when a run
 * becomes a loop, when it goes on, and what is never one.
 */
#include "sluice/nplusone.h"
#include "unit.h"

#define SEC 1000000

static struct config cfg;

/* Statement fp run n times with parameters p, p+1, ... (or the same p when
 * !vary), 1 ms apart from `*now`: the verdicts counted into seen[]. */
static void run(struct n1_run *r, uint64_t fp, int n, uint64_t p, bool vary, bool in_tx,
		usec_t *now, int seen[3])
{
	for (int i = 0; i < n; i++) {
		*now += 1000;
		enum n1_verdict v = n1_step(r, &cfg, fp, vary ? p + (uint64_t)i : p, in_tx, *now);
		seen[v]++;
		if (v == N1_FOUND)
			r->pattern = 0; /* as n1_found makes it */
	}
}

static void test_loop_after_another_statement(void)
{
	struct n1_run r;
	n1_run_init(&r);
	usec_t now = SEC;
	int seen[3] = { 0 };
	run(&r, 1, 1, 0, false, false, &now, seen);  /* the posts */
	run(&r, 2, 9, 100, true, false, &now, seen); /* users one by one: not yet */
	CHECK(seen[N1_FOUND] == 0);
	run(&r, 2, 1, 200, true, false, &now, seen); /* the tenth */
	CHECK(seen[N1_FOUND] == 1);
	CHECK(r.prev_fp == 1 && r.fp == 2 && r.len == 10);
	run(&r, 2, 5, 300, true, false, &now, seen); /* it goes on, found once */
	CHECK(seen[N1_FOUND] == 1 && seen[N1_GOES_ON] == 5 && r.len == 15);
	run(&r, 3, 1, 0, false, false, &now, seen); /* another statement ends the run */
	CHECK(r.prev_fp == 2 && r.len == 1 && r.pattern == -1);
}

static void test_never_a_loop(void)
{
	struct n1_run r;
	usec_t now = SEC;
	int seen[3] = { 0 };
	/* nothing before it (pgbench -S): a run however long is no loop */
	n1_run_init(&r);
	run(&r, 2, 50, 100, true, false, &now, seen);
	CHECK(seen[N1_FOUND] == 0);
	/* the same parameters each time: a repeated query, not a loop over rows */
	n1_run_init(&r);
	run(&r, 1, 1, 0, false, false, &now, seen);
	run(&r, 2, 50, 7, false, false, &now, seen);
	CHECK(seen[N1_FOUND] == 0);
	/* autocommit, further apart than n_plus_one_window: a new scope, nothing before */
	n1_run_init(&r);
	run(&r, 1, 1, 0, false, false, &now, seen);
	now += 2 * SEC;
	run(&r, 2, 20, 100, true, false, &now, seen);
	CHECK(seen[N1_FOUND] == 0 && r.prev_fp == 0);
	/* detection off */
	cfg.n_plus_one_threshold = 0;
	n1_run_init(&r);
	run(&r, 1, 1, 0, false, false, &now, seen);
	run(&r, 2, 20, 100, true, false, &now, seen);
	CHECK(seen[N1_FOUND] == 0);
	cfg.n_plus_one_threshold = 10;
}

static void test_a_transaction_has_no_window(void)
{
	struct n1_run r;
	n1_run_init(&r);
	usec_t now = SEC;
	int seen[3] = { 0 };
	run(&r, 1, 1, 0, false, true, &now, seen);
	now += 2 * SEC; /* slow, but in one transaction */
	run(&r, 2, 10, 100, true, true, &now, seen);
	CHECK(seen[N1_FOUND] == 1 && r.prev_fp == 1);
}

int main(void)
{
	cfg.n_plus_one_threshold = 10;
	cfg.n_plus_one_window = SEC;
	test_loop_after_another_statement();
	test_never_a_loop();
	test_a_transaction_has_no_window();
	UNIT_DONE();
}
