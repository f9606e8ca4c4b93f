/*
 * authquery: auth_query look-ups through libpq on the event loop. Owns the
 * look-up targets, each with its one libpq connection, its queue of
 * look-ups not yet sent and the one in flight, and the clients waiting on
 * each look-up. A target is a small state machine (target_set_state); libpq
 * is only ever called when libevent says its socket is ready, and the
 * socket is watched anew after every step, since libpq may replace it
 * while connecting.
 */
#include "sluice/authquery.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/auth.h"
#include "sluice/dns.h"
#include "sluice/list.h"
#include "sluice/log.h"
#include "sluice/pool.h"
#include "sluice/runtime.h"
#include "sluice/util.h"

#define DEFAULT_UNIX_DIR "/var/run/postgresql"

/* How much longer than internal_query_timeout PostgreSQL lets a look-up run. */
#define STATEMENT_TIMEOUT_MARGIN_MS 1000

enum target_state {
	TG_DOWN = 0, /* no connection; the next look-up makes one */
	TG_RESOLVE,  /* resolving the host name (dns module) */
	TG_CONNECT,  /* PQconnectPoll until logged in (TCP, TLS, authentication) */
	TG_IDLE,     /* logged in, no query running */
	TG_QUERY,    /* one look-up sent, its result awaited */
};

static const char *const state_names[] = {
	[TG_DOWN] = "down", [TG_RESOLVE] = "resolve", [TG_CONNECT] = "connect",
	[TG_IDLE] = "idle", [TG_QUERY] = "query",
};

enum req_state {
	REQ_QUEUED = 0, /* in its target's queue */
	REQ_RUNNING,    /* sent; the target's `running` */
	REQ_DONE,       /* answered: its waiters are being called */
};

struct aq_target;

/* One look-up: a user, a query, and the clients waiting for the answer. */
struct aq_req {
	struct list node; /* in target->queue while REQ_QUEUED */
	struct aq_target *target;
	enum req_state state;
	char *user;
	char *query;
	struct list waiters; /* struct authquery_wait */
	bool answered;       /* result and secret hold the first result */
	enum authquery_result result;
	char *secret;
};

struct authquery_wait {
	struct list node; /* in req->waiters */
	struct aq_req *req;
	authquery_done_fn *cb;
	void *arg;
};

/* One look-up connection and its work. */
struct aq_target {
	struct list node; /* in aq->targets */
	struct authquery *aq;
	char *host; /* the key: host, port, dbname, user */
	int port;
	char *dbname;
	char *user;
	char *password; /* the latest asked with, used at the next connect; wiped */
	enum authquery_password pw_source;
	char label[320]; /* "auth_query user@host:port/dbname", for log lines */

	enum target_state state;
	PGconn *pg;
	struct dns_req *dns_req;
	struct event *ev_io;    /* readiness of PQsocket, re-made after each connect step */
	struct event *ev_timer; /* the deadline of the current connect or query */
	struct event *ev_kick;  /* runs the machine from the loop after a new look-up */
	usec_t since;           /* when the current state began */
	usec_t connected;       /* when the connection logged in */

	struct list queue;      /* struct aq_req, REQ_QUEUED, FIFO */
	struct aq_req *running; /* REQ_RUNNING, or NULL */
};

struct authquery {
	struct runtime *rt;
	struct list targets;
};

static void target_advance(struct aq_target *t);

const char *authquery_result_str(enum authquery_result r)
{
	switch (r) {
	case AUTHQUERY_FOUND:
		return "found";
	case AUTHQUERY_NOT_FOUND:
		return "not found";
	case AUTHQUERY_FAILED:
		break;
	}
	return "failed";
}

/* ------------------------------------------------------------------------ */
/* Where to look: from the config                                            */
/* ------------------------------------------------------------------------ */

