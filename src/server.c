/*
 * server: the server-side state machine. Connects and logs in to
 * PostgreSQL, runs sluice's own queries (connect_query, parameter sync,
 * rollback/reset, health check) with their replies swallowed, and on the hot
 * path frames server messages and forwards them to the linked client,
 * deciding from ReadyForQuery when the server can go back to the pool.
 */
#include "sluice/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

#include "sluice/client.h"
#include "sluice/dns.h"
#include "sluice/insight.h"
#include "sluice/log.h"
#include "sluice/pool.h"
#include "sluice/prepared.h"
#include "sluice/runtime.h"
#include "sluice/serverlogin.h"
#include "sluice/tls.h"
#include "sluice/util.h"

/* Largest message sluice itself reads whole from a server (log-in, own queries). */
#define SERVER_MAX_INSPECTED (1024 * 1024)

static const char *const state_names[] = {
	[SV_CONNECT] = "connect", [SV_TLS] = "tls",       [SV_LOGIN] = "login",
	[SV_SETUP] = "setup",     [SV_IDLE] = "idle",     [SV_TEST] = "test",
	[SV_SYNC] = "sync",       [SV_ACTIVE] = "active", [SV_RESET] = "reset",
	[SV_CLOSED] = "closed",
};

const char *server_state_str(enum server_state st)
{
	return state_names[st];
}

static bool is_opening(enum server_state st)
{
	return server_logging_in(st) || st == SV_SETUP;
}

static struct list *state_list(struct server *s, enum server_state st)
{
	struct pool *p = s->pool;
	switch (st) {
	case SV_IDLE:
		return &p->idle_servers;
	case SV_SYNC:
	case SV_ACTIVE:
		return &p->active_servers;
	case SV_CLOSED:
		return &s->rt->free_servers;
	default:
		return &p->other_servers;
	}
}

void server_set_state(struct server *s, enum server_state st)
{
	enum server_state old = s->state;
	if (old == st)
		return;
	server_log(s, LOG_NOISE, "server_state", "state %s -> %s", state_names[old],
		   state_names[st]);
	list_del(&s->node);
	if (st == SV_IDLE && !s->rt->cfg->server_round_robin)
		list_add_head(state_list(s, st), &s->node); /* LIFO: reuse the warmest */
	else
		list_add_tail(state_list(s, st), &s->node);
	if (is_opening(old) && !is_opening(st))
		s->pool->n_opening--;
	if (st == SV_CLOSED)
		s->pool->n_servers--;
	s->state = st;
	s->state_since = util_now();
	pool_note_busy(s->pool, s->state_since);
}

static void server_on_read(evutil_socket_t fd, short what, void *arg);
static void server_on_write(evutil_socket_t fd, short what, void *arg);

/* --- connecting --- */

/* The unix socket of host NULL, "" or "/dir"; false when the path does not fit. */
static bool unix_target(const struct pool *p, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_un *un = (struct sockaddr_un *)ss;
	un->sun_family = AF_UNIX;
	int n = snprintf(un->sun_path, sizeof(un->sun_path), "%s/.s.PGSQL.%d",
			 p->host && p->host[0] ? p->host : "/var/run/postgresql", p->port);
	*len = sizeof(*un);
	return n > 0 && (size_t)n < sizeof(un->sun_path);
}

static bool is_unix_host(const char *host)
{
	return host == NULL || host[0] == '/' || host[0] == '\0';
}

struct log_ctx server_log_ctx(const struct server *s, const char *event, const char *sqlstate)
{
	return (struct log_ctx){
		.event = event,
		.kind = 'S',
		.id = (unsigned long long)s->id,
		.database = s->pool->db_name,
		.user = s->pool->user,
		.host = s->pool->host ? s->pool->host : "unix",
		.port = s->pool->port,
		.sqlstate = sqlstate,
	};
}

static void begin_login(struct server *s)
{
	server_set_state(s, SV_LOGIN);
	conn_read_start(&s->conn);
	if (!serverlogin_start(s))
		server_close(s, "could not send startup packet");
}

