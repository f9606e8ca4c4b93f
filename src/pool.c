/*
 * pool: one pool per (database, user). Hands servers to clients in FIFO
 * order, opens servers within the limits (pool_size, reserve_pool after
 * reserve_pool_timeout, max_db_connections, max_user_connections,
 * server_login_retry), and runs the per-pool timeouts from the janitor.
 */
#include "sluice/pool.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/client.h"
#include "sluice/log.h"
#include "sluice/runtime.h"
#include "sluice/server.h"
#include "sluice/serverlogin.h"
#include "sluice/util.h"

static int pick(int a, int b, int c)
{
	return a >= 0 ? a : b >= 0 ? b : c;
}

const char *const pool_startup_names[POOL_STARTUP_PARAMS] = { "client_encoding", "DateStyle",
							      "TimeZone", "application_name" };

/* Forget what the pool learnt from its first server's log-in. */
static void forget_welcome(struct pool *p)
{
	param_kv_free(&p->welcome, &p->n_welcome);
	pktbuf_free(&p->welcome_fixed);
}

/* The [databases] entry's startup parameters changed into db's: take them; the
 * pool's servers are replaced, and new clients wait for the first new one to
 * learn the parameters they are welcomed with. */
static bool apply_startup_params(struct pool *p, const struct config_db *db)
{
	const char *want[POOL_STARTUP_PARAMS] = { db->client_encoding, db->datestyle, db->timezone,
						  db->application_name };
	bool changed = false;
	for (int i = 0; i < POOL_STARTUP_PARAMS; i++) {
		if (str_eq(p->startup[i], want[i]))
			continue;
		str_replace(&p->startup[i], want[i]);
		changed = true;
	}
	if (changed && p->have_params) {
		forget_welcome(p);
		p->have_params = false;
	}
	return changed;
}

/* After a change of target, idle servers are of the old one: closed now (busy ones
 * close when released), so that none is handed out and new ones can be opened. */
static void close_idle_stale(struct pool *p)
{
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &p->idle_servers)
		server_close(list_entry(it, struct server, node), "database changed on reload");
}

/* query_insight is off: no client of p keeps statements to be charged. */
static void forget_insight(struct pool *p)
{
	struct list *lists[] = { &p->wait_login_clients, &p->idle_clients, &p->waiting_clients,
				 &p->active_clients };
	struct list *it, *tmp;
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		list_for_each_safe (it, tmp, lists[i])
			client_forget_insight(list_entry(it, struct client, node));
}

void pool_apply_config(struct pool *p, const struct config *cfg)
{
	if (!cfg->query_insight)
		forget_insight(p);
	const struct config_db *db = config_find_db(cfg, p->db_name);
	const struct config_user *u = config_find_user(cfg, p->user);
	p->db_removed = db == NULL;
	if (db == NULL)
		return;
	const char *dbname = db->dbname ? db->dbname : p->db_name;
	int port = db->port > 0 ? db->port : 5432;
	bool target_changed = !str_eq(p->host, db->host) || p->port != port ||
			      !str_eq(p->dbname, dbname) || !str_eq(p->password, db->password) ||
			      !str_eq(p->connect_query, db->connect_query);
	target_changed |= apply_startup_params(p, db);
	if (target_changed) {
		str_replace(&p->host, db->host);
		str_replace(&p->dbname, dbname);
		str_replace(&p->password, db->password);
		str_replace(&p->connect_query, db->connect_query);
		p->port = port;
		p->generation++;
		close_idle_stale(p);
	}
	p->mode = (enum pool_mode)pick(u ? u->pool_mode : -1, db->pool_mode, cfg->pool_mode);
	p->pool_size = pick(u ? u->pool_size : -1, db->pool_size, cfg->default_pool_size);
	p->min_pool_size = pick(db->min_pool_size, cfg->min_pool_size, 0);
	p->reserve_pool = pick(db->reserve_pool, cfg->reserve_pool_size, 0);
	p->max_db_connections = pick(db->max_db_connections, cfg->max_db_connections, 0);
	p->max_user_connections =
		pick(u ? u->max_user_connections : -1, cfg->max_user_connections, 0);
}