/* auth_user's password for a query run through entry `at`, and where it came from. */
static void target_password(const struct config_db *at, const struct authfile *af,
			    struct authquery_target *out)
{
	out->password = NULL;
	out->pw_source = AUTHQUERY_PW_NONE;
	if (at->password && (at->user == NULL || strcmp(at->user, out->user) == 0)) {
		out->password = at->password;
		out->pw_source = AUTHQUERY_PW_ENTRY;
		return;
	}
	const char *secret = authfile_lookup(af, out->user);
	if (secret == NULL || secret[0] == '\0')
		return;
	if (auth_secret_kind(secret) != SECRET_PLAIN) {
		out->pw_source = AUTHQUERY_PW_VERIFIER;
		return;
	}
	out->password = secret;
	out->pw_source = AUTHQUERY_PW_AUTH_FILE;
}

bool authquery_target_for(const struct config *cfg, const struct authfile *af, const char *dbname,
			  struct authquery_target *out)
{
	const struct config_db *db = config_find_db(cfg, dbname);
	struct config_auth_lookup l;

	if (db == NULL || !config_auth_lookup(cfg, db, &l))
		return false;
	const char *name = l.dbname ? l.dbname : dbname;
	const struct config_db *at = config_find_db(cfg, name);
	bool own_entry = at != NULL;
	if (at == NULL)
		at = db; /* a database of that name on the client's server */
	out->host = at->host;
	out->port = at->port > 0 ? at->port : 5432;
	out->dbname = own_entry && at->dbname ? at->dbname : name;
	out->user = l.user;
	out->query = l.query;
	target_password(at, af, out);
	return true;
}

/* ------------------------------------------------------------------------ */
/* Look-ups and their waiters                                                 */
/* ------------------------------------------------------------------------ */

static void req_free(struct aq_req *r)
{
	str_wipe_free(r->secret);
	free(r->user);
	free(r->query);
	free(r);
}

/* Call every waiter of an answered look-up, then free it. A callback may
 * cancel other waiters of the same look-up, or start new look-ups. */
static void req_deliver(struct aq_req *r)
{
	r->state = REQ_DONE;
	while (!list_empty(&r->waiters)) {
		struct authquery_wait *w = list_entry(r->waiters.next, struct authquery_wait, node);
		authquery_done_fn *cb = w->cb;
		void *arg = w->arg;
		list_del(&w->node);
		free(w);
		cb(arg, r->result, r->secret);
	}
	req_free(r);
}

/* Note the first result of a look-up; later ones (there are none for a
 * single SELECT) cannot change it. */
static void req_answer(struct aq_req *r, enum authquery_result result, const char *secret)
{
	if (r->answered)
		return;
	r->answered = true;
	r->result = result;
	r->secret = result == AUTHQUERY_FOUND && secret && secret[0] ? xstrdup(secret) : NULL;
}

static int waiter_count(const struct aq_target *t)
{
	int n = t->running ? list_length(&t->running->waiters) : 0;
	struct list *it;
	for (it = t->queue.next; it != &t->queue; it = it->next)
		n += list_length(&list_entry(it, struct aq_req, node)->waiters);
	return n;
}

/* ------------------------------------------------------------------------ */
/* The connection                                                             */
/* ------------------------------------------------------------------------ */

static void target_set_state(struct aq_target *t, enum target_state st)
{
	if (t->state == st)
		return;
	log_event(LOG_NOISE, "auth_query", "%s: %s -> %s", t->label, state_names[t->state],
		  state_names[st]);
	t->state = st;
	t->since = util_now();
}

/* libpq's message on one line: runs of white space (its line breaks and
 * indented hints) become one space, none at the end. */