/* TLS is asked for over TCP when server_tls_sslmode is not disable (never over unix sockets). */
static bool wants_tls(const struct server *s)
{
	return s->rt->tls_connect != NULL && s->addr.ss_family != AF_UNIX;
}

static void connect_done(struct server *s)
{
	conn_write_stop(&s->conn);
	if (!wants_tls(s)) {
		begin_login(s);
		return;
	}
	server_set_state(s, SV_TLS);
	conn_read_start(&s->conn);
	proto_build_ssl_request(conn_out_buf(&s->conn));
	enum conn_io r = conn_flush_out(&s->conn);
	if (r == CONN_IO_AGAIN)
		conn_write_start(&s->conn);
	else if (r != CONN_IO_OK)
		server_close(s, "could not send SSLRequest");
}

/* Drive the handshake; the log-in starts over TLS once it is done. */
static void tls_step(struct server *s)
{
	switch (tls_handshake(&s->conn)) {
	case CONN_IO_OK:
		s->rt->tls.server_handshakes++;
		begin_login(s);
		return;
	case CONN_IO_AGAIN:
		return;
	default: {
		char reason[256];
		s->rt->tls.server_failures++;
		snprintf(reason, sizeof(reason), "%s", conn_strerror(&s->conn, errno));
		server_log(s, LOG_WARNING, "server_tls_failed", "%s", reason);
		server_close(s, reason);
	}
	}
}

/*
 * The one-byte answer to SSLRequest. Nothing may follow it: bytes sent before
 * the handshake are not the server's (CVE-2021-23222), so they close it.
 */
static void tls_answer(struct server *s)
{
	struct iobuf *b = s->conn.in;
	if (b == NULL || b->end == b->start)
		return;
	char answer = (char)b->data[b->start];
	bool extra = b->end - b->start > 1;
	b->start = b->scan = b->end = 0;
	conn_release_buffer(&s->conn, &s->rt->bufs);
	if (extra || (answer != 'S' && answer != 'N')) {
		server_close(s, extra ? "server sent data after its answer to SSLRequest"
				      : "server sent an invalid answer to SSLRequest");
		return;
	}
	if (answer == 'N') {
		if (s->rt->cfg->server_tls_sslmode >= SSLMODE_REQUIRE) {
			server_close(s, "server does not support TLS, and server_tls_sslmode "
					"requires it");
			return;
		}
		begin_login(s);
		return;
	}
	if (!tls_connect_start(&s->conn, s->rt->tls_connect, s->pool->host)) {
		server_close(s, "could not start TLS");
		return;
	}
	tls_step(s);
}

/* The address is known: open the socket and start a non-blocking connect. */
static void start_connect(struct server *s)
{
	int fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		server_log(s, LOG_WARNING, "server_connect_failed", "cannot create socket: %s",
			   strerror(errno));
		server_close(s, "cannot create socket");
		return;
	}
	conn_set_fd(&s->conn, fd);
	if (s->addr.ss_family != AF_UNIX)
		conn_tune_tcp(fd, s->rt->cfg);
	server_log(s, LOG_DEBUG, "server_connect", "connecting");
	if (connect(fd, (struct sockaddr *)&s->addr, s->addrlen) == 0) {
		connect_done(s);
	} else if (errno == EINPROGRESS) {
		conn_write_start(&s->conn);
	} else {
		char reason[160];
		snprintf(reason, sizeof(reason), "connect failed: %s", strerror(errno));
		server_log(s, LOG_WARNING, "server_connect_failed", "%s", reason);
		server_close(s, reason);
	}
}

