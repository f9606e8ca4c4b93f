/*
 * insight_show: SHOW QUERIES and SHOW N_PLUS_ONE (see insight_show.h), from
 * insight's public iterators.
 */
#include "sluice/insight_show.h"

#include <inttypes.h>
#include <stdio.h>

#include "sluice/insight.h"
#include "sluice/proto.h"
#include "sluice/resultset.h"

static const struct rs_column queries_cols[] = {
	{ "database", PROTO_OID_TEXT },
	{ "user", PROTO_OID_TEXT },
	{ "application_name", PROTO_OID_TEXT },
	{ "queryid", PROTO_OID_TEXT },
	{ "calls", PROTO_OID_INT8 },
	{ "rows", PROTO_OID_INT8 },
	{ "errors", PROTO_OID_INT8 },
	{ "error_classes", PROTO_OID_TEXT },
	{ "total_us", PROTO_OID_INT8 },
	{ "mean_us", PROTO_OID_INT8 },
	{ "max_us", PROTO_OID_INT8 },
	{ "p50_us", PROTO_OID_INT8 },
	{ "p99_us", PROTO_OID_INT8 },
	{ "wait_us", PROTO_OID_INT8 },
	{ "query", PROTO_OID_TEXT },
	{ NULL, 0 },
};

static void query_row(const struct insight_row *q, void *arg)
{
	struct rs *rs = arg;
	char id[20];
	snprintf(id, sizeof(id), "%016" PRIx64, q->queryid);
	rs_str(rs, q->db);
	rs_str(rs, q->user);
	rs_str(rs, q->app);
	rs_str(rs, id);
	rs_int(rs, (int64_t)q->calls);
	rs_int(rs, (int64_t)q->rows);
	rs_int(rs, (int64_t)q->errors);
	rs_str(rs, q->error_classes);
	rs_int(rs, q->total);
	rs_int(rs, q->mean);
	rs_int(rs, q->max);
	rs_int(rs, q->p50);
	rs_int(rs, q->p99);
	rs_int(rs, q->wait);
	rs_text(rs, q->text);
	rs_row(rs);
}

void insight_show(struct insight *in, const char *db, struct pktbuf *out)
{
	struct rs rs;
	rs_begin(&rs, out, queries_cols);
	insight_foreach_top(in, db, -1, query_row, &rs);
	rs_end(&rs);
}

static const struct rs_column loops_cols[] = {
	{ "database", PROTO_OID_TEXT },
	{ "user", PROTO_OID_TEXT },
	{ "application_name", PROTO_OID_TEXT },
	{ "queryid", PROTO_OID_TEXT },
	{ "query", PROTO_OID_TEXT },
	{ "parent_queryid", PROTO_OID_TEXT },
	{ "parent_query", PROTO_OID_TEXT },
	{ "times_seen", PROTO_OID_INT8 },
	{ "largest_loop", PROTO_OID_INT8 },
	{ "last_seen", PROTO_OID_TIMESTAMPTZ },
	{ NULL, 0 },
};

static void loop_row(const struct insight_loop *p, void *arg)
{
	struct rs *rs = arg;
	char id[20], parent[20];
	snprintf(id, sizeof(id), "%016" PRIx64, p->queryid);
	snprintf(parent, sizeof(parent), "%016" PRIx64, p->parent_queryid);
	rs_str(rs, p->db);
	rs_str(rs, p->user);
	rs_str(rs, p->app);
	rs_str(rs, id);
	rs_text(rs, p->text);
	rs_str(rs, parent);
	rs_text(rs, p->parent_text);
	rs_int(rs, (int64_t)p->times);
	rs_int(rs, p->largest);
	rs_time(rs, p->last_seen);
	rs_row(rs);
}

void insight_show_loops(struct insight *in, struct pktbuf *out)
{
	struct rs rs;
	rs_begin(&rs, out, loops_cols);
	insight_foreach_loop(in, loop_row, &rs);
	rs_end(&rs);
}