static void pg_error(PGconn *pg, char *out, size_t len)
{
	const char *in = pg ? PQerrorMessage(pg) : "out of memory";
	size_t n = 0;

	for (; *in && n + 1 < len; in++) {
		bool space = *in == ' ' || *in == '\n' || *in == '\r' || *in == '\t';
		if (!space)
			out[n++] = *in;
		else if (n > 0 && out[n - 1] != ' ')
			out[n++] = ' ';
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	if (n == 0)
		snprintf(out, len, "unknown libpq error");
}

static void set_deadline(struct aq_target *t, usec_t limit)
{
	if (limit <= 0) {
		evtimer_del(t->ev_timer);
		return;
	}
	struct timeval tv = { .tv_sec = (time_t)(limit / 1000000),
			      .tv_usec = (suseconds_t)(limit % 1000000) };
	evtimer_add(t->ev_timer, &tv);
}

static void on_io(evutil_socket_t fd, short what, void *arg);

/*
 * Watch the connection's socket for `what`. While connecting, libpq may
 * close its socket and open another (next address, SSL refused), possibly
 * with the same number: the event is made anew every time.
 */
static bool watch(struct aq_target *t, short what)
{
	int fd = PQsocket(t->pg);
	if (t->ev_io != NULL)
		event_free(t->ev_io);
	t->ev_io = fd >= 0 ? event_new(t->aq->rt->base, fd, what, on_io, t) : NULL;
	return t->ev_io != NULL && event_add(t->ev_io, NULL) == 0;
}

/* Drop the connection (and any name look-up); the target is DOWN. */
static void target_disconnect(struct aq_target *t)
{
	if (t->dns_req != NULL) {
		dns_cancel(t->dns_req);
		t->dns_req = NULL;
	}
	if (t->ev_io != NULL) {
		event_free(t->ev_io);
		t->ev_io = NULL;
	}
	evtimer_del(t->ev_timer);
	if (t->pg != NULL) {
		PQfinish(t->pg); /* nonblocking once logged in: Terminate is sent without waiting */
		t->pg = NULL;
	}
	target_set_state(t, TG_DOWN);
}

/* Why auth_user's log-in may have failed, when its password is the reason. */
static const char *password_hint(const struct aq_target *t, const char *error)
{
	if (strstr(error, "password") == NULL && strstr(error, "authentication") == NULL)
		return "";
	switch (t->pw_source) {
	case AUTHQUERY_PW_VERIFIER:
		return " (auth_user's secret in auth_file is an md5 or SCRAM verifier, with which "
		       "libpq cannot log in: give auth_user its cleartext password in auth_file, "
		       "or password= in the database entry)";
	case AUTHQUERY_PW_NONE:
		return " (auth_user has no password: neither a cleartext line in auth_file nor "
		       "password= in the database entry)";
	case AUTHQUERY_PW_ENTRY:
	case AUTHQUERY_PW_AUTH_FILE:
		break;
	}
	return "";
}

/*
 * The connection cannot serve: log why, drop it, and fail the look-up in
 * flight and every queued one (the next look-up connects afresh). Waiters
 * are called from a private list, so that look-ups they start queue anew.
 */
static void target_fail(struct aq_target *t, const char *reason)
{
	struct list failed;
	int waiting = waiter_count(t);
	list_init(&failed);
	if (t->running != NULL)
		list_add_tail(&failed, &t->running->node);
	t->running = NULL;
	while (!list_empty(&t->queue)) {
		struct list *n = t->queue.next;
		list_del(n);
		list_add_tail(&failed, n);
	}
	log_event(LOG_WARNING, "auth_query", "%s: %s%s; failing %d waiting login(s)", t->label,
		  reason, t->state == TG_CONNECT ? password_hint(t, reason) : "", waiting);
	target_disconnect(t);
	while (!list_empty(&failed)) {
		struct aq_req *r = list_entry(failed.next, struct aq_req, node);
		list_del(&r->node);
		req_answer(r, AUTHQUERY_FAILED, NULL);
		req_deliver(r);
	}
}

static void on_notice(void *arg, const char *message)
{
	struct aq_target *t = arg;
	log_event(LOG_DEBUG, "auth_query", "%s: server notice: %.*s", t->label,
		  (int)strcspn(message, "\n"), message);
}

/*
 * Start libpq's non-blocking connect; hostaddr (numeric, or NULL for a unix
 * socket) keeps libpq from resolving a name itself, which would block. The
 * session's statement_timeout is internal_query_timeout and a second: sluice
 * gives up first and closes the connection, and PostgreSQL then stops the
 * query instead of running it on (libpq 15 cancels only with a blocking call).
 */
static void start_pq(struct aq_target *t, const char *hostaddr)
{
	char port[16], options[64], error[512];
	const char *keys[16], *values[16];
	const struct config *cfg = t->aq->rt->cfg;
	int n = 0;

	snprintf(port, sizeof(port), "%d", t->port);
	snprintf(options, sizeof(options), "-c statement_timeout=%lld",
		 (long long)(t->aq->rt->cfg->internal_query_timeout / 1000 +
			     STATEMENT_TIMEOUT_MARGIN_MS));
#define KV(k, v) (keys[n] = (k), values[n] = (v), n++)
	KV("host", t->host && t->host[0] ? t->host : DEFAULT_UNIX_DIR);
	if (hostaddr != NULL)
		KV("hostaddr", hostaddr);
	KV("port", port);
	KV("dbname", t->dbname);
	KV("user", t->user);
	if (t->password != NULL)
		KV("password", t->password);
	KV("application_name", "sluice auth_query");
	KV("options", options);
	KV("gssencmode", "disable"); /* no Kerberos credential cache look-up on the loop */
	/* TLS as for the server connections, in libpq's words */
	KV("sslmode", config_sslmode_str(cfg->server_tls_sslmode));
	if (cfg->server_tls_ca_file)
		KV("sslrootcert", cfg->server_tls_ca_file);
	if (cfg->server_tls_cert_file && cfg->server_tls_key_file) {
		KV("sslcert", cfg->server_tls_cert_file);
		KV("sslkey", cfg->server_tls_key_file);
	}
	KV(NULL, NULL);
#undef KV
	t->pg = PQconnectStartParams(keys, values, 0);
	if (t->pg == NULL || PQstatus(t->pg) == CONNECTION_BAD) {
		pg_error(t->pg, error, sizeof(error));
		target_fail(t, error);
		return;
	}
	PQsetNoticeProcessor(t->pg, on_notice, t);
	target_set_state(t, TG_CONNECT);
	/* just started: behave as if PQconnectPoll had asked for writability */
	if (!watch(t, EV_WRITE))
		target_fail(t, "could not watch the connection's socket");
}

/* dns_done_fn: the target's host name resolved (or not). */
static void on_resolved(void *arg, bool ok, const struct sockaddr_storage *addr, socklen_t len,
			bool changed, const char *error)
{
	struct aq_target *t = arg;
	char text[INET6_ADDRSTRLEN] = "", reason[512];
	(void)len;

	t->dns_req = NULL;
	if (!ok) {
		snprintf(reason, sizeof(reason), "could not resolve host \"%s\": %s", t->host,
			 error);
		target_fail(t, reason);
		return;
	}
	if (changed) /* the pools of this host learn it from this answer, not from theirs */
		pool_host_moved(t->aq->rt, t->host, addr);
	const void *ip = addr->ss_family == AF_INET6
				 ? (const void *)&((const struct sockaddr_in6 *)addr)->sin6_addr
				 : (const void *)&((const struct sockaddr_in *)addr)->sin_addr;
	inet_ntop(addr->ss_family, ip, text, sizeof(text));
	start_pq(t, text);
}

static void target_connect(struct aq_target *t)
{
	const struct config *cfg = t->aq->rt->cfg;

	set_deadline(t, cfg->server_connect_timeout);
	if (t->host == NULL || t->host[0] == '\0' || t->host[0] == '/') {
		start_pq(t, NULL);
		return;
	}
	target_set_state(t, TG_RESOLVE);
	/* numeric and cached names: on_resolved runs before this returns */
	t->dns_req = dns_resolve(t->aq->rt->dns, t->host, cfg->dns_max_ttl, on_resolved, t);
}

/* One step of PQconnectPoll, after the socket became ready. */
static void connect_step(struct aq_target *t)
{
	char error[512];

	switch (PQconnectPoll(t->pg)) {
	case PGRES_POLLING_READING:
		if (!watch(t, EV_READ))
			target_fail(t, "could not watch the connection's socket");
		return;
	case PGRES_POLLING_WRITING:
		if (!watch(t, EV_WRITE))
			target_fail(t, "could not watch the connection's socket");
		return;
	case PGRES_POLLING_OK:
		break;
	case PGRES_POLLING_FAILED:
	default:
		pg_error(t->pg, error, sizeof(error));
		target_fail(t, error);
		return;
	}
	if (PQsetnonblocking(t->pg, 1) != 0 || !watch(t, EV_READ | EV_PERSIST)) {
		target_fail(t, "could not make the connection non-blocking");
		return;
	}
	log_event(LOG_DEBUG, "auth_query", "%s: connected", t->label);
	evtimer_del(t->ev_timer);
	t->connected = util_now();
	target_set_state(t, TG_IDLE);
	target_advance(t);
}

/* Send the oldest queued look-up. */
static void send_next(struct aq_target *t)
{
	struct aq_req *r = list_entry(t->queue.next, struct aq_req, node);
	const char *params[1] = { r->user };
	char error[512];

	list_del(&r->node);
	r->state = REQ_RUNNING;
	t->running = r;
	if (!PQsendQueryParams(t->pg, r->query, 1, NULL, params, NULL, NULL, 0)) {
		pg_error(t->pg, error, sizeof(error));
		target_fail(t, error);
		return;
	}
	target_set_state(t, TG_QUERY);
	set_deadline(t, t->aq->rt->cfg->internal_query_timeout);
	int flushed = PQflush(t->pg);
	if (flushed < 0 ||
	    !watch(t, flushed ? EV_READ | EV_WRITE | EV_PERSIST : EV_READ | EV_PERSIST))
		target_fail(t, "could not send the query");
}

/* The look-up's result: one row (name, secret), no row, or an error. The
 * secret is wiped from libpq's result once copied. */
static void take_result(struct aq_target *t, struct aq_req *r, PGresult *res)
{
	const char *state, *message;
	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
		break;
	case PGRES_FATAL_ERROR:
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		message = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		log_event(LOG_WARNING, "auth_query", "%s: auth_query for user \"%s\" failed: %s %s",
			  t->label, r->user, state ? state : "",
			  message ? message : "(no message)");
		req_answer(r, AUTHQUERY_FAILED, NULL);
		return;
	default:
		log_event(LOG_WARNING, "auth_query",
			  "%s: auth_query returned no rows (%s): it must be a SELECT", t->label,
			  PQresStatus(PQresultStatus(res)));
		req_answer(r, AUTHQUERY_FAILED, NULL);
		return;
	}
	if (PQnfields(res) != 2 || PQntuples(res) > 1) {
		log_event(LOG_WARNING, "auth_query",
			  "%s: auth_query returned %d column(s) and %d row(s) for user \"%s\"; it "
			  "must return at most one row of two columns (name, secret)",
			  t->label, PQnfields(res), PQntuples(res), r->user);
		req_answer(r, AUTHQUERY_FAILED, NULL);
		return;
	}
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
		req_answer(r, AUTHQUERY_NOT_FOUND, NULL);
		return;
	}
	if (PQgetisnull(res, 0, 1)) {
		req_answer(r, AUTHQUERY_FOUND, NULL);
		return;
	}
	char *secret = PQgetvalue(res, 0, 1);
	req_answer(r, AUTHQUERY_FOUND, secret);
	explicit_bzero(secret, (size_t)PQgetlength(res, 0, 1));
}

