/*
 * admin_show: SHOW POOLS, STATS, STATS_TOTALS, STATS_AVERAGES, TOTALS,
 * DATABASES, USERS, CONFIG, LISTS, MEM, STATE and VERSION, and the dispatch
 * of every SHOW item (the per-connection ones live in admin_conns.c). Every
 * handler reads live objects and writes one result set.
 */
#include "sluice/admin_show.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "sluice/admin_conns.h"
#include "sluice/client.h"
#include "sluice/dns.h"
#include "sluice/pool.h"
#include "sluice/resultset.h"
#include "sluice/runtime.h"
#include "sluice/server.h"
#include "sluice/stats.h"
#include "sluice/util.h"

#define T  PROTO_OID_TEXT
#define I4 PROTO_OID_INT4
#define I8 PROTO_OID_INT8

/* --- POOLS --- */

static const struct rs_column pools_cols[] = {
	{ "database", T },
	{ "user", T },
	{ "cl_active", I4 },
	{ "cl_waiting", I4 },
	{ "cl_active_cancel_req", I4 },
	{ "cl_waiting_cancel_req", I4 },
	{ "sv_active", I4 },
	{ "sv_active_cancel", I4 },
	{ "sv_being_canceled", I4 },
	{ "sv_idle", I4 },
	{ "sv_used", I4 },
	{ "sv_tested", I4 },
	{ "sv_login", I4 },
	{ "maxwait", I4 },
	{ "maxwait_us", I4 },
	{ "pool_mode", T },
	{ "load_balance_hosts", T },
	{ "wait_p50_us", I8 },
	{ "wait_p99_us", I8 },
	{ "wait_max_us", I8 },
	{ "saturation", PROTO_OID_NUMERIC },
	{ NULL, 0 },
};

static int count_servers_in(const struct list *head, enum server_state a, enum server_state b)
{
	int n = 0;
	for (const struct list *it = head->next; it != head; it = it->next) {
		const struct server *s = list_entry(it, struct server, node);
		n += s->state == a || s->state == b;
	}
	return n;
}

static usec_t oldest_wait(const struct pool *p, usec_t now)
{
	usec_t w = 0;
	const struct list *heads[] = { &p->waiting_clients, &p->wait_login_clients };
	for (int i = 0; i < 2; i++) {
		struct list *first = list_first(heads[i]);
		if (first) {
			const struct client *c = list_entry(first, struct client, node);
			if (now - c->state_since > w)
				w = now - c->state_since;
		}
	}
	return w;
}

static void show_pools(struct runtime *rt, struct pktbuf *out)
{
	struct rs rs;
	struct pool *p;
	usec_t now = util_now();
	rs_begin(&rs, out, pools_cols);
	for_each_pool (p, rt) {
		usec_t w = oldest_wait(p, now);
		struct wait_hist h;
		stats_recent_waits(&p->stats, &h);
		rs_str(&rs, p->db_name);
		rs_str(&rs, p->user);
		rs_int(&rs, list_length(&p->active_clients) + list_length(&p->idle_clients));
		rs_int(&rs, list_length(&p->waiting_clients) + list_length(&p->wait_login_clients));
		rs_int(&rs, 0);
		rs_int(&rs, 0);
		rs_int(&rs, list_length(&p->active_servers));
		rs_int(&rs, 0);
		rs_int(&rs, 0);
		rs_int(&rs, list_length(&p->idle_servers));
		rs_int(&rs, 0);
		rs_int(&rs, count_servers_in(&p->other_servers, SV_TEST, SV_RESET));
		rs_int(&rs, p->n_opening);
		rs_int(&rs, w / 1000000);
		rs_int(&rs, w % 1000000);
		rs_str(&rs, config_pool_mode_str(p->mode));
		rs_str(&rs, NULL);
		rs_int(&rs, stats_wait_percentile(&h, 0.5));
		rs_int(&rs, stats_wait_percentile(&h, 0.99));
		rs_int(&rs, h.max);
		char sat[16];
		snprintf(sat, sizeof(sat), "%.3f", p->saturation);
		rs_str(&rs, sat);
		rs_row(&rs);
	}
	rs_end(&rs);
}

/* --- STATS, STATS_TOTALS, STATS_AVERAGES, TOTALS --- */