/* dns_done_fn: the host name of the pool resolved (or not). */
static void on_resolved(void *arg, bool ok, const struct sockaddr_storage *addr, socklen_t len,
			bool changed, const char *error)
{
	struct server *s = arg;
	s->dns_req = NULL;
	if (!ok) {
		char reason[256];
		snprintf(reason, sizeof(reason), "could not resolve host \"%s\": %s", s->pool->host,
			 error);
		server_log(s, LOG_WARNING, "server_dns_failed", "%s", reason);
		server_close(s, reason);
		return;
	}
	memcpy(&s->addr, addr, len);
	s->addrlen = len;
	uint16_t port = htons((uint16_t)s->pool->port);
	if (s->addr.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&s->addr)->sin6_port = port;
	else
		((struct sockaddr_in *)&s->addr)->sin_port = port;
	if (changed)
		pool_host_moved(s->rt, s->pool->host, &s->addr);
	start_connect(s);
}

struct server *server_connect(struct pool *p)
{
	struct runtime *rt = p->rt;
	struct server *s = xcalloc(1, sizeof(*s));
	s->rt = rt;
	s->pool = p;
	s->id = ++rt->next_server_id;
	s->generation = p->generation;
	s->connect_time = util_now();
	s->last_check = s->connect_time;
	s->relay.tx_status = 'I';
	list_init(&s->node);
	s->state = SV_CONNECT;
	list_add_tail(&p->other_servers, &s->node);
	p->n_servers++;
	p->n_opening++;
	rt->n_servers++;
	conn_init(&s->conn, rt->base, -1, server_on_read, server_on_write, s);
	s->conn.keep_out = true; /* rewritten and injected messages go through it often */

	if (is_unix_host(p->host)) {
		if (unix_target(p, &s->addr, &s->addrlen))
			start_connect(s);
		else
			server_close(s, "unix socket path too long");
	} else {
		/* numeric and cached: on_resolved runs before this returns */
		s->dns_req = dns_resolve(rt->dns, p->host, rt->cfg->dns_max_ttl, on_resolved, s);
	}
	return s->state == SV_CLOSED ? NULL : s;
}

static void connect_check(struct server *s)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(s->conn.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0) {
		connect_done(s);
		return;
	}
	char reason[160];
	snprintf(reason, sizeof(reason), "connect failed: %s", strerror(err));
	server_log(s, LOG_WARNING, "server_connect_failed", "%s", reason);
	server_close(s, reason);
}

/* --- closing --- */

void server_close(struct server *s, const char *reason)
{
	if (s->state == SV_CLOSED)
		return;
	struct runtime *rt = s->rt;
	struct client *c = s->client;
	if (c) {
		/* the client hears why, unless that would land inside a message or after a FATAL */
		bool tell = server_client_at_boundary(s);
		s->client = NULL;
		c->server = NULL;
		char msg[256];
		snprintf(msg, sizeof(msg), "server connection closed: %s", reason);
		client_close(c, tell ? CLOSE_ERROR : CLOSE_SILENT, "08006", msg);
	}
	server_log(s, server_logging_in(s->state) ? LOG_INFO : LOG_DEBUG, "server_close",
		   "closing because: %s (age=%llds)", reason,
		   (long long)((util_now() - s->connect_time) / 1000000));
	if (s->state == SV_IDLE && s->conn.fd >= 0) {
		struct pktbuf *b = &rt->scratch;
		pktbuf_reset(b);
		proto_build_terminate(b);
		size_t sent;
		(void)conn_send(&s->conn, b->data, b->len, &sent);
	}
	/* a connection that never got to log in counts for server_login_retry */
	if (server_logging_in(s->state) && s->pool->last_connect_failure < s->connect_time)
		pool_connect_failed(s->pool, reason);
	if (s->dns_req) {
		dns_cancel(s->dns_req);
		s->dns_req = NULL;
	}
	conn_read_stop(&s->conn);
	conn_write_stop(&s->conn);
	server_set_state(s, SV_CLOSED);
	s->pool->stats.total.server_closed_count++;
	s->pool->stats.total.server_lifetime += util_now() - s->connect_time;
	rt->n_servers--;
	runtime_schedule_reap(rt);
	pool_maintain(s->pool);
	if (rt->phase == RUN_DRAINING)
		runtime_check_drained(rt);
}

/* relay hook: a ParameterStatus reached the client. */
static void on_param(void *arg, const uint8_t *body, uint32_t len)
{
	server_param_status(arg, body, len, true);
}