/* Read what the server sent; deliver the running look-up once it is complete. */
static void query_step(struct aq_target *t, short what)
{
	char error[512];

	if (what & EV_WRITE) {
		int flushed = PQflush(t->pg);
		if (flushed < 0 || (flushed == 0 && !watch(t, EV_READ | EV_PERSIST))) {
			pg_error(t->pg, error, sizeof(error));
			target_fail(t, error);
			return;
		}
	}
	if (!(what & EV_READ))
		return;
	if (!PQconsumeInput(t->pg)) {
		pg_error(t->pg, error, sizeof(error));
		target_fail(t, error);
		return;
	}
	while (!PQisBusy(t->pg)) {
		PGresult *res = PQgetResult(t->pg);
		if (res == NULL)
			break;
		take_result(t, t->running, res);
		PQclear(res);
	}
	if (PQisBusy(t->pg))
		return;
	struct aq_req *r = t->running;
	t->running = NULL;
	evtimer_del(t->ev_timer);
	if (!r->answered) /* cannot happen: every query has a result */
		req_answer(r, AUTHQUERY_FAILED, NULL);
	log_event(LOG_DEBUG, "auth_query", "%s: user \"%s\": %s", t->label, r->user,
		  authquery_result_str(r->result));
	if (PQstatus(t->pg) == CONNECTION_OK) {
		target_set_state(t, TG_IDLE);
	} else { /* a FATAL error (the backend was terminated): connect afresh next time */
		pg_error(t->pg, error, sizeof(error));
		log_event(LOG_INFO, "auth_query", "%s: connection lost: %s", t->label, error);
		target_disconnect(t);
	}
	req_deliver(r);
	target_advance(t);
}