/* One statistic, totalled since start or averaged over the last stats_period. */
enum stat_id {
	ST_XACT,
	ST_QUERY,
	ST_ASSIGN,
	ST_CLOSED,
	ST_RECV,
	ST_SENT,
	ST_XACT_TIME,
	ST_QUERY_TIME,
	ST_WAIT_TIME,
	ST_LIFETIME,
	ST_CLIENT_PARSE,
	ST_SERVER_PARSE,
	ST_BIND,
	ST_CONNECT,
};

struct stat_col {
	const char *name;
	enum stat_id id;
};

static int64_t stat_total(const struct stats_counters *t, enum stat_id id)
{
	switch (id) {
	case ST_XACT:
		return (int64_t)t->xact_count;
	case ST_QUERY:
		return (int64_t)t->query_count;
	case ST_ASSIGN:
		return (int64_t)t->server_assignment_count;
	case ST_CLOSED:
		return (int64_t)t->server_closed_count;
	case ST_RECV:
		return (int64_t)t->bytes_received;
	case ST_SENT:
		return (int64_t)t->bytes_sent;
	case ST_XACT_TIME:
		return t->xact_time;
	case ST_QUERY_TIME:
		return t->query_time;
	case ST_WAIT_TIME:
		return t->wait_time;
	case ST_LIFETIME:
		return t->server_lifetime;
	case ST_CONNECT:
		return (int64_t)t->client_connect_count;
	case ST_CLIENT_PARSE:
		return (int64_t)t->client_parse_count;
	case ST_SERVER_PARSE:
		return (int64_t)t->server_parse_count;
	case ST_BIND:
		return (int64_t)t->bind_count;
	}
	return 0;
}

static int64_t per(int64_t a, int64_t b)
{
	return b > 0 ? a / b : 0;
}

/* Counts per second of the period; times per transaction, query, hand-over or server. */
static int64_t stat_average(const struct stats_counters *d, enum stat_id id, usec_t period)
{
	int64_t secs = period / 1000000 > 0 ? period / 1000000 : 1;
	switch (id) {
	case ST_XACT_TIME:
		return per(d->xact_time, (int64_t)d->xact_count);
	case ST_QUERY_TIME:
		return per(d->query_time, (int64_t)d->query_count);
	case ST_WAIT_TIME:
		return per(d->wait_time, (int64_t)d->server_assignment_count);
	case ST_LIFETIME:
		return per(d->server_lifetime, (int64_t)d->server_closed_count);
	default:
		return per(stat_total(d, id), secs);
	}
}

/* SHOW STATS: PgBouncer's total_ and avg_ columns, then total_requests. */
static const struct stat_col stats_total_cols[] = {
	{ "total_xact_count", ST_XACT },
	{ "total_query_count", ST_QUERY },
	{ "total_server_assignment_count", ST_ASSIGN },
	{ "total_server_closed_count", ST_CLOSED },
	{ "total_received", ST_RECV },
	{ "total_sent", ST_SENT },
	{ "total_xact_time", ST_XACT_TIME },
	{ "total_query_time", ST_QUERY_TIME },
	{ "total_wait_time", ST_WAIT_TIME },
	{ "total_server_lifetime", ST_LIFETIME },
	{ "total_client_parse_count", ST_CLIENT_PARSE },
	{ "total_server_parse_count", ST_SERVER_PARSE },
	{ "total_bind_count", ST_BIND },
	{ NULL, 0 },
};

static const struct stat_col stats_avg_cols[] = {
	{ "avg_xact_count", ST_XACT },
	{ "avg_query_count", ST_QUERY },
	{ "avg_server_assignment_count", ST_ASSIGN },
	{ "avg_recv", ST_RECV },
	{ "avg_sent", ST_SENT },
	{ "avg_xact_time", ST_XACT_TIME },
	{ "avg_query_time", ST_QUERY_TIME },
	{ "avg_wait_time", ST_WAIT_TIME },
	{ "avg_server_lifetime", ST_LIFETIME },
	{ "avg_client_parse_count", ST_CLIENT_PARSE },
	{ "avg_server_parse_count", ST_SERVER_PARSE },
	{ "avg_bind_count", ST_BIND },
	{ NULL, 0 },
};

/*
 * SHOW STATS_TOTALS and SHOW STATS_AVERAGES carry PgBouncer 1.25's short
 * names, in its order, not SHOW STATS's; in STATS_AVERAGES the parse and bind
 * counts alone keep an avg_ prefix, as PgBouncer sends them.
 */