/* relay hook: a CommandComplete tag starting with 'D' reached the client. */
static void on_complete(void *arg, const char *tag, uint32_t len)
{
	prepared_complete(arg, tag, len);
}

/* relay hooks with query insight on: what a 'D' tag closes, errors of the
 * client's statements, and (settle) their calls */
static void on_complete_insight(void *arg, const char *tag, uint32_t len)
{
	struct server *s = arg;
	insight_complete_d(s->client, tag, len);
	if (s->prepared || s->client->prepared)
		prepared_complete(s, tag, len);
}

static void on_error_insight(void *arg, const struct relay_expect *x, const char *sqlstate)
{
	struct server *s = arg;
	insight_error(s->client, x, sqlstate);
}

/* relay hook: an expectation prepared.c or query insight noted is done. */
static void on_settle(void *arg, struct relay_expect *x, bool ok, const char *sqlstate)
{
	struct server *s = arg;
	if (x->op == RELAY_OP_INSIGHT)
		insight_settle(s->rt->insight, s->rt->cfg, s->client, x, ok, sqlstate,
			       s->relay.rows);
	else
		prepared_settle(arg, x, ok, sqlstate);
}

static const struct relay_hooks hooks_plain = { on_param, NULL, on_settle, NULL, false };
static const struct relay_hooks hooks_prepared = { on_param, on_complete, on_settle, NULL, false };
static const struct relay_hooks hooks_insight = { on_param, on_complete_insight, on_settle,
						  on_error_insight, true };

/* DEALLOCATE ALL and DISCARD ALL are followed only while there are statements to forget;
 * completions and errors only for a client whose statements are counted. */
static const struct relay_hooks *hooks_of(const struct server *s)
{
	if (s->client && s->client->insight)
		return &hooks_insight;
	return s->prepared || (s->client && s->client->prepared) ? &hooks_prepared : &hooks_plain;
}

void server_free(struct server *s)
{
	list_del(&s->node);
	conn_close(&s->conn, &s->rt->bufs);
	param_set_free(&s->params);
	relay_free(&s->relay, &hooks_plain, s); /* settles prepared.c's notes before its set goes */
	prepared_server_free(s->rt->prepared, &s->prepared);
	serverlogin_free(s);
	free(s->internal_error);
	free(s);
}

/* --- sluice's own queries --- */

/* Send `sql` as one Query per NUL-separated statement list entry; n statements. */
static bool internal_query(struct server *s, const char *const *stmts, int n, enum server_state st)
{
	struct pktbuf *out = conn_out_buf(&s->conn);
	for (int i = 0; i < n; i++)
		proto_build_query(out, stmts[i]);
	s->internal_pending = n;
	s->internal_failed = false;
	free(s->internal_error);
	s->internal_error = NULL;
	server_set_state(s, st);
	enum conn_io r = conn_flush_out(&s->conn);
	if (r == CONN_IO_AGAIN)
		conn_write_start(&s->conn);
	return r == CONN_IO_OK || r == CONN_IO_AGAIN;
}

void server_check(struct server *s)
{
	const char *q = s->rt->cfg->server_check_query;
	if (!internal_query(s, &q, 1, SV_TEST))
		server_close(s, "could not send check query");
}

/* connect_query after a successful log-in. */
void server_login_done(struct server *s)
{
	pool_learn_params(s->pool, s);
	const char *q = s->pool->connect_query;
	if (q && q[0]) {
		if (!internal_query(s, &q, 1, SV_SETUP))
			server_close(s, "could not send connect_query");
		return;
	}
	s->last_check = util_now();
	pool_server_ready(s->pool, s);
}

/*
 * After a parameter sync the server holds the client's settings in its own
 * spelling ("UTF8" for "utf8", "ISO, MDY" for "iso, mdy"). The client adopts
 * it, so the next hand-over compares equal instead of syncing again.
 */
