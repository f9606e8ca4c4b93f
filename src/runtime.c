/*
 * runtime: the event loop and everything that is not one connection's
 * business: the reaper that frees closed objects after the callback that
 * closed them, the janitor timer, signals, reload and the drain on SIGTERM.
 */
#include "sluice/runtime.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/admin.h"
#include "sluice/auth.h"
#include "sluice/authquery.h"
#include "sluice/cancel.h"
#include "sluice/client.h"
#include "sluice/dns.h"
#include "sluice/listener.h"
#include "sluice/log.h"
#include "sluice/pool.h"
#include "sluice/prepared.h"
#include "sluice/server.h"
#include "sluice/tls.h"
#include "sluice/util.h"

#define JANITOR_INTERVAL_USEC 200000

uint32_t runtime_buffer_size(const struct config *cfg)
{
	/* at least 16 KiB: more messages per recv, fewer syscalls per transaction */
	return cfg->pkt_buf > 16384 ? (uint32_t)cfg->pkt_buf : 16384;
}

/* Load the files cfg names and put them in place; false (logged) keeps the old ones. */
static bool load_auth(struct runtime *rt, const struct config *cfg, const char *failing)
{
	char err[1280];
	struct authfiles fresh;

	if (!authfiles_load(cfg, &fresh, err, sizeof(err))) {
		log_error("%s%s", failing, err);
		return false;
	}
	authfiles_replace(&rt->auth, &fresh);
	return true;
}

/* New TLS contexts replace the running ones (NULL: none). */
static void swap_tls(struct runtime *rt, struct tls_ctx *accept, struct tls_ctx *connect)
{
	tls_ctx_free(rt->tls_accept);
	tls_ctx_free(rt->tls_connect);
	rt->tls_accept = accept;
	rt->tls_connect = connect;
}

bool runtime_reload_tls(struct runtime *rt, char *err, size_t errlen)
{
	struct tls_ctx *accept, *connect;
	if (!tls_ctx_load(rt->cfg, &accept, &connect, err, errlen)) {
		log_error("%s", err);
		return false;
	}
	swap_tls(rt, accept, connect);
	return true;
}

struct runtime *runtime_new(struct config *cfg, const char *config_path)
{
	struct runtime *rt = xcalloc(1, sizeof(*rt));
	rt->cfg = cfg;
	rt->config_path = xstrdup(config_path);
	rt->start_time = util_now();
	list_init(&rt->pools);
	list_init(&rt->login_clients);
	list_init(&rt->free_clients);
	list_init(&rt->free_servers);
	list_init(&rt->cancels);
	list_init(&rt->admin_clients);
	list_init(&rt->dbflags);
	pktbuf_init(&rt->scratch);
	iobuf_pool_init(&rt->bufs, runtime_buffer_size(cfg));
	rt->prepared = prepared_registry_new();
	struct event_config *ec = event_config_new();
	event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
	rt->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (rt->base)
		rt->dns = dns_new(rt->base, cfg->resolv_conf);
	rt->authq = authquery_new(rt);
	char err[512];
	if (rt->dns == NULL || !load_auth(rt, cfg, "") ||
	    !runtime_reload_tls(rt, err, sizeof(err))) {
		if (rt->base == NULL || rt->dns == NULL)
			log_error("could not create the event loop or the DNS resolver");
		rt->cfg = NULL; /* stays the caller's on failure */
		runtime_free(rt);
		return NULL;
	}
	return rt;
}

/* --- reaper --- */

static void reap(evutil_socket_t fd, short what, void *arg)
{
	struct runtime *rt = arg;
	(void)fd;
	(void)what;
	while (!list_empty(&rt->free_clients))
		client_free(list_entry(rt->free_clients.next, struct client, node));
	while (!list_empty(&rt->free_servers))
		server_free(list_entry(rt->free_servers.next, struct server, node));
}

void runtime_schedule_reap(struct runtime *rt)
{
	if (rt->reaper && !event_pending(rt->reaper, EV_TIMEOUT, NULL))
		event_active(rt->reaper, EV_TIMEOUT, 0);
}

/* --- janitor --- */

static void login_timeouts(struct runtime *rt, usec_t now)
{
	usec_t limit = rt->cfg->client_login_timeout;
	if (limit <= 0)
		return;
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &rt->login_clients) {
		struct client *c = list_entry(it, struct client, node);
		if (now - c->connect_time >= limit)
			client_close(c, CLOSE_ERROR, "08P01", "client_login_timeout");
	}
}

/* Every stats_period: roll the per-pool averages and wait histograms. */
static void stats_tick(struct runtime *rt, usec_t now)
{
	if (now - rt->last_stats_roll < rt->cfg->stats_period)
		return;
	rt->last_stats_roll = now;
	struct pool *p;
	for_each_pool (p, rt)
		stats_roll_period(&p->stats);
}