static const struct stat_col stats_totals_cols[] = {
	{ "server_assignment_count", ST_ASSIGN },
	{ "xact_count", ST_XACT },
	{ "query_count", ST_QUERY },
	{ "bytes_received", ST_RECV },
	{ "bytes_sent", ST_SENT },
	{ "xact_time", ST_XACT_TIME },
	{ "query_time", ST_QUERY_TIME },
	{ "wait_time", ST_WAIT_TIME },
	{ "client_parse_count", ST_CLIENT_PARSE },
	{ "server_parse_count", ST_SERVER_PARSE },
	{ "bind_count", ST_BIND },
	{ "client_connect_count", ST_CONNECT },
	{ NULL, 0 },
};

static const struct stat_col stats_averages_cols[] = {
	{ "server_assignment_count", ST_ASSIGN },
	{ "xact_count", ST_XACT },
	{ "query_count", ST_QUERY },
	{ "bytes_received", ST_RECV },
	{ "bytes_sent", ST_SENT },
	{ "xact_time", ST_XACT_TIME },
	{ "query_time", ST_QUERY_TIME },
	{ "wait_time", ST_WAIT_TIME },
	{ "avg_client_parse_count", ST_CLIENT_PARSE },
	{ "avg_server_parse_count", ST_SERVER_PARSE },
	{ "avg_bind_count", ST_BIND },
	{ "client_connect_count", ST_CONNECT },
	{ NULL, 0 },
};

/* Sum the counters of every pool of database `db` (NULL: all). */
static void sum_stats(struct runtime *rt, const char *db, struct stats_counters *total,
		      struct stats_counters *period)
{
	struct pool *p;
	memset(total, 0, sizeof(*total));
	memset(period, 0, sizeof(*period));
	for_each_pool (p, rt) {
		if (db && strcmp(p->db_name, db) != 0)
			continue;
		stats_add(total, &p->stats.total);
		stats_add(period, &p->stats.period);
	}
}

/* Database names that have pools, each once, in pool order. */
static int stats_databases(struct runtime *rt, const char **names, int cap)
{
	int n = 0;
	struct pool *p;
	for_each_pool (p, rt) {
		bool seen = false;
		for (int i = 0; i < n && !seen; i++)
			seen = strcmp(names[i], p->db_name) == 0;
		if (!seen && n < cap)
			names[n++] = p->db_name;
	}
	return n;
}

/* A column list: "database", then `totals` and `averages` (either may be NULL). */
static void stats_columns(struct rs_column *cols, const struct stat_col *totals,
			  const struct stat_col *averages)
{
	int n = 0;
	cols[n++] = (struct rs_column){ "database", T };
	for (int i = 0; totals && totals[i].name; i++)
		cols[n++] = (struct rs_column){ totals[i].name, I8 };
	for (int i = 0; averages && averages[i].name; i++)
		cols[n++] = (struct rs_column){ averages[i].name, I8 };
	cols[n] = (struct rs_column){ NULL, 0 };
}

/* One row per database: the `totals` columns, then the `averages` ones. */
static void show_stats_of(struct runtime *rt, struct pktbuf *out, const struct stat_col *totals,
			  const struct stat_col *averages, bool total_requests)
{
	struct rs_column cols[RS_MAX_COLS];
	stats_columns(cols, totals, averages);
	if (total_requests) {
		/* PgBouncer's pre-1.8 name of total_query_count, still read by exporters */
		int n = 0;
		while (cols[n].name)
			n++;
		cols[n++] = (struct rs_column){ "total_requests", I8 };
		cols[n] = (struct rs_column){ NULL, 0 };
	}
	struct rs rs;
	rs_begin(&rs, out, cols);
	const char *dbs[256];
	int ndb = stats_databases(rt, dbs, 256);
	for (int d = 0; d < ndb; d++) {
		struct stats_counters total, period;
		sum_stats(rt, dbs[d], &total, &period);
		rs_str(&rs, dbs[d]);
		for (int i = 0; totals && totals[i].name; i++)
			rs_int(&rs, stat_total(&total, totals[i].id));
		for (int i = 0; averages && averages[i].name; i++)
			rs_int(&rs, stat_average(&period, averages[i].id, rt->cfg->stats_period));
		if (total_requests)
			rs_int(&rs, (int64_t)total.query_count);
		rs_row(&rs);
	}
	rs_end(&rs);
}

