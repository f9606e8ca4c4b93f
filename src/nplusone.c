/*
 * nplusone: the N+1 loop detector (see nplusone.h). Patterns live in a fixed
 * array, looked through in order: loops are rare, and their count is bounded.
 */
#include "sluice/nplusone.h"

#include <stdlib.h>
#include <string.h>

#include "sluice/client.h"
#include "sluice/log.h"
#include "sluice/util.h"

#define PATTERNS   256      /* patterns remembered */
#define WARN_EVERY 60000000 /* µs between two warnings of one pattern */
#define NONE       (-1)

/* A loop: `child` run again and again, with other parameters, after `parent`. */
struct pattern {
	uint64_t parent, child; /* fingerprints */
	char *db, *user, *app, *parent_text, *child_text;
	uint64_t times;   /* loops seen */
	uint32_t largest; /* executions in the longest loop */
	usec_t last_seen; /* wall clock */
	usec_t last_warn; /* monotonic */
};

struct n1_table {
	struct pattern pat[PATTERNS];
	uint32_t n;
};

void n1_run_init(struct n1_run *r)
{
	*r = (struct n1_run){ .pattern = NONE };
}

enum n1_verdict n1_step(struct n1_run *r, const struct config *cfg, uint64_t fp, uint64_t params,
			bool in_tx, usec_t now)
{
	if (fp == r->fp && r->prev_fp == 0) { /* first: a new scope would leave it as it is */
		r->last = now;
		return N1_NOTHING; /* a run with nothing before it is no loop however long */
	}
	if (!in_tx && r->last && now - r->last > cfg->n_plus_one_window)
		r->prev_fp = r->fp = 0; /* a new scope: nothing came before */
	r->last = now;
	if (fp != r->fp) {
		r->prev_fp = r->fp;
		r->fp = fp;
		r->len = 1;
		r->varied = false;
		r->params = params;
		r->pattern = NONE;
		return N1_NOTHING;
	}
	r->len++;
	r->varied |= params != r->params;
	r->params = params;
	if (r->pattern != NONE)
		return N1_GOES_ON;
	if (r->prev_fp != 0 && r->varied && cfg->n_plus_one_threshold > 0 &&
	    r->len >= (uint32_t)cfg->n_plus_one_threshold)
		return N1_FOUND;
	return N1_NOTHING;
}

struct n1_table *n1_new(void)
{
	return xcalloc(1, sizeof(struct n1_table));
}

void n1_reset(struct n1_table *t)
{
	for (uint32_t i = 0; i < t->n; i++) {
		struct pattern *p = &t->pat[i];
		free(p->db);
		free(p->user);
		free(p->app);
		free(p->parent_text);
		free(p->child_text);
	}
	t->n = 0;
}

void n1_free(struct n1_table *t)
{
	if (t == NULL)
		return;
	n1_reset(t);
	free(t);
}

/* The pattern of st after statement parent; made when new (NONE when the table is full). */
static int32_t pattern_of(struct n1_table *t, uint64_t parent, const struct n1_statement *st,
			  const char *parent_text)
{
	for (uint32_t i = 0; i < t->n; i++) {
		struct pattern *p = &t->pat[i];
		if (p->parent == parent && p->child == st->fp && strcmp(p->db, st->db) == 0 &&
		    strcmp(p->user, st->user) == 0 && strcmp(p->app, st->app) == 0)
			return (int32_t)i;
	}
	if (t->n == PATTERNS)
		return NONE;
	struct pattern *p = &t->pat[t->n];
	*p = (struct pattern){ .parent = parent, .child = st->fp };
	p->db = xstrdup(st->db);
	p->user = xstrdup(st->user);
	p->app = xstrdup(st->app);
	p->child_text = xstrdup(st->text);
	p->parent_text = xstrdup(parent_text);
	return (int32_t)t->n++;
}

void n1_goes_on(struct n1_table *t, const struct n1_run *r)
{
	struct pattern *p = &t->pat[r->pattern];
	if (r->len > p->largest)
		p->largest = r->len;
	p->last_seen = util_wallclock();
}

void n1_found(struct n1_table *t, struct client *c, struct n1_run *r, const struct n1_statement *st,
	      const char *parent_text)
{
	r->pattern = pattern_of(t, r->prev_fp, st, parent_text);
	if (r->pattern == NONE)
		return;
	struct pattern *p = &t->pat[r->pattern];
	p->times++;
	usec_t now = util_now();
	if (p->last_warn == 0 || now - p->last_warn >= WARN_EVERY) {
		p->last_warn = now;
		client_log(c, LOG_WARNING, "n_plus_one",
			   "N+1 loop: \"%s\" run %u times with other parameters after \"%s\" "
			   "(application \"%s\"); one query with = ANY($1) or a join would do",
			   p->child_text, r->len, p->parent_text, p->app);
	}
	n1_goes_on(t, r);
}

void n1_foreach(const struct n1_table *t, void (*fn)(const struct insight_loop *l, void *arg),
		void *arg)
{
	for (uint32_t i = 0; i < t->n; i++) {
		const struct pattern *p = &t->pat[i];
		struct insight_loop l = {
			.db = p->db,
			.user = p->user,
			.app = p->app,
			.text = p->child_text,
			.parent_text = p->parent_text,
			.queryid = p->child,
			.parent_queryid = p->parent,
			.times = p->times,
			.largest = p->largest,
			.last_seen = p->last_seen,
		};
		fn(&l, arg);
	}
}