static void janitor(evutil_socket_t fd, short what, void *arg)
{
	struct runtime *rt = arg;
	(void)fd;
	(void)what;
	usec_t now = util_tick();
	login_timeouts(rt, now);
	stats_tick(rt, now);
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &rt->pools)
		pool_janitor(list_entry(it, struct pool, node), now);
	admin_janitor(rt);
	authquery_janitor(rt->authq, now);
	if (rt->phase == RUN_DRAINING)
		runtime_check_drained(rt);
}

/* --- signals --- */

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	log_event(LOG_INFO, "reload", "got SIGHUP, reloading configuration");
	(void)runtime_reload(arg);
}

static void stop_now(struct runtime *rt)
{
	rt->phase = RUN_STOPPING;
	event_base_loopbreak(rt->base);
}

static void on_sigterm(evutil_socket_t sig, short what, void *arg)
{
	struct runtime *rt = arg;
	(void)sig;
	(void)what;
	if (rt->phase == RUN_SERVING) {
		log_event(LOG_INFO, "shutdown",
			  "got SIGTERM, draining: waiting for in-flight transactions to finish");
		runtime_begin_drain(rt);
	} else {
		log_event(LOG_INFO, "shutdown", "got SIGTERM again, exiting now");
		stop_now(rt);
	}
}

static void on_sigint(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	log_event(LOG_INFO, "shutdown", "got SIGINT, exiting now");
	stop_now(arg);
}

static bool write_pidfile(const char *path)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return false;
	fprintf(f, "%d\n", (int)getpid());
	return fclose(f) == 0;
}

bool runtime_start(struct runtime *rt)
{
	signal(SIGPIPE, SIG_IGN);
	rt->reaper = event_new(rt->base, -1, 0, reap, rt);
	rt->janitor = event_new(rt->base, -1, EV_PERSIST, janitor, rt);
	rt->sig_hup = evsignal_new(rt->base, SIGHUP, on_sighup, rt);
	rt->sig_term = evsignal_new(rt->base, SIGTERM, on_sigterm, rt);
	rt->sig_int = evsignal_new(rt->base, SIGINT, on_sigint, rt);
	rt->sig_quit = evsignal_new(rt->base, SIGQUIT, on_sigint, rt);
	struct timeval tv = { .tv_sec = 0, .tv_usec = JANITOR_INTERVAL_USEC };
	bool ok = rt->reaper && rt->janitor && rt->sig_hup && rt->sig_term && rt->sig_int &&
		  rt->sig_quit && event_add(rt->janitor, &tv) == 0 &&
		  event_add(rt->sig_hup, NULL) == 0 && event_add(rt->sig_term, NULL) == 0 &&
		  event_add(rt->sig_int, NULL) == 0 && event_add(rt->sig_quit, NULL) == 0;
	if (!ok) {
		log_error("could not set up the timers and signal handlers of the event loop");
		return false;
	}
	if (!listener_open_all(rt))
		return false;
	if (rt->cfg->pidfile && !write_pidfile(rt->cfg->pidfile)) {
		log_error("could not write pidfile %s", rt->cfg->pidfile);
		return false;
	}
	return true;
}

int runtime_run(struct runtime *rt)
{
	log_event(LOG_INFO, "start", "sluice %s started, pid %d", SLUICE_VERSION, (int)getpid());
	event_base_dispatch(rt->base);
	return rt->exit_code;
}

/* --- reload --- */

static void warn_restart_key(const char *key, void *arg)
{
	(void)arg;
	log_warn("reload: %s changed; the new value takes effect after a restart", key);
}

/* Did a key of the TLS towards PostgreSQL change? Then no server may stay on the old one. */
static bool server_tls_changed(const struct config *a, const struct config *b)
{
	return a->server_tls_sslmode != b->server_tls_sslmode ||
	       !str_eq(a->server_tls_ca_file, b->server_tls_ca_file) ||
	       !str_eq(a->server_tls_key_file, b->server_tls_key_file) ||
	       !str_eq(a->server_tls_cert_file, b->server_tls_cert_file) ||
	       !str_eq(a->server_tls_protocols, b->server_tls_protocols) ||
	       !str_eq(a->server_tls_ciphers, b->server_tls_ciphers) ||
	       !str_eq(a->server_tls13_ciphers, b->server_tls13_ciphers);
}

bool runtime_reload(struct runtime *rt)
{
	char err[512];
	struct config *cfg = config_load(rt->config_path, err, sizeof(err));
	if (cfg == NULL) {
		log_event(LOG_ERROR, "reload_failed",
			  "reload failed, keeping the running configuration: %s", err);
		return false;
	}
	/* certificates are read before the auth files, and used only if both are good */
	struct tls_ctx *accept, *connect;
	if (!tls_ctx_load(cfg, &accept, &connect, err, sizeof(err))) {
		log_event(LOG_ERROR, "reload_failed",
			  "reload failed, keeping the running configuration: %s", err);
		config_free(cfg);
		return false;
	}
	if (!load_auth(rt, cfg, "reload failed, keeping the running configuration: ")) {
		tls_ctx_free(accept);
		tls_ctx_free(connect);
		config_free(cfg);
		return false;
	}
	swap_tls(rt, accept, connect);
	config_diff_restart_keys(rt->cfg, cfg, warn_restart_key, NULL);
	/* keys that only take effect at start stay as they were */
	log_set_verbose(cfg->verbose);
	log_set_format(cfg->log_format);
	if (!str_eq(cfg->logfile, rt->cfg->logfile) && !log_open_file(cfg->logfile))
		log_error("could not open logfile %s", cfg->logfile);
	struct config *old = rt->cfg;
	bool reconnect = server_tls_changed(old, cfg); /* as PgBouncer: servers reconnect */
	rt->cfg = cfg;
	config_free(old);
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &rt->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		pool_apply_config(p, cfg);
		if (reconnect)
			pool_reconnect(p, NULL, "server_tls settings changed");
		pool_maintain(p);
	}
	log_event(LOG_INFO, "reload", "configuration reloaded");
	return true;
}