static void show_stats(struct runtime *rt, struct pktbuf *out)
{
	show_stats_of(rt, out, stats_total_cols, stats_avg_cols, true);
}

static void show_stats_totals(struct runtime *rt, struct pktbuf *out)
{
	show_stats_of(rt, out, stats_totals_cols, NULL, false);
}

static void show_stats_averages(struct runtime *rt, struct pktbuf *out)
{
	show_stats_of(rt, out, NULL, stats_averages_cols, false);
}

static const struct rs_column name_value_cols[] = { { "name", T }, { "value", I8 }, { NULL, 0 } };

static void show_totals(struct runtime *rt, struct pktbuf *out)
{
	struct stats_counters total, period;
	sum_stats(rt, NULL, &total, &period);
	struct rs rs;
	rs_begin(&rs, out, name_value_cols);
	for (int i = 0; stats_total_cols[i].name; i++) {
		rs_str(&rs, stats_total_cols[i].name);
		rs_int(&rs, stat_total(&total, stats_total_cols[i].id));
		rs_row(&rs);
	}
	for (int i = 0; stats_avg_cols[i].name; i++) {
		rs_str(&rs, stats_avg_cols[i].name);
		rs_int(&rs, stat_average(&period, stats_avg_cols[i].id, rt->cfg->stats_period));
		rs_row(&rs);
	}
	rs_end(&rs);
}

/* --- DATABASES, USERS --- */

static const struct rs_column databases_cols[] = {
	{ "name", T },
	{ "host", T },
	{ "port", I4 },
	{ "database", T },
	{ "force_user", T },
	{ "pool_size", I4 },
	{ "min_pool_size", I4 },
	{ "reserve_pool_size", I4 },
	{ "server_lifetime", I4 },
	{ "pool_mode", T },
	{ "load_balance_hosts", T },
	{ "max_connections", I4 },
	{ "current_connections", I4 },
	{ "max_client_connections", I4 },
	{ "current_client_connections", I4 },
	{ "paused", I4 },
	{ "disabled", I4 },
	{ "reserve_pool", I4 }, /* PgBouncer's older name of reserve_pool_size, read by exporters */
	{ NULL, 0 },
};

static int db_clients(struct runtime *rt, const char *db)
{
	int n = 0;
	struct pool *p;
	for_each_pool (p, rt)
		if (strcmp(p->db_name, db) == 0)
			n += p->n_clients;
	return n;
}

static void database_row(struct rs *rs, struct runtime *rt, const char *name,
			 const struct config_db *db)
{
	const struct config *cfg = rt->cfg;
	rs_str(rs, name);
	rs_str(rs, db->host);
	rs_int(rs, db->port);
	rs_str(rs, db->dbname ? db->dbname : name);
	rs_str(rs, db->user);
	rs_int(rs, db->pool_size >= 0 ? db->pool_size : cfg->default_pool_size);
	rs_int(rs, db->min_pool_size >= 0 ? db->min_pool_size : cfg->min_pool_size);
	rs_int(rs, db->reserve_pool >= 0 ? db->reserve_pool : cfg->reserve_pool_size);
	rs_int(rs, cfg->server_lifetime / 1000000);
	rs_str(rs, db->pool_mode != POOL_MODE_UNSET ? config_pool_mode_str(db->pool_mode) : NULL);
	rs_str(rs, NULL);
	rs_int(rs, db->max_db_connections >= 0 ? db->max_db_connections : cfg->max_db_connections);
	rs_int(rs, pool_db_server_count(rt, name));
	rs_int(rs, 0);
	rs_int(rs, db_clients(rt, name));
	rs_int(rs, pool_db_paused(rt, name));
	rs_int(rs, pool_db_disabled(rt, name));
	rs_int(rs, db->reserve_pool >= 0 ? db->reserve_pool : cfg->reserve_pool_size);
	rs_row(rs);
}

static void show_databases(struct runtime *rt, struct pktbuf *out)
{
	struct rs rs;
	rs_begin(&rs, out, databases_cols);
	const struct config *cfg = rt->cfg;
	for (size_t i = 0; i < cfg->n_dbs; i++)
		if (strcmp(cfg->dbs[i].name, "*") != 0)
			database_row(&rs, rt, cfg->dbs[i].name, &cfg->dbs[i]);
	/* databases reached through the "*" fallback, once each */
	const char *names[256];
	int n = stats_databases(rt, names, 256);
	for (int i = 0; i < n; i++) {
		const struct config_db *db = config_find_db(cfg, names[i]);
		if (db && strcmp(db->name, "*") == 0)
			database_row(&rs, rt, names[i], db);
	}
	rs_end(&rs);
}