/* An idle connection got something: a notice, or the server going away. */
static void idle_step(struct aq_target *t)
{
	char error[512];
	if (PQconsumeInput(t->pg) && PQstatus(t->pg) == CONNECTION_OK)
		return;
	pg_error(t->pg, error, sizeof(error));
	log_event(LOG_INFO, "auth_query", "%s: connection closed while idle: %s", t->label, error);
	target_disconnect(t);
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
	struct aq_target *t = arg;
	(void)fd;
	util_tick();
	switch (t->state) {
	case TG_CONNECT:
		connect_step(t);
		return;
	case TG_QUERY:
		query_step(t, what);
		return;
	case TG_IDLE:
		idle_step(t);
		return;
	case TG_DOWN:
	case TG_RESOLVE:
		return;
	}
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct aq_target *t = arg;
	(void)fd;
	(void)what;
	util_tick();
	if (t->state == TG_QUERY)
		target_fail(t, "the query took longer than internal_query_timeout; the connection "
			       "is closed");
	else if (t->state == TG_RESOLVE || t->state == TG_CONNECT)
		target_fail(t, "connecting and logging in took longer than server_connect_timeout");
}

/* Do what the state allows: connect when look-ups wait, send the next one. */
static void target_advance(struct aq_target *t)
{
	if (list_empty(&t->queue))
		return;
	if (t->state == TG_DOWN)
		target_connect(t);
	else if (t->state == TG_IDLE && t->running == NULL)
		send_next(t);
}