struct pool *pool_get(struct runtime *rt, const char *db_name, const char *user)
{
	struct pool *p;
	for_each_pool (p, rt) {
		if (strcmp(p->db_name, db_name) == 0 && strcmp(p->user, user) == 0)
			return p;
	}
	p = xcalloc(1, sizeof(*p));
	p->rt = rt;
	p->db_name = xstrdup(db_name);
	p->user = xstrdup(user);
	p->generation = 1;
	p->period_start = util_now();
	list_init(&p->idle_servers);
	list_init(&p->active_servers);
	list_init(&p->other_servers);
	list_init(&p->wait_login_clients);
	list_init(&p->idle_clients);
	list_init(&p->waiting_clients);
	list_init(&p->active_clients);
	pool_apply_config(p, rt->cfg);
	list_add_tail(&rt->pools, &p->node);
	log_event(LOG_DEBUG, "pool_new", "new pool %s/%s", p->db_name, p->user);
	return p;
}

void pool_set_lookup_secret(struct pool *p, const char *secret)
{
	if (str_eq(p->lookup_secret, secret))
		return;
	str_wipe_free(p->lookup_secret);
	p->lookup_secret = xstrdup_null(secret);
}

void pool_free(struct pool *p)
{
	list_del(&p->node);
	forget_welcome(p);
	for (int i = 0; i < POOL_STARTUP_PARAMS; i++)
		free(p->startup[i]);
	param_set_free(&p->defaults);
	explicit_bzero(&p->scram_keys, sizeof(p->scram_keys));
	explicit_bzero(p->scram_client_key, sizeof(p->scram_client_key));
	pool_set_lookup_secret(p, NULL);
	free(p->db_name);
	free(p->user);
	free(p->host);
	free(p->dbname);
	free(p->password);
	free(p->connect_query);
	free(p);
}

static int count_servers(struct runtime *rt, const char *db_name, const char *user)
{
	int n = 0;
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &rt->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		if ((db_name && strcmp(p->db_name, db_name) == 0) ||
		    (user && strcmp(p->user, user) == 0))
			n += p->n_servers;
	}
	return n;
}

int pool_db_server_count(struct runtime *rt, const char *db_name)
{
	return count_servers(rt, db_name, NULL);
}

int pool_user_server_count(struct runtime *rt, const char *user)
{
	return count_servers(rt, NULL, user);
}

/* Close one idle server of another pool of the same database or user to make room. */
static bool evict_idle(struct pool *p, bool same_db)
{
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &p->rt->pools) {
		struct pool *o = list_entry(it, struct pool, node);
		if (o == p || list_empty(&o->idle_servers))
			continue;
		if (same_db ? strcmp(o->db_name, p->db_name) != 0 : strcmp(o->user, p->user) != 0)
			continue;
		struct server *s = list_entry(o->idle_servers.prev, struct server, node);
		server_close(s, "evicted to make room for another pool");
		return true;
	}
	return false;
}

/* Clients that need a server opened for them (O(1): counted by client_set_state). */
static int pool_n_waiting(const struct pool *p)
{
	int n = p->cl_count[CL_WAITING];
	if (!p->have_params && p->cl_count[CL_WAIT_LOGIN] > 0)
		n++;
	return n;
}

/* Within limits to open one more server now? */
static bool may_open(struct pool *p, usec_t now)
{
	const struct config *cfg = p->rt->cfg;
	int limit = p->pool_size;
	struct list *first = list_first(&p->waiting_clients);
	if (first && p->reserve_pool > 0) {
		struct client *c = list_entry(first, struct client, node);
		if (now - c->state_since >= cfg->reserve_pool_timeout)
			limit += p->reserve_pool;
	}
	if (p->n_servers >= limit)
		return false;
	if (p->max_db_connections > 0 &&
	    pool_db_server_count(p->rt, p->db_name) >= p->max_db_connections) {
		evict_idle(p, true);
		return false;
	}
	if (p->max_user_connections > 0 &&
	    pool_user_server_count(p->rt, p->user) >= p->max_user_connections) {
		evict_idle(p, false);
		return false;
	}
	if (p->last_connect_failure && now - p->last_connect_failure < cfg->server_login_retry)
		return false;
	return true;
}

void pool_maintain(struct pool *p)
{
	struct runtime *rt = p->rt;
	if (rt->phase == RUN_STOPPING || p->db_removed || pool_paused(p))
		return;
	usec_t now = util_now();
	int waiting = pool_n_waiting(p);
	int min = rt->phase <= RUN_LAME_DUCK ? p->min_pool_size : 0;
	while ((p->n_opening < waiting || p->n_servers < min) && may_open(p, now)) {
		if (server_connect(p) == NULL)
			break;
	}
}