static const struct rs_column users_cols[] = {
	{ "name", T },
	{ "pool_size", I4 },
	{ "reserve_pool_size", I4 },
	{ "pool_mode", T },
	{ "max_user_connections", I4 },
	{ "current_connections", I4 },
	{ "max_user_client_connections", I4 },
	{ "current_client_connections", I4 },
	{ NULL, 0 },
};

static int user_clients(struct runtime *rt, const char *user)
{
	int n = 0;
	struct pool *p;
	for_each_pool (p, rt)
		if (strcmp(p->user, user) == 0)
			n += p->n_clients;
	return n;
}

static void user_row(struct rs *rs, struct runtime *rt, const char *name)
{
	const struct config_user *u = config_find_user(rt->cfg, name);
	rs_str(rs, name);
	if (u && u->pool_size >= 0)
		rs_int(rs, u->pool_size);
	else
		rs_str(rs, NULL);
	rs_str(rs, NULL);
	rs_str(rs,
	       u && u->pool_mode != POOL_MODE_UNSET ? config_pool_mode_str(u->pool_mode) : NULL);
	rs_int(rs, u && u->max_user_connections >= 0 ? u->max_user_connections
						     : rt->cfg->max_user_connections);
	rs_int(rs, pool_user_server_count(rt, name));
	rs_int(rs, 0);
	rs_int(rs, user_clients(rt, name));
	rs_row(rs);
}

static void show_users(struct runtime *rt, struct pktbuf *out)
{
	struct rs rs;
	rs_begin(&rs, out, users_cols);
	const struct config *cfg = rt->cfg;
	for (size_t i = 0; i < cfg->n_users; i++)
		user_row(&rs, rt, cfg->users[i].name);
	struct pool *p;
	for_each_pool (p, rt) {
		bool seen = config_find_user(cfg, p->user) != NULL;
		for (struct list *it = rt->pools.next; !seen && it != &p->node; it = it->next)
			seen = strcmp(list_entry(it, struct pool, node)->user, p->user) == 0;
		if (!seen)
			user_row(&rs, rt, p->user);
	}
	rs_end(&rs);
}

/* --- CONFIG, LISTS, MEM, STATE, VERSION --- */

/* PgBouncer's four columns, then where each value came from (sluice's own). */
static const struct rs_column config_cols[] = {
	{ "key", T },        { "value", T },  { "default", T },
	{ "changeable", T }, { "source", T }, { NULL, 0 },
};

struct config_rows {
	struct rs rs;
	const struct config *cfg;
};

static void config_row(const char *key, const char *value, const char *def, bool reloadable,
		       void *arg)
{
	struct config_rows *r = arg;
	rs_str(&r->rs, key);
	rs_text(&r->rs, value);
	rs_text(&r->rs, def);
	rs_str(&r->rs, reloadable ? "yes" : "no");
	rs_text(&r->rs, config_key_source(r->cfg, key));
	rs_row(&r->rs);
}

static void show_config(struct runtime *rt, struct pktbuf *out)
{
	struct config_rows r = { .cfg = rt->cfg };
	rs_begin(&r.rs, out, config_cols);
	config_foreach_key(rt->cfg, config_row, &r);
	rs_end(&r.rs);
}

static const struct rs_column lists_cols[] = { { "list", T }, { "items", I4 }, { NULL, 0 } };

static void show_lists(struct runtime *rt, struct pktbuf *out)
{
	int pools = 0, used_servers = 0;
	struct pool *p;
	for_each_pool (p, rt) {
		pools++;
		used_servers += p->n_servers;
	}
	struct dns_counts dns;
	dns_counts(rt->dns, &dns);
	int64_t vals[] = { (int64_t)rt->cfg->n_dbs,
			   (int64_t)rt->cfg->n_users,
			   pools,
			   0,
			   rt->n_clients,
			   list_length(&rt->login_clients),
			   0,
			   used_servers,
			   dns.names,
			   0,
			   dns.queries,
			   dns.pending };
	const char *keys[] = { "databases",    "users",         "pools",        "free_clients",
			       "used_clients", "login_clients", "free_servers", "used_servers",
			       "dns_names",    "dns_zones",     "dns_queries",  "dns_pending" };

	struct rs rs;
	rs_begin(&rs, out, lists_cols);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		rs_str(&rs, keys[i]);
		rs_int(&rs, vals[i]);
		rs_row(&rs);
	}
	rs_end(&rs);
}

