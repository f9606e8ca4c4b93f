/*
 * runtime: the event loop and everything that is not one connection's
 * business: the reaper that frees closed objects after the callback that
 * closed them, the janitor timer, signals, reload and the drain on SIGTERM.
 */
#include "sluice/runtime.h"

#include <openssl/crypto.h>
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
#include "sluice/configenv.h"
#include "sluice/confwatch.h"
#include "sluice/dns.h"
#include "sluice/http.h"
#include "sluice/insight.h"
#include "sluice/sniff.h"
#include "sluice/listener.h"
#include "sluice/log.h"
#include "sluice/pool.h"
#include "sluice/prepared.h"
#include "sluice/sdnotify.h"
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

struct runtime *runtime_new(struct config *cfg, const struct config_origin *origin)
{
	struct runtime *rt = xcalloc(1, sizeof(*rt));
	rt->cfg = cfg;
	rt->config_path = origin->path ? xstrdup(origin->path) : NULL;
	rt->database_url = origin->database_url ? xstrdup(origin->database_url) : NULL;
	rt->start_time = util_now();
	list_init(&rt->pools);
	list_init(&rt->login_clients);
	list_init(&rt->free_clients);
	list_init(&rt->free_servers);
	list_init(&rt->cancels);
	list_init(&rt->dead_cancels);
	list_init(&rt->sniffs);
	list_init(&rt->http_conns);
	list_init(&rt->admin_clients);
	list_init(&rt->dbflags);
	pktbuf_init(&rt->scratch);
	iobuf_pool_init(&rt->bufs, runtime_buffer_size(cfg));
	rt->prepared = prepared_registry_new();
	rt->insight = insight_new();
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
	cancel_reap(rt);
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
	for_each_pool (p, rt) {
		stats_roll_period(&p->stats);
		pool_roll_saturation(p, now);
	}
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
		runtime_drain_tick(rt, now);
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

/* The end of shutdown_delay (drain now) or of shutdown_timeout (exit now). */
static void on_shutdown_timer(evutil_socket_t fd, short what, void *arg)
{
	struct runtime *rt = arg;
	(void)fd;
	(void)what;
	if (rt->phase == RUN_LAME_DUCK) {
		runtime_begin_drain(rt);
		return;
	}
	int left = 0;
	struct pool *p;
	for_each_pool (p, rt)
		left += p->n_clients;
	log_warn("shutdown_timeout: closing %d client(s) still in a transaction, exiting", left);
	stop_now(rt);
}

/* Arm the shutdown timer for `usec`; 0 disarms it. */
static void shutdown_timer_set(struct runtime *rt, usec_t usec)
{
	event_del(rt->shutdown_timer);
	if (usec <= 0)
		return;
	struct timeval tv = { .tv_sec = usec / 1000000, .tv_usec = usec % 1000000 };
	event_add(rt->shutdown_timer, &tv);
}

static void on_sigterm(evutil_socket_t sig, short what, void *arg)
{
	struct runtime *rt = arg;
	(void)sig;
	(void)what;
	switch (rt->phase) {
	case RUN_SERVING:
		log_event(LOG_INFO, "shutdown", "got SIGTERM");
		runtime_begin_shutdown(rt);
		break;
	case RUN_LAME_DUCK:
		log_event(LOG_INFO, "shutdown",
			  "got SIGTERM again, draining now (shutdown_delay cut short)");
		runtime_begin_drain(rt);
		break;
	default:
		log_event(LOG_INFO, "shutdown", "got SIGTERM again, exiting now");
		stop_now(rt);
		break;
	}
}

static void on_sigint(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	log_event(LOG_INFO, "shutdown", "got SIGINT, exiting now");
	sdnotify_stopping("exiting now");
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
	rt->shutdown_timer = evtimer_new(rt->base, on_shutdown_timer, rt);
	struct timeval tv = { .tv_sec = 0, .tv_usec = JANITOR_INTERVAL_USEC };
	bool ok = rt->reaper && rt->janitor && rt->sig_hup && rt->sig_term && rt->sig_int &&
		  rt->sig_quit && rt->shutdown_timer && event_add(rt->janitor, &tv) == 0 &&
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
	runtime_sync_config_watch(rt);
	sdnotify_ready("accepting connections");
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

/* The reload proper: the new config and its files, or (logged) the old ones. */
static bool reload_config(struct runtime *rt)
{
	char err[1280];
	struct config_origin origin = { rt->config_path, rt->database_url, environ };
	struct config *cfg = configenv_build(&origin, err, sizeof(err));
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

bool runtime_reload(struct runtime *rt)
{
	/* a service manager hears of it only while serving: after STOPPING=1 it would be noise */
	bool notify = rt->phase == RUN_SERVING;
	if (notify)
		sdnotify_reloading();
	confwatch_note_loaded(rt->confwatch); /* before the file is read: a later change reloads */
	bool ok = reload_config(rt);
	runtime_sync_config_watch(rt);
	if (notify)
		sdnotify_ready(ok ? "configuration reloaded"
				  : "reload failed, running configuration kept (see the log)");
	return ok;
}

/* --- config_watch --- */

static void on_config_changed(void *arg)
{
	(void)runtime_reload(arg);
}

void runtime_sync_config_watch(struct runtime *rt)
{
	if (rt->cfg->config_watch && rt->config_path == NULL) {
		/* from DATABASE_URL and the environment: nothing to watch, and nothing that changes */
		log_warn("config_watch: there is no config file to watch (DATABASE_URL)");
		return;
	}
	if (rt->cfg->config_watch && rt->confwatch == NULL) {
		rt->confwatch = confwatch_new(rt->base, rt->config_path, on_config_changed, rt);
		if (rt->confwatch)
			log_info("config_watch: watching %s for changes", rt->config_path);
	} else if (!rt->cfg->config_watch && rt->confwatch) {
		confwatch_free(rt->confwatch);
		rt->confwatch = NULL;
		log_info("config_watch: no longer watching %s", rt->config_path);
	}
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

/*
 * How long a client that has logged in but not yet sent its first request
 * may stay while draining: it connected to run something (a short-lived
 * connection, pgbench -C), and closing it now would fail that transaction.
 */
#define DRAIN_LOGIN_GRACE_USEC 2000000

static bool just_logged_in(const struct client *c, usec_t now)
{
	return c->last_request == 0 && now - c->connect_time < DRAIN_LOGIN_GRACE_USEC;
}

/* Close c now if nothing of it is in flight, else once its transaction ends. */
static void drain_client(struct client *c, bool in_flight, usec_t now)
{
	if (in_flight || just_logged_in(c, now))
		c->close_after_ready = true;
	else
		client_close(c, CLOSE_ERROR, "57P01", shutdown_msg);
}

/*
 * Draining, at its start and then at every janitor tick: clients without a
 * transaction in flight leave, the rest after it; clients waiting for a
 * server have sent a request and are served first.
 */
static void drain_pool(struct pool *p, usec_t now)
{
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &p->waiting_clients)
		list_entry(it, struct client, node)->close_after_ready = true;
	list_for_each_safe (it, tmp, &p->wait_login_clients)
		list_entry(it, struct client, node)->close_after_ready = true;
	list_for_each_safe (it, tmp, &p->idle_clients)
		drain_client(list_entry(it, struct client, node), false, now);
	list_for_each_safe (it, tmp, &p->active_clients) {
		struct client *c = list_entry(it, struct client, node);
		struct server *s = c->server;
		drain_client(c,
			     !(s && s->state == SV_ACTIVE && !server_request_open(s) &&
			       s->relay.tx_status == 'I'),
			     now);
	}
	if (p->n_clients == 0) /* nobody left who could still need one */
		close_servers(&p->idle_servers, "shutting down");
}

void runtime_drain_tick(struct runtime *rt, usec_t now)
{
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &rt->pools)
		drain_pool(list_entry(it, struct pool, node), now);
	runtime_check_drained(rt);
}

void runtime_set_suspended(struct runtime *rt, bool on)
{
	rt->suspended = on;
	listener_set_main_enabled(rt, !on);
}

void runtime_begin_shutdown(struct runtime *rt)
{
	usec_t delay = rt->cfg->shutdown_delay;
	if (delay <= 0) {
		runtime_begin_drain(rt);
		return;
	}
	rt->phase = RUN_LAME_DUCK;
	sdnotify_stopping("shutting down: not ready, still serving for shutdown_delay");
	log_info("shutting down: /readyz answers 503 from now on; still accepting and serving for "
		 "%.1f s (shutdown_delay), then draining",
		 (double)delay / 1e6);
	shutdown_timer_set(rt, delay);
}

void runtime_begin_drain(struct runtime *rt)
{
	sdnotify_stopping("draining: waiting for in-flight transactions");
	rt->phase = RUN_DRAINING;
	usec_t limit = rt->cfg->shutdown_timeout;
	if (limit > 0)
		log_info("draining: no new clients; waiting up to %.1f s (shutdown_timeout) for "
			 "in-flight transactions",
			 (double)limit / 1e6);
	else
		log_info("draining: no new clients; waiting for in-flight transactions to finish");
	shutdown_timer_set(rt, limit);
	listener_close_main(rt);
	/* clients still logging in were accepted before: they finish, then drain (janitor) */
	runtime_drain_tick(rt, util_tick());
}

void runtime_check_drained(struct runtime *rt)
{
	if (rt->phase != RUN_DRAINING)
		return;
	/* console and HTTP sessions do not hold the exit back; logins on the main port do */
	struct pool *p;
	for_each_pool (p, rt)
		if (p->n_clients > 0)
			return;
	struct list *it;
	for (it = rt->login_clients.next; it != &rt->login_clients; it = it->next)
		if (!list_entry(it, struct client, node)->via_admin_port)
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
		sniff_abort_all(rt);
		http_close_all(rt);
	}
	struct event *evs[] = { rt->reaper,  rt->janitor,  rt->sig_hup,       rt->sig_term,
				rt->sig_int, rt->sig_quit, rt->shutdown_timer };
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i])
			event_free(evs[i]);
	confwatch_free(rt->confwatch);
	authquery_free(rt->authq); /* before dns_free: it cancels its own name look-ups */
	dns_free(rt->dns); /* after the servers cancelled their lookups and the timers are gone */
	while (!list_empty(&rt->pools))
		pool_free(list_entry(rt->pools.next, struct pool, node));
	pool_free_dbflags(rt);
	prepared_registry_free(rt->prepared); /* after every client and server is gone */
	insight_free(rt->insight);
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
	if (rt->database_url)
		OPENSSL_cleanse(rt->database_url, strlen(rt->database_url));
	free(rt->database_url);
	free(rt);
}