/*
 * The one place a server passes to a client: the client's wait is counted,
 * the server is linked (its relay starts a fresh exchange) and, once its
 * parameters are in place, the client's requests flow. With several event
 * loops this is where a server crosses from one loop to another, as a
 * message to the client's loop instead of a call.
 */
static void hand_over(struct pool *p, struct server *s, struct client *c, usec_t waited)
{
	stats_record_wait(&p->stats, waited);
	c->waited = waited;
	server_link(s, c);
}

bool pool_acquire(struct pool *p, struct client *c)
{
	struct list *first = list_first(&p->idle_servers);
	if (first != NULL && !pool_paused(p)) {
		hand_over(p, list_entry(first, struct server, node), c, 0);
		return true;
	}
	client_set_state(c, CL_WAITING);
	pool_maintain(p);
	return false;
}

static bool must_close(struct pool *p, struct server *s, usec_t now)
{
	const struct config *cfg = p->rt->cfg;
	if (s->close_on_release || s->generation != p->generation || p->db_removed)
		return true;
	if (cfg->server_lifetime > 0 && now - s->connect_time >= cfg->server_lifetime &&
	    list_empty(&p->waiting_clients))
		return true;
	if (pool_paused(p))
		return true;
	return p->rt->phase >= RUN_DRAINING && list_empty(&p->waiting_clients);
}

void pool_server_ready(struct pool *p, struct server *s)
{
	usec_t now = util_now();
	if (must_close(p, s, now)) {
		server_set_state(s, SV_IDLE);
		server_close(s, s->generation != p->generation ? "database changed on reload"
				: pool_paused(p)               ? "pool paused"
							       : "server_lifetime / shutdown");
		return;
	}
	struct list *first = list_first(&p->waiting_clients);
	if (first != NULL) {
		struct client *c = list_entry(first, struct client, node);
		hand_over(p, s, c, now - c->state_since);
		if (s->state == SV_ACTIVE)
			client_resume(c);
		return;
	}
	server_set_state(s, SV_IDLE);
}

/* Same IP address (the port is the pool's, the same on both). */
static bool same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
			      &((const struct sockaddr_in *)b)->sin_addr,
			      sizeof(struct in_addr)) == 0;
	if (a->ss_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			      &((const struct sockaddr_in6 *)b)->sin6_addr,
			      sizeof(struct in6_addr)) == 0;
	return true;
}

void pool_reconnect(struct pool *p, const struct sockaddr_storage *keep, const char *reason)
{
	struct list *heads[] = { &p->active_servers, &p->other_servers, &p->idle_servers };
	for (int i = 0; i < 3; i++) {
		struct list *it, *tmp;
		list_for_each_safe (it, tmp, heads[i]) {
			struct server *s = list_entry(it, struct server, node);
			if (keep && (s->addrlen == 0 || same_ip(&s->addr, keep)))
				continue; /* not connected yet, or already at the address to keep */
			if (s->state == SV_IDLE)
				server_close(s, reason);
			else
				s->close_on_release = true;
		}
	}
}

void pool_host_moved(struct runtime *rt, const char *host, const struct sockaddr_storage *addr)
{
	char text[INET6_ADDRSTRLEN] = "?";
	const void *ip = addr->ss_family == AF_INET6
				 ? (const void *)&((const struct sockaddr_in6 *)addr)->sin6_addr
				 : (const void *)&((const struct sockaddr_in *)addr)->sin_addr;
	inet_ntop(addr->ss_family, ip, text, sizeof(text));
	log_event(LOG_INFO, "dns_changed",
		  "host %s now resolves to %s: servers connected to its old address are closed "
		  "when idle",
		  host, text);
	struct pool *p;
	for_each_pool (p, rt) {
		if (str_eq(p->host, host))
			pool_reconnect(p, addr, "the database host moved to another address");
	}
}

/* What every client's welcome shares, built once: AuthenticationOk and the
 * ParameterStatus messages a client cannot change. */
static void prepare_welcome(struct pool *p)
{
	pktbuf_init(&p->welcome_fixed);
	proto_build_auth(&p->welcome_fixed, 0, NULL, 0);
	for (int i = 0; i < PARAM_TRACKED; i++)
		p->welcome_tracked[i] = -1;
	for (int i = 0; i < p->n_welcome; i++) {
		int idx = param_tracked_index(p->welcome[i].key);
		if (idx >= 0)
			p->welcome_tracked[idx] = i;
		else
			proto_build_param_status(&p->welcome_fixed, p->welcome[i].key,
						 p->welcome[i].value);
	}
}