static const struct rs_column mem_cols[] = {
	{ "name", T },  { "size", I4 },     { "used", I4 },
	{ "free", I4 }, { "memtotal", I8 }, { NULL, 0 },
};

static void mem_row(struct rs *rs, const char *name, int64_t size, int64_t used, int64_t free_)
{
	rs_str(rs, name);
	rs_int(rs, size);
	rs_int(rs, used);
	rs_int(rs, free_);
	rs_int(rs, size * (used + free_));
	rs_row(rs);
}

static void show_mem(struct runtime *rt, struct pktbuf *out)
{
	int pools = 0;
	struct pool *p;
	for_each_pool (p, rt)
		pools++;
	struct rs rs;
	rs_begin(&rs, out, mem_cols);
	mem_row(&rs, "client", sizeof(struct client), rt->n_clients, 0);
	mem_row(&rs, "server", sizeof(struct server), rt->n_servers, 0);
	mem_row(&rs, "pool", sizeof(struct pool), pools, 0);
	mem_row(&rs, "iobuf", rt->bufs.size, (int64_t)rt->bufs.n_used, (int64_t)rt->bufs.n_free);
	rs_end(&rs);
}

static const struct rs_column state_cols[] = { { "key", T }, { "value", T }, { NULL, 0 } };

static void show_state(struct runtime *rt, struct pktbuf *out)
{
	struct rs rs;
	rs_begin(&rs, out, state_cols);
	const char *rows[][2] = {
		{ "active",
		  rt->phase == RUN_SERVING && !rt->paused_all && !rt->suspended ? "yes" : "no" },
		{ "paused", rt->paused_all ? "yes" : "no" },
		{ "suspended", rt->suspended ? "yes" : "no" },
	};
	for (int i = 0; i < 3; i++) {
		rs_str(&rs, rows[i][0]);
		rs_str(&rs, rows[i][1]);
		rs_row(&rs);
	}
	rs_end(&rs);
}

static const struct rs_column version_cols[] = { { "version", T }, { NULL, 0 } };

static void show_version(struct runtime *rt, struct pktbuf *out)
{
	(void)rt;
	struct rs rs;
	rs_begin(&rs, out, version_cols);
	rs_str(&rs, "sluice " SLUICE_VERSION);
	rs_row(&rs);
	rs_end(&rs);
}

/* --- dispatch --- */

struct show_item {
	const char *name;
	void (*fn)(struct runtime *rt, struct pktbuf *out);
	const struct rs_column *cols; /* NULL when the columns depend on the item */
};

static const struct show_item items[] = {
	{ "pools", show_pools, pools_cols },
	{ "stats", show_stats, NULL },
	{ "stats_totals", show_stats_totals, NULL },
	{ "stats_averages", show_stats_averages, NULL },
	{ "totals", show_totals, name_value_cols },
	{ "clients", admin_show_clients, admin_sockets_cols },
	{ "servers", admin_show_servers, admin_sockets_cols },
	{ "databases", show_databases, databases_cols },
	{ "users", show_users, users_cols },
	{ "config", show_config, config_cols },
	{ "lists", show_lists, lists_cols },
	{ "mem", show_mem, mem_cols },
	{ "state", show_state, state_cols },
	{ "version", show_version, version_cols },
	{ "activity", admin_show_activity, admin_activity_cols },
	{ NULL, NULL, NULL },
};

bool admin_show(struct runtime *rt, const char *what, struct pktbuf *out)
{
	for (int i = 0; items[i].name; i++) {
		if (strcasecmp(items[i].name, what) == 0) {
			items[i].fn(rt, out);
			return true;
		}
	}
	return false;
}

const char *const *admin_show_columns(const char *what)
{
	static const char *names[RS_MAX_COLS + 1];
	for (int i = 0; items[i].name; i++) {
		if (strcasecmp(items[i].name, what) != 0 || items[i].cols == NULL)
			continue;
		int n = 0;
		for (; items[i].cols[n].name; n++)
			names[n] = items[i].cols[n].name;
		names[n] = NULL;
		return names;
	}
	return NULL;
}