static void adopt_server_spelling(struct server *s, struct client *c)
{
	for (int i = 0; i < PARAM_TRACKED; i++)
		if (c->params.tracked[i] && s->params.tracked[i])
			param_set_tracked(&c->params, i, s->params.tracked[i]);
}

static void internal_done(struct server *s)
{
	struct client *c = s->client;
	switch (s->state) {
	case SV_SETUP:
	case SV_TEST:
	case SV_RESET:
		if (s->internal_failed) {
			server_close(s, s->state == SV_SETUP  ? "connect_query failed"
					: s->state == SV_TEST ? "server_check_query failed"
							      : "reset query failed");
			return;
		}
		if (s->state == SV_RESET && s->reset_discards) {
			param_clear_extra(&s->params);
			prepared_server_free(s->rt->prepared,
					     &s->prepared); /* DISCARD ALL dropped them */
		}
		s->last_check = util_now();
		pool_server_ready(s->pool, s);
		return;
	case SV_SYNC:
		if (s->internal_failed) {
			/* the client asked for settings PostgreSQL refuses: tell it, as a log-in failure */
			char msg[512];
			snprintf(msg, sizeof(msg), "could not apply client parameters: %s",
				 s->internal_error ? s->internal_error : "error");
			s->client = NULL;
			c->server = NULL;
			client_close(c, CLOSE_ERROR, "22023", msg);
			server_close(s, "parameter sync failed");
			return;
		}
		adopt_server_spelling(s, c);
		server_set_state(s, SV_ACTIVE);
		client_resume(c);
		return;
	default:
		return;
	}
}

/* A whole message while running our own query. */
static void internal_message(struct server *s, uint8_t type, const uint8_t *body, uint32_t len)
{
	switch (type) {
	case 'E': {
		struct proto_error_fields f;
		s->internal_failed = true;
		if (s->internal_error == NULL && proto_parse_error(body, len, &f) && f.message)
			s->internal_error = xstrdup(f.message);
		server_log(s, LOG_WARNING, "server_query_failed", "own query failed: %s",
			   s->internal_error ? s->internal_error : "(no message)");
		return;
	}
	case 'S':
		server_param_status(s, body, len, false);
		return;
	case 'Z':
		s->relay.tx_status = len >= 1 ? (char)body[0] : 'I';
		if (--s->internal_pending == 0)
			internal_done(s);
		return;
	default:
		return; /* CommandComplete, rows, notices: not for anyone */
	}
}

/* --- the hot path: server -> client --- */

void server_param_status(struct server *s, const uint8_t *body, uint32_t len, bool to_client)
{
	const char *key, *value;
	if (!proto_parse_param_status(body, len, &key, &value))
		return;
	int idx = param_tracked_index(key);
	if (idx < 0)
		return;
	param_set_tracked(&s->params, idx, value);
	if (to_client && s->client)
		param_set_tracked(&s->client->params, idx, value);
}

/* ReadyForQuery messages reached the client (RELAY_READY* bits): count them. */
static void note_ready(struct server *s, uint8_t seen)
{
	struct client *c = s->client;
	s->saw_ready = true;
	struct stats_counters *st = &s->pool->stats.total;
	usec_t now = util_now();
	if (relay_pending_ready(&s->relay) == 0 && c->query_start) {
		st->query_count++;
		st->query_time += now - c->query_start;
		if (c->insight)
			insight_done(c);
		c->query_start = 0;
	}
	if ((seen & RELAY_READY_IDLE) && s->relay.tx_status == 'I' && c->xact_start) {
		st->xact_count++;
		st->xact_time += now - c->xact_start;
		c->xact_start = 0;
	}
}

/* Process whole messages while sluice itself is the reader (log-in, own queries). */
static void consume_messages(struct server *s)
{
	while (s->state != SV_CLOSED && s->conn.in && iobuf_unscanned(s->conn.in) > 0) {
		enum server_state st = s->state;
		if (st != SV_LOGIN && st != SV_SETUP && st != SV_TEST && st != SV_SYNC &&
		    st != SV_RESET)
			return;
		struct proto_msg m;
		const uint8_t *body;
		enum proto_frame_result fr =
			iobuf_take_message(s->conn.in, SERVER_MAX_INSPECTED, &m, &body);
		if (fr == PROTO_FRAME_NEED_MORE)
			return;
		if (fr == PROTO_FRAME_BAD_LENGTH) {
			server_close(s, "invalid message length from server");
			return;
		}
		if (st == SV_LOGIN)
			serverlogin_message(s, m.type, body, m.len);
		else
			internal_message(s, m.type, body, m.len);
	}
}