void pool_learn_params(struct pool *p, struct server *s)
{
	if (p->have_params || s->generation != p->generation) { /* known, or from before a change */
		serverlogin_free(s);
		return;
	}
	p->welcome = s->login_params;
	p->n_welcome = s->n_login_params;
	s->login_params = NULL;
	s->n_login_params = 0;
	for (int i = 0; i < PARAM_TRACKED; i++)
		param_set_tracked(&p->defaults, i, s->params.tracked[i]);
	prepare_welcome(p);
	p->have_params = true;
	p->last_connect_failure = 0;
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &p->wait_login_clients)
		client_welcome(list_entry(it, struct client, node));
}

static void fail_clients(struct list *head, const char *sqlstate, const char *message)
{
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, head)
		client_close(list_entry(it, struct client, node), CLOSE_ERROR, sqlstate, message);
}

void pool_login_failed(struct pool *p, const char *sqlstate, const char *message)
{
	p->last_connect_failure = util_now();
	/* others still opening may succeed; only when none can serve, tell the waiters */
	if (p->n_servers > 1)
		return;
	fail_clients(&p->wait_login_clients, sqlstate, message);
	fail_clients(&p->waiting_clients, sqlstate, message);
}

void pool_connect_failed(struct pool *p, const char *reason)
{
	char msg[320];
	snprintf(msg, sizeof(msg), "could not connect to the server: %s", reason);
	pool_login_failed(p, "08006", msg);
}

static void client_timeouts(struct pool *p, usec_t now)
{
	const struct config *cfg = p->rt->cfg;
	struct list *it, *tmp;
	if (cfg->query_wait_timeout > 0) {
		list_for_each_safe (it, tmp, &p->waiting_clients) {
			struct client *c = list_entry(it, struct client, node);
			if (now - c->state_since >= cfg->query_wait_timeout)
				client_close(c, CLOSE_ERROR, "08P01", "query_wait_timeout");
		}
		list_for_each_safe (it, tmp, &p->wait_login_clients) {
			struct client *c = list_entry(it, struct client, node);
			if (now - c->state_since >= cfg->query_wait_timeout)
				client_close(c, CLOSE_ERROR, "08P01", "query_wait_timeout");
		}
	}
	if (cfg->client_idle_timeout > 0) {
		list_for_each_safe (it, tmp, &p->idle_clients) {
			struct client *c = list_entry(it, struct client, node);
			if (now - c->state_since >= cfg->client_idle_timeout)
				client_close(c, CLOSE_ERROR, "08P01", "client_idle_timeout");
		}
	}
	list_for_each_safe (it, tmp, &p->active_clients)
		client_active_timeouts(list_entry(it, struct client, node), now);
}

/* Running one of sluice's own queries (connect_query, check, rollback/reset, parameter sync)? */
static bool runs_internal_query(const struct server *s)
{
	return s->state == SV_SETUP || s->state == SV_TEST || s->state == SV_RESET ||
	       s->state == SV_SYNC;
}

/* A server whose own query hangs (a lock, a stuck backend) is closed, never kept. */
static void internal_timeouts(struct list *head, usec_t now, usec_t limit)
{
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, head) {
		struct server *s = list_entry(it, struct server, node);
		if (runs_internal_query(s) && now - s->state_since >= limit)
			server_close(s, "internal_query_timeout");
	}
}

static void server_timeouts(struct pool *p, usec_t now)
{
	const struct config *cfg = p->rt->cfg;
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &p->other_servers) {
		struct server *s = list_entry(it, struct server, node);
		if (server_logging_in(s->state) && cfg->server_connect_timeout > 0 &&
		    now - s->connect_time >= cfg->server_connect_timeout) {
			server_close(s, "server_connect_timeout");
		}
	}
	internal_timeouts(&p->other_servers, now, cfg->internal_query_timeout);
	internal_timeouts(&p->active_servers, now, cfg->internal_query_timeout);
	int spare = p->n_servers - p->min_pool_size;
	list_for_each_safe (it, tmp, &p->idle_servers) {
		struct server *s = list_entry(it, struct server, node);
		if (cfg->server_lifetime > 0 && now - s->connect_time >= cfg->server_lifetime) {
			server_close(s, "server_lifetime");
		} else if (cfg->server_idle_timeout > 0 && spare > 0 &&
			   now - s->state_since >= cfg->server_idle_timeout) {
			server_close(s, "server_idle_timeout");
			spare--;
		} else if (cfg->server_check_query && cfg->server_check_query[0] &&
			   cfg->server_check_delay > 0 &&
			   now - s->last_check >= cfg->server_check_delay) {
			server_check(s);
		}
	}
}