static void on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	util_tick();
	target_advance(arg);
}

/* ------------------------------------------------------------------------ */
/* Targets                                                                    */
/* ------------------------------------------------------------------------ */

static bool target_is(const struct aq_target *t, const struct authquery_target *k)
{
	return str_eq(t->host, k->host) && t->port == k->port && str_eq(t->dbname, k->dbname) &&
	       str_eq(t->user, k->user);
}

static struct aq_target *target_get(struct authquery *aq, const struct authquery_target *k)
{
	struct list *it;
	for (it = aq->targets.next; it != &aq->targets; it = it->next) {
		struct aq_target *t = list_entry(it, struct aq_target, node);
		if (target_is(t, k))
			return t;
	}
	struct event_base *base = aq->rt->base;
	struct aq_target *t = xcalloc(1, sizeof(*t));
	t->aq = aq;
	t->host = xstrdup_null(k->host);
	t->port = k->port;
	t->dbname = xstrdup(k->dbname);
	t->user = xstrdup(k->user);
	snprintf(t->label, sizeof(t->label), "auth_query %s@%s:%d/%s", t->user,
		 t->host && t->host[0] ? t->host : DEFAULT_UNIX_DIR, t->port, t->dbname);
	t->ev_timer = evtimer_new(base, on_deadline, t);
	t->ev_kick = event_new(base, -1, 0, on_kick, t);
	if (t->ev_timer == NULL || t->ev_kick == NULL) {
		log_fatal("could not create the events of %s", t->label);
		abort(); /* as out of memory: nothing sensible is left to do */
	}
	list_init(&t->queue);
	list_add_tail(&aq->targets, &t->node);
	return t;
}