bool server_request_open(const struct server *s)
{
	return s->state == SV_SYNC || !relay_idle(&s->relay);
}

/*
 * Is anything still between client and server: a request sent but not
 * answered, extended-protocol messages not yet closed by a Sync, or a message
 * half forwarded either way? Then the server cannot serve anyone else.
 */
static bool request_in_flight(const struct server *s, const struct client *c)
{
	if (server_request_open(s) || s->conn.pkt_remain > 0)
		return true;
	if (s->conn.in && !iobuf_drained(s->conn.in))
		return true;
	return c->conn.pkt_remain > 0 || (c->conn.in && iobuf_pending(c->conn.in) > 0);
}

static void after_ready(struct server *s)
{
	struct client *c = s->client;
	if (c->close_after_ready && s->relay.tx_status == 'I' && relay_idle(&s->relay)) {
		client_close(c, CLOSE_ERROR, "57P01",
			     "terminating connection: the pooler is shutting down");
		return;
	}
	if (s->pool->mode == POOL_MODE_STATEMENT && s->relay.tx_status != 'I') {
		client_close(c, CLOSE_ERROR, "08P01",
			     "transaction blocks not allowed in statement pooling mode");
		return;
	}
	if (s->pool->mode == POOL_MODE_SESSION || s->relay.tx_status != 'I')
		return;
	client_set_state(c, CL_IDLE);
	server_unlink(s, false);
	/* the client may already have sent its next request */
	if (c->conn.in && iobuf_unscanned(c->conn.in) > 0)
		client_resume(c);
}

/*
 * The server ended the session with FATAL and that error has reached the
 * client: nothing more goes to the client (PostgreSQL closes right after),
 * and the server is closed.
 */
static void end_after_fatal(struct server *s)
{
	struct client *c = s->client;
	char reason[96];
	snprintf(reason, sizeof(reason), "the server ended the session (FATAL %s)",
		 s->relay.fatal_sqlstate);
	s->client = NULL;
	c->server = NULL;
	client_close(c, CLOSE_SILENT, NULL, reason);
	server_close(s, reason);
}

static void forward_to_client(struct server *s)
{
	struct client *c = s->client;
	if (relay_server_input(&s->relay, &s->conn, &c->conn, hooks_of(s), s) != RELAY_OK) {
		server_close(s, "protocol violation from server");
		return;
	}
	if (s->relay.ready_seen) {
		note_ready(s, s->relay.ready_seen);
		s->relay.ready_seen = 0;
	}
	switch (relay_flush(&s->conn, &c->conn)) {
	case CONN_IO_OK:
		break;
	case CONN_IO_AGAIN:
		return;
	default:
		client_close(c, CLOSE_SILENT, NULL, "could not send to client");
		return;
	}
	if (s->relay.fatal && s->conn.pkt_remain == 0) {
		end_after_fatal(s);
		return;
	}
	conn_read_start(&s->conn);
	if (s->saw_ready) {
		bool release = !request_in_flight(s, s->client);
		s->saw_ready = false;
		if (release)
			after_ready(s);
	}
}

bool server_client_at_boundary(struct server *s)
{
	struct client *c = s->client;
	if (!relay_client_at_boundary(&s->conn, &c->conn))
		return false; /* a message is only half received: it can never be completed */
	return conn_flush_out(&c->conn) == CONN_IO_OK && !s->relay.fatal;
}