/* --- drain and exit --- */

static void close_list(struct list *head, const char *sqlstate, const char *reason)
{
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, head)
		client_close(list_entry(it, struct client, node), CLOSE_ERROR, sqlstate, reason);
}

static void close_servers(struct list *head, const char *reason)
{
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, head)
		server_close(list_entry(it, struct server, node), reason);
}

static const char shutdown_msg[] = "terminating connection: the pooler is shutting down";

/* Draining: clients without a transaction in flight leave now, the rest after it. */
static void drain_pool(struct pool *p)
{
	close_list(&p->wait_login_clients, "57P01", shutdown_msg);
	close_list(&p->idle_clients, "57P01", shutdown_msg);
	close_list(&p->waiting_clients, "57P01", shutdown_msg);
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &p->active_clients) {
		struct client *c = list_entry(it, struct client, node);
		struct server *s = c->server;
		if (s && s->state == SV_ACTIVE && !server_request_open(s) &&
		    s->relay.tx_status == 'I')
			client_close(c, CLOSE_ERROR, "57P01", shutdown_msg);
		else
			c->close_after_ready = true;
	}
	close_servers(&p->idle_servers, "shutting down");
}

void runtime_set_suspended(struct runtime *rt, bool on)
{
	rt->suspended = on;
	listener_set_main_enabled(rt, !on);
}

void runtime_begin_drain(struct runtime *rt)
{
	rt->phase = RUN_DRAINING;
	listener_close_main(rt);
	/* logging-in clients of the main port leave; the admin port keeps answering probes */
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &rt->login_clients) {
		struct client *c = list_entry(it, struct client, node);
		if (!c->via_admin_port)
			client_close(c, CLOSE_ERROR, "57P01", shutdown_msg);
	}
	list_for_each_safe (it, tmp, &rt->pools)
		drain_pool(list_entry(it, struct pool, node));
	runtime_check_drained(rt);
}

void runtime_check_drained(struct runtime *rt)
{
	if (rt->phase != RUN_DRAINING)
		return;
	/* console and HTTP sessions do not hold the exit back */
	struct pool *p;
	for_each_pool (p, rt)
		if (p->n_clients > 0)
			return;
	log_event(LOG_INFO, "shutdown", "all clients are gone, exiting");
	stop_now(rt);
}

static void close_everything(struct runtime *rt)
{
	close_list(&rt->login_clients, "57P01", shutdown_msg);
	close_list(&rt->admin_clients, "57P01", shutdown_msg);
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &rt->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		close_list(&p->wait_login_clients, "57P01", shutdown_msg);
		close_list(&p->idle_clients, "57P01", shutdown_msg);
		close_list(&p->waiting_clients, "57P01", shutdown_msg);
		close_list(&p->active_clients, "57P01", shutdown_msg);
	}
	list_for_each_safe (it, tmp, &rt->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		close_servers(&p->idle_servers, "shutting down");
		close_servers(&p->active_servers, "shutting down");
		close_servers(&p->other_servers, "shutting down");
	}
}

void runtime_free(struct runtime *rt)
{
	if (rt == NULL)
		return;
	rt->phase = RUN_STOPPING;
	listener_close_all(rt);
	if (rt->base) {
		close_everything(rt);
		reap(-1, 0, rt);
		cancel_abort_all(rt);
	}
	struct event *evs[] = { rt->reaper,   rt->janitor, rt->sig_hup,
				rt->sig_term, rt->sig_int, rt->sig_quit };
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i])
			event_free(evs[i]);
	authquery_free(rt->authq); /* before dns_free: it cancels its own name look-ups */
	dns_free(rt->dns); /* after the servers cancelled their lookups and the timers are gone */
	while (!list_empty(&rt->pools))
		pool_free(list_entry(rt->pools.next, struct pool, node));
	pool_free_dbflags(rt);
	prepared_registry_free(rt->prepared); /* after every client and server is gone */
	if (rt->cfg && rt->cfg->pidfile)
		unlink(rt->cfg->pidfile);
	iobuf_pool_clear(&rt->bufs);
	pktbuf_free(&rt->scratch);
	authfiles_free(&rt->auth);
	swap_tls(rt, NULL, NULL);
	config_free(rt->cfg);
	if (rt->base)
		event_base_free(rt->base);
	free(rt->config_path);
	free(rt);
}