static void target_free(struct aq_target *t)
{
	target_disconnect(t);
	while (!list_empty(&t->queue)) { /* only at shutdown: their clients are gone */
		struct aq_req *r = list_entry(t->queue.next, struct aq_req, node);
		list_del(&r->node);
		while (!list_empty(&r->waiters)) {
			struct list *w = r->waiters.next;
			list_del(w);
			free(list_entry(w, struct authquery_wait, node));
		}
		req_free(r);
	}
	list_del(&t->node);
	event_free(t->ev_timer);
	event_free(t->ev_kick);
	str_wipe_free(t->password);
	free(t->host);
	free(t->dbname);
	free(t->user);
	free(t);
}

/* ------------------------------------------------------------------------ */
/* Public API                                                                 */
/* ------------------------------------------------------------------------ */

struct authquery *authquery_new(struct runtime *rt)
{
	struct authquery *aq = xcalloc(1, sizeof(*aq));
	aq->rt = rt;
	list_init(&aq->targets);
	return aq;
}

void authquery_free(struct authquery *aq)
{
	if (aq == NULL)
		return;
	while (!list_empty(&aq->targets)) {
		struct aq_target *t = list_entry(aq->targets.next, struct aq_target, node);
		if (t->running != NULL) { /* in flight: its waiters are gone with their clients */
			t->running->state = REQ_QUEUED;
			list_add_tail(&t->queue, &t->running->node);
			t->running = NULL;
		}
		target_free(t);
	}
	free(aq);
}

/* A queued look-up of the same user and query, to share. */
static struct aq_req *find_queued(struct aq_target *t, const char *user, const char *query)
{
	struct list *it;
	for (it = t->queue.next; it != &t->queue; it = it->next) {
		struct aq_req *r = list_entry(it, struct aq_req, node);
		if (strcmp(r->user, user) == 0 && strcmp(r->query, query) == 0)
			return r;
	}
	return NULL;
}

struct authquery_wait *authquery_lookup(struct authquery *aq, const struct authquery_target *k,
					const char *user, authquery_done_fn *cb, void *arg)
{
	struct aq_target *t = target_get(aq, k);
	if (!str_eq(t->password, k->password)) { /* takes effect at the next connect */
		str_wipe_free(t->password);
		t->password = xstrdup_null(k->password);
	}
	t->pw_source = k->pw_source;
	struct aq_req *r = find_queued(t, user, k->query);
	if (r == NULL) {
		r = xcalloc(1, sizeof(*r));
		r->target = t;
		r->user = xstrdup(user);
		r->query = xstrdup(k->query);
		list_init(&r->waiters);
		list_add_tail(&t->queue, &r->node);
	}
	struct authquery_wait *w = xcalloc(1, sizeof(*w));
	w->req = r;
	w->cb = cb;
	w->arg = arg;
	list_add_tail(&r->waiters, &w->node);
	event_active(t->ev_kick, EV_TIMEOUT, 0);
	return w;
}

void authquery_cancel(struct authquery_wait *w)
{
	struct aq_req *r = w->req;
	list_del(&w->node);
	free(w);
	/* a look-up nobody waits for is dropped unless already sent (its answer is then dropped) */
	if (r->state == REQ_QUEUED && list_empty(&r->waiters)) {
		list_del(&r->node);
		req_free(r);
	}
}

void authquery_janitor(struct authquery *aq, usec_t now)
{
	const struct config *cfg = aq->rt->cfg;
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &aq->targets) {
		struct aq_target *t = list_entry(it, struct aq_target, node);
		if (t->state == TG_IDLE &&
		    ((cfg->server_idle_timeout > 0 && now - t->since >= cfg->server_idle_timeout) ||
		     (cfg->server_lifetime > 0 && now - t->connected >= cfg->server_lifetime))) {
			log_event(LOG_DEBUG, "auth_query", "%s: closing the idle connection",
				  t->label);
			target_disconnect(t);
		}
		if (t->state == TG_DOWN && t->running == NULL && list_empty(&t->queue))
			target_free(t);
	}
}