void server_process(struct server *s)
{
	switch (s->state) {
	case SV_ACTIVE:
		forward_to_client(s); /* also with nothing read: sluice's own answers may be due */
		break;
	case SV_LOGIN:
	case SV_SETUP:
	case SV_TEST:
	case SV_SYNC:
	case SV_RESET:
		consume_messages(s);
		break;
	case SV_TLS:
		tls_answer(s);
		return;
	case SV_IDLE:
		server_close(s, "unexpected message from idle server");
		return;
	default:
		return;
	}
	if (s->state != SV_CLOSED)
		conn_release_buffer(&s->conn, &s->rt->bufs);
}

static void server_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	if (s->state == SV_TLS && conn_is_tls(&s->conn)) {
		tls_step(s);
		return;
	}
	uint64_t before = s->conn.bytes_in;
	switch (conn_recv(&s->conn, &s->rt->bufs)) {
	case CONN_IO_OK:
		if (s->client)
			s->pool->stats.total.bytes_sent += s->conn.bytes_in - before;
		break;
	case CONN_IO_AGAIN:
		return;
	case CONN_IO_FULL:
		conn_read_stop(&s->conn);
		return;
	case CONN_IO_EOF:
		server_close(s, "server closed the connection unexpectedly");
		return;
	case CONN_IO_ERROR: {
		char msg[256];
		snprintf(msg, sizeof(msg), "server read failed: %s",
			 conn_strerror(&s->conn, errno));
		server_close(s, msg);
		return;
	}
	}
	server_process(s);
}

static void server_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	if (s->state == SV_CONNECT) {
		connect_check(s);
		return;
	}
	if (s->state == SV_TLS && conn_is_tls(&s->conn)) {
		tls_step(s);
		return;
	}
	enum conn_io r = conn_flush_out(&s->conn);
	if (r == CONN_IO_AGAIN)
		return;
	if (r != CONN_IO_OK) {
		char msg[256];
		snprintf(msg, sizeof(msg), "server write failed: %s",
			 conn_strerror(&s->conn, errno));
		server_close(s, msg);
		return;
	}
	conn_write_stop(&s->conn);
	if (s->client && s->state == SV_ACTIVE)
		client_resume(s->client);
}

/* --- linking --- */

void server_link(struct server *s, struct client *c)
{
	struct pool *p = s->pool;
	s->client = c;
	c->server = s;
	relay_reset(&s->relay, &hooks_plain, s);
	s->saw_ready = false;
	p->stats.total.server_assignment_count++;
	client_set_state(c, CL_ACTIVE);
	struct pktbuf sql;
	pktbuf_init(&sql);
	if (param_build_sync(&c->params, &p->defaults, &s->params, &sql)) {
		const char *q = (const char *)sql.data;
		bool ok = internal_query(s, &q, 1, SV_SYNC);
		pktbuf_free(&sql);
		if (!ok)
			server_close(s, "could not send parameter sync");
		return;
	}
	pktbuf_free(&sql);
	server_set_state(s, SV_ACTIVE);
}

static bool reset_discards(const char *q)
{
	return strcasestr(q, "DISCARD ALL") != NULL || strcasestr(q, "RESET ALL") != NULL;
}

void server_unlink(struct server *s, bool client_gone)
{
	struct client *c = s->client;
	const struct config *cfg = s->rt->cfg;
	s->client = NULL;
	c->server = NULL;
	if (client_gone && request_in_flight(s, c)) {
		server_close(s, "client left with a request in flight");
		return;
	}
	const char *stmts[2];
	int n = 0;
	if (s->relay.tx_status != 'I')
		stmts[n++] = "ROLLBACK";
	bool want_reset = cfg->server_reset_query && cfg->server_reset_query[0] &&
			  (s->pool->mode == POOL_MODE_SESSION || cfg->server_reset_query_always);
	if (want_reset)
		stmts[n++] = cfg->server_reset_query;
	s->reset_discards = want_reset && reset_discards(cfg->server_reset_query);
	if (n == 0) {
		pool_server_ready(s->pool, s);
		return;
	}
	if (!internal_query(s, stmts, n, SV_RESET))
		server_close(s, "could not send reset query");
}
