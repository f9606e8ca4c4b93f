/*
 * metrics: the Prometheus text exposition (format 0.0.4). Families are
 * written one after another, each with HELP and TYPE, labels escaped.
 */
#include "sluice/metrics.h"

#include <inttypes.h>

#include <stdio.h>
#include <string.h>

#include "sluice/client.h"
#include "sluice/insight.h"
#include "sluice/pool.h"
#include "sluice/runtime.h"
#include "sluice/server.h"
#include "sluice/stats.h"
#include "sluice/util.h"

#define put pkt_printf

/* A label value with \, " and newline escaped. */
static void escape(char *dst, size_t cap, const char *src)
{
	size_t n = 0;
	for (; *src && n + 3 < cap; src++) {
		if (*src == '\\' || *src == '"') {
			dst[n++] = '\\';
			dst[n++] = *src;
		} else if (*src == '\n') {
			dst[n++] = '\\';
			dst[n++] = 'n';
		} else {
			dst[n++] = *src;
		}
	}
	dst[n] = '\0';
}

static void family(struct pktbuf *out, const char *name, const char *type, const char *help)
{
	put(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void labels(const struct pool *p, char *buf, size_t cap)
{
	char db[256], user[256];
	escape(db, sizeof(db), p->db_name);
	escape(user, sizeof(user), p->user);
	snprintf(buf, cap, "database=\"%s\",user=\"%s\"", db, user);
}

static void pool_gauges(struct runtime *rt, struct pktbuf *out)
{
	struct pool *p;
	char l[600];
	family(out, "sluice_pool_clients", "gauge", "Client connections of a pool by state.");
	for_each_pool (p, rt) {
		labels(p, l, sizeof(l));
		put(out, "sluice_pool_clients{%s,state=\"active\"} %d\n", l,
		    list_length(&p->active_clients));
		put(out, "sluice_pool_clients{%s,state=\"idle\"} %d\n", l,
		    list_length(&p->idle_clients));
		put(out, "sluice_pool_clients{%s,state=\"waiting\"} %d\n", l,
		    list_length(&p->waiting_clients) + list_length(&p->wait_login_clients));
	}
	family(out, "sluice_pool_servers", "gauge", "Server connections of a pool by state.");
	for_each_pool (p, rt) {
		labels(p, l, sizeof(l));
		put(out, "sluice_pool_servers{%s,state=\"active\"} %d\n", l,
		    list_length(&p->active_servers));
		put(out, "sluice_pool_servers{%s,state=\"idle\"} %d\n", l,
		    list_length(&p->idle_servers));
		put(out, "sluice_pool_servers{%s,state=\"login\"} %d\n", l, p->n_opening);
		put(out, "sluice_pool_servers{%s,state=\"other\"} %d\n", l,
		    list_length(&p->other_servers) - p->n_opening);
	}
	family(out, "sluice_pool_size", "gauge",
	       "Configured maximum server connections of a pool.");
	for_each_pool (p, rt) {
		labels(p, l, sizeof(l));
		put(out, "sluice_pool_size{%s} %d\n", l, p->pool_size);
	}
	family(out, "sluice_pool_saturation", "gauge",
	       "Share of the last stats_period in which every server of the pool was busy and "
	       "no other could be opened.");
	for_each_pool (p, rt) {
		labels(p, l, sizeof(l));
		put(out, "sluice_pool_saturation{%s} %.3f\n", l, p->saturation);
	}
	family(out, "sluice_pool_maxwait_seconds", "gauge",
	       "How long the oldest waiting client of a pool has waited.");
	usec_t now = util_now();
	for_each_pool (p, rt) {
		struct list *first = list_first(&p->waiting_clients);
		usec_t w = first ? now - list_entry(first, struct client, node)->state_since : 0;
		labels(p, l, sizeof(l));
		put(out, "sluice_pool_maxwait_seconds{%s} %.6f\n", l, (double)w / 1e6);
	}
}

struct counter_def {
	const char *name;
	const char *help;
	size_t offset; /* into struct stats_counters */
	bool usec;     /* exported in seconds */
};

static const struct counter_def counters[] = {
	{ "sluice_transactions_total", "Transactions pooled.",
	  offsetof(struct stats_counters, xact_count), false },
	{ "sluice_queries_total", "Queries pooled.", offsetof(struct stats_counters, query_count),
	  false },
	{ "sluice_server_assignments_total", "Times a server was assigned to a client.",
	  offsetof(struct stats_counters, server_assignment_count), false },
	{ "sluice_server_closed_total", "Server connections closed.",
	  offsetof(struct stats_counters, server_closed_count), false },
	{ "sluice_received_bytes_total", "Bytes received from clients.",
	  offsetof(struct stats_counters, bytes_received), false },
	{ "sluice_sent_bytes_total", "Bytes sent to clients.",
	  offsetof(struct stats_counters, bytes_sent), false },
	{ "sluice_transaction_seconds_total", "Time spent in transactions.",
	  offsetof(struct stats_counters, xact_time), true },
	{ "sluice_query_seconds_total", "Time spent running queries.",
	  offsetof(struct stats_counters, query_time), true },
	{ "sluice_wait_seconds_total", "Time clients spent waiting for a server.",
	  offsetof(struct stats_counters, wait_time), true },
	{ "sluice_client_parse_total", "Named prepared statements created by clients.",
	  offsetof(struct stats_counters, client_parse_count), false },
	{ "sluice_server_parse_total", "Named prepared statements sluice prepared on servers.",
	  offsetof(struct stats_counters, server_parse_count), false },
	{ "sluice_bind_total", "Executions of named prepared statements (Bind).",
	  offsetof(struct stats_counters, bind_count), false },
};

static void pool_counters(struct runtime *rt, struct pktbuf *out)
{
	struct pool *p;
	char l[600];
	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		const struct counter_def *d = &counters[i];
		family(out, d->name, "counter", d->help);
		for_each_pool (p, rt) {
			labels(p, l, sizeof(l));
			const char *base = (const char *)&p->stats.total;
			if (d->usec) {
				usec_t v;
				memcpy(&v, base + d->offset, sizeof(v));
				put(out, "%s{%s} %.6f\n", d->name, l, (double)v / 1e6);
			} else {
				uint64_t v;
				memcpy(&v, base + d->offset, sizeof(v));
				put(out, "%s{%s} %llu\n", d->name, l, (unsigned long long)v);
			}
		}
	}
}

static void wait_histogram(struct runtime *rt, struct pktbuf *out)
{
	struct pool *p;
	char l[600];
	family(out, "sluice_client_wait_seconds", "histogram",
	       "Time from a client's request to getting a server.");
	for_each_pool (p, rt) {
		labels(p, l, sizeof(l));
		const struct pool_stats *st = &p->stats;
		uint64_t cumulative = 0;
		for (int i = 0; i < STATS_PROM_BUCKETS; i++) {
			cumulative += st->prom_wait[i];
			put(out, "sluice_client_wait_seconds_bucket{%s,le=\"%g\"} %llu\n", l,
			    stats_prom_bounds[i], (unsigned long long)cumulative);
		}
		put(out, "sluice_client_wait_seconds_bucket{%s,le=\"+Inf\"} %llu\n", l,
		    (unsigned long long)st->prom_wait_count);
		put(out, "sluice_client_wait_seconds_sum{%s} %.6f\n", l, st->prom_wait_sum);
		put(out, "sluice_client_wait_seconds_count{%s} %llu\n", l,
		    (unsigned long long)st->prom_wait_count);
	}
}

static void process_gauges(struct runtime *rt, struct pktbuf *out)
{
	family(out, "sluice_build_info", "gauge", "Build information; the value is always 1.");
	put(out, "sluice_build_info{version=\"%s\"} 1\n", SLUICE_VERSION);
	family(out, "sluice_up", "gauge", "1 while the process serves.");
	put(out, "sluice_up 1\n");
	family(out, "sluice_ready", "gauge", "1 when /readyz would answer 200.");
	put(out, "sluice_ready %d\n", metrics_ready(rt, NULL) ? 1 : 0);
	family(out, "sluice_client_connections", "gauge",
	       "All client connections, console included.");
	put(out, "sluice_client_connections %d\n", rt->n_clients);
	family(out, "sluice_max_client_connections", "gauge", "The max_client_conn setting.");
	put(out, "sluice_max_client_connections %d\n", rt->cfg->max_client_conn);
	family(out, "sluice_server_connections", "gauge", "All server connections.");
	put(out, "sluice_server_connections %d\n", rt->n_servers);
	family(out, "sluice_uptime_seconds", "gauge", "Seconds since the process started.");
	put(out, "sluice_uptime_seconds %.3f\n", (double)(util_now() - rt->start_time) / 1e6);
}

static int tls_clients_of(const struct list *head)
{
	int n = 0;
	for (const struct list *it = head->next; it != head; it = it->next)
		n += conn_is_tls(&list_entry(it, struct client, node)->conn);
	return n;
}

static int tls_servers_of(const struct list *head)
{
	int n = 0;
	for (const struct list *it = head->next; it != head; it = it->next)
		n += conn_is_tls(&list_entry(it, struct server, node)->conn);
	return n;
}

/* TLS sessions now open, and handshakes done and failed since start, per side. */
static void tls_metrics(struct runtime *rt, struct pktbuf *out)
{
	int clients = tls_clients_of(&rt->login_clients) + tls_clients_of(&rt->admin_clients);
	int servers = 0;
	struct pool *p;
	for_each_pool (p, rt) {
		clients += tls_clients_of(&p->active_clients) + tls_clients_of(&p->idle_clients) +
			   tls_clients_of(&p->waiting_clients) +
			   tls_clients_of(&p->wait_login_clients);
		servers += tls_servers_of(&p->active_servers) + tls_servers_of(&p->idle_servers) +
			   tls_servers_of(&p->other_servers);
	}
	const struct tls_counts *t = &rt->tls;
	family(out, "sluice_tls_connections", "gauge", "Connections running over TLS.");
	put(out, "sluice_tls_connections{side=\"client\"} %d\n", clients);
	put(out, "sluice_tls_connections{side=\"server\"} %d\n", servers);
	family(out, "sluice_tls_handshakes_total", "counter", "TLS handshakes completed.");
	put(out, "sluice_tls_handshakes_total{side=\"client\"} %llu\n",
	    (unsigned long long)t->client_handshakes);
	put(out, "sluice_tls_handshakes_total{side=\"server\"} %llu\n",
	    (unsigned long long)t->server_handshakes);
	family(out, "sluice_tls_handshake_failures_total", "counter",
	       "TLS handshakes that failed.");
	put(out, "sluice_tls_handshake_failures_total{side=\"client\"} %llu\n",
	    (unsigned long long)t->client_failures);
	put(out, "sluice_tls_handshake_failures_total{side=\"server\"} %llu\n",
	    (unsigned long long)t->server_failures);
}

/* --- query insight: the top statements and the N+1 loops, bounded label sets --- */

struct metric_rows {
	struct pktbuf *out;
	const char *which;
};

static void query_labels(char *buf, size_t cap, uint64_t id, const char *db, const char *user)
{
	char d[256], u[256];
	escape(d, sizeof(d), db);
	escape(u, sizeof(u), user);
	snprintf(buf, cap, "queryid=\"%016" PRIx64 "\",database=\"%s\",user=\"%s\"", id, d, u);
}

static void query_sample(const struct insight_row *r, void *arg)
{
	struct metric_rows *m = arg;
	char l[600];
	query_labels(l, sizeof(l), r->queryid, r->db, r->user);
	if (strcmp(m->which, "calls") == 0)
		put(m->out, "sluice_query_calls_total{%s} %" PRIu64 "\n", l, r->calls);
	else if (strcmp(m->which, "errors") == 0)
		put(m->out, "sluice_query_errors_total{%s} %" PRIu64 "\n", l, r->errors);
	else if (strcmp(m->which, "time") == 0)
		put(m->out, "sluice_query_exec_seconds_total{%s} %.6f\n", l,
		    (double)r->total / 1e6);
	else
		put(m->out, "sluice_query_wait_seconds_total{%s} %.6f\n", l, (double)r->wait / 1e6);
}

static void loop_sample(const struct insight_loop *lp, void *arg)
{
	struct metric_rows *m = arg;
	char l[600];
	query_labels(l, sizeof(l), lp->queryid, lp->db, lp->user);
	put(m->out, "sluice_n_plus_one_total{%s,parent_queryid=\"%016" PRIx64 "\"} %" PRIu64 "\n",
	    l, lp->parent_queryid, lp->times);
}

static void insight_families(struct runtime *rt, struct pktbuf *out)
{
	static const struct {
		const char *which, *name, *help;
	} fams[] = {
		{ "calls", "sluice_query_calls_total", "Executions of a top statement." },
		{ "errors", "sluice_query_errors_total",
		  "Executions of a top statement that failed." },
		{ "time", "sluice_query_exec_seconds_total", "Execution time of a top statement." },
		{ "wait", "sluice_query_wait_seconds_total",
		  "Time a top statement's executions waited for a server." },
	};
	int top = rt->cfg->query_insight ? rt->cfg->query_metrics_top : 0;
	for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		struct metric_rows m = { out, fams[i].which };
		family(out, fams[i].name, "counter", fams[i].help);
		insight_foreach_top(rt->insight, NULL, top, query_sample, &m);
	}
	family(out, "sluice_n_plus_one_total", "counter",
	       "N+1 loops seen: a statement run again and again after another one.");
	struct metric_rows m = { out, "loops" };
	insight_foreach_loop(rt->insight, loop_sample, &m);
	family(out, "sluice_query_stats_entries", "gauge", "Statements in SHOW QUERIES.");
	put(out, "sluice_query_stats_entries %u\n", insight_count(rt->insight));
	family(out, "sluice_query_stats_evictions_total", "counter",
	       "Statements evicted from SHOW QUERIES (query_stats_max).");
	put(out, "sluice_query_stats_evictions_total %" PRIu64 "\n",
	    insight_evictions(rt->insight));
}

void metrics_render(struct runtime *rt, struct pktbuf *out)
{
	process_gauges(rt, out);
	tls_metrics(rt, out);
	pool_gauges(rt, out);
	pool_counters(rt, out);
	wait_histogram(rt, out);
	insight_families(rt, out);
}

bool metrics_ready(struct runtime *rt, const char **why)
{
	const char *reason = NULL;
	if (rt->phase != RUN_SERVING)
		reason = "draining: shutting down\n";
	else if (rt->paused_all)
		reason = "paused\n";
	else if (rt->suspended)
		reason = "suspended\n";
	usec_t now = util_now();
	struct pool *p;
	for_each_pool (p, rt) {
		if (reason)
			break;
		if (p->n_servers == 0 && p->last_connect_failure &&
		    now - p->last_connect_failure < rt->cfg->server_login_retry + 1000000)
			reason = "a server connection cannot be made\n";
	}
	if (why)
		*why = reason;
	return reason == NULL;
}