/* Pool exhaustion shows in the log before clients start timing out. */
static void warn_waiters(struct pool *p, usec_t now)
{
	int limit = p->rt->cfg->warn_waiting_clients;
	if (limit <= 0 || now - p->last_wait_warning < 10 * 1000000)
		return;
	int waiting = pool_n_waiting(p);
	if (waiting <= limit)
		return;
	p->last_wait_warning = now;
	struct list *first = list_first(&p->waiting_clients);
	usec_t oldest = first ? now - list_entry(first, struct client, node)->state_since : 0;
	log_event(LOG_WARNING, "pool_waiting",
		  "pool %s/%s: %d clients waiting for a server (warn_waiting_clients=%d), "
		  "oldest for %.3f s; pool_size=%d, servers=%d",
		  p->db_name, p->user, waiting, limit, (double)oldest / 1e6, p->pool_size,
		  p->n_servers);
}

void pool_janitor(struct pool *p, usec_t now)
{
	warn_waiters(p, now);
	client_timeouts(p, now);
	server_timeouts(p, now);
	pool_maintain(p);
}

/* --- PAUSE / DISABLE per database --- */

struct dbflag {
	struct list node; /* in rt->dbflags */
	char *name;
	bool paused;
	bool disabled;
};

static struct dbflag *dbflag_get(struct runtime *rt, const char *db, bool create)
{
	for (struct list *it = rt->dbflags.next; it != &rt->dbflags; it = it->next) {
		struct dbflag *f = list_entry(it, struct dbflag, node);
		if (strcmp(f->name, db) == 0)
			return f;
	}
	if (!create)
		return NULL;
	struct dbflag *f = xcalloc(1, sizeof(*f));
	f->name = xstrdup(db);
	list_add_tail(&rt->dbflags, &f->node);
	return f;
}

void pool_set_paused(struct runtime *rt, const char *db, bool on)
{
	if (db == NULL) {
		rt->paused_all = on;
		if (!on)
			for (struct list *it = rt->dbflags.next; it != &rt->dbflags; it = it->next)
				list_entry(it, struct dbflag, node)->paused = false;
		return;
	}
	dbflag_get(rt, db, true)->paused = on;
}

void pool_set_disabled(struct runtime *rt, const char *db, bool on)
{
	dbflag_get(rt, db, true)->disabled = on;
}

bool pool_db_paused(struct runtime *rt, const char *db)
{
	if (list_empty(&rt->dbflags))
		return rt->paused_all; /* the usual case, on every hand-over */
	struct dbflag *f = dbflag_get(rt, db, false);
	return rt->paused_all || (f && f->paused);
}

bool pool_db_disabled(struct runtime *rt, const char *db)
{
	struct dbflag *f = dbflag_get(rt, db, false);
	return f && f->disabled;
}

bool pool_paused(const struct pool *p)
{
	return pool_db_paused(p->rt, p->db_name);
}

void pool_free_dbflags(struct runtime *rt)
{
	while (!list_empty(&rt->dbflags)) {
		struct dbflag *f = list_entry(rt->dbflags.next, struct dbflag, node);
		list_del(&f->node);
		free(f->name);
		free(f);
	}
}

/* --- saturation --- */

void pool_note_busy(struct pool *p, usec_t now)
{
	bool sat = p->pool_size > 0 && p->n_servers - p->n_opening >= p->pool_size &&
		   list_empty(&p->idle_servers) && !list_empty(&p->active_servers);
	if (sat == p->saturated)
		return;
	if (sat)
		p->saturated_since = now;
	else
		p->saturated_usec += now - p->saturated_since;
	p->saturated = sat;
}

void pool_roll_saturation(struct pool *p, usec_t now)
{
	usec_t busy = p->saturated_usec + (p->saturated ? now - p->saturated_since : 0);
	usec_t len = now - p->period_start;
	if (len > 0)
		p->saturation = busy >= len ? 1.0 : (double)busy / (double)len;
	p->saturated_usec = 0;
	p->saturated_since = now;
	p->period_start = now;
}
