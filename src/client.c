/*
 * client: the client-side state machine. Owns start-up (negotiation,
 * parameters, the CancelRequest entry point), the hand-over to auth, the
 * welcome, and the hot path that frames client messages and forwards them
 * to the linked server. Herding clients between pool lists happens in
 * client_set_state.
 */
#include "sluice/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "sluice/admin.h"
#include "sluice/cancel.h"
#include "sluice/clientauth.h"
#include "sluice/fingerprint.h"
#include "sluice/insight.h"
#include "sluice/log.h"
#include "sluice/pool.h"
#include "sluice/prepared.h"
#include "sluice/runtime.h"
#include "sluice/server.h"
#include "sluice/tls.h"
#include "sluice/util.h"

/* What a frontend message means to the pooler after log-in. */
enum fe_class {
	FE_INVALID = 0, /* not a frontend message: protocol violation */
	FE_COPY,        /* COPY data from the client: part of a request already counted */
	FE_EXTENDED,    /* Parse/Bind/Describe/Execute/Close/Flush: open until the next Sync */
	FE_REQUEST,     /* Query/Sync/FunctionCall: the server answers with one ReadyForQuery */
	FE_TERMINATE,   /* the client is leaving */
};

static const uint8_t fe_class[256] = {
	['Q'] = FE_REQUEST,   ['S'] = FE_REQUEST,  ['F'] = FE_REQUEST,  ['P'] = FE_EXTENDED,
	['B'] = FE_EXTENDED,  ['D'] = FE_EXTENDED, ['E'] = FE_EXTENDED, ['C'] = FE_EXTENDED,
	['H'] = FE_EXTENDED,  ['d'] = FE_COPY,     ['c'] = FE_COPY,     ['f'] = FE_COPY,
	['X'] = FE_TERMINATE,
};

static const char *const state_names[] = {
	[CL_LOGIN] = "login",     [CL_WAIT_LOGIN] = "wait_login", [CL_IDLE] = "idle",
	[CL_WAITING] = "waiting", [CL_ACTIVE] = "active",         [CL_CLOSED] = "closed",
};

const char *client_state_str(enum client_state st)
{
	return state_names[st];
}

static struct list *state_list(struct client *c, enum client_state st)
{
	struct pool *p = c->pool;
	if (c->is_admin && st != CL_CLOSED)
		return &c->rt->admin_clients;
	switch (st) {
	case CL_LOGIN:
		return &c->rt->login_clients;
	case CL_WAIT_LOGIN:
		return &p->wait_login_clients;
	case CL_IDLE:
		return &p->idle_clients;
	case CL_WAITING:
		return &p->waiting_clients;
	case CL_ACTIVE:
		return &p->active_clients;
	case CL_CLOSED:
		return &c->rt->free_clients;
	}
	return NULL;
}

void client_set_state(struct client *c, enum client_state st)
{
	enum client_state old = c->state;
	if (old == st)
		return;
	client_log(c, LOG_NOISE, "client_state", "state %s -> %s", state_names[old],
		   state_names[st]);
	list_del(&c->node);
	list_add_tail(state_list(c, st), &c->node);
	if (c->pool && !c->is_admin) {
		if (old >= CL_WAIT_LOGIN && old <= CL_ACTIVE)
			c->pool->cl_count[old]--;
		if (st >= CL_WAIT_LOGIN && st <= CL_ACTIVE)
			c->pool->cl_count[st]++;
	}
	c->state = st;
	c->state_since = util_now();
}

struct log_ctx client_log_ctx(const struct client *c, const char *event, const char *sqlstate)
{
	/* built on demand (only for lines that are logged): no per-client copy */
	return (struct log_ctx){
		.event = event,
		.kind = 'C',
		.id = (unsigned long long)c->id,
		.database = c->dbname,
		.user = c->user,
		.host = client_addr(c),
		.port = c->port,
		.sqlstate = sqlstate,
	};
}

static void client_on_read(evutil_socket_t fd, short what, void *arg);
static void client_on_write(evutil_socket_t fd, short what, void *arg);

/* Keep the peer address in binary; it is formatted only when shown. */
static void describe_peer(struct client *c, const struct sockaddr *sa, bool unix_socket)
{
	if (unix_socket || sa == NULL || sa->sa_family == AF_UNIX) {
		c->family = AF_UNIX;
		c->port = 0;
	} else if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		c->family = AF_INET;
		memcpy(c->addr, &in->sin_addr, 4);
		c->port = ntohs(in->sin_port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		c->family = AF_INET6;
		memcpy(c->addr, &in6->sin6_addr, 16);
		c->port = ntohs(in6->sin6_port);
	}
}

const char *client_addr(const struct client *c)
{
	static char text[INET6_ADDRSTRLEN];
	if (c->family == AF_UNIX)
		return "unix";
	inet_ntop(c->family, c->addr, text, sizeof(text));
	return text;
}

void client_accept(struct runtime *rt, int fd, const struct sockaddr *addr, bool unix_socket,
		   bool admin_port)
{
	struct client *c = xcalloc(1, sizeof(*c));
	c->rt = rt;
	c->via_admin_port = admin_port;
	c->id = ++rt->next_client_id;
	/* the pid clients see: a positive int4, unique among live clients in practice */
	c->cancel_pid = (uint32_t)(c->id % 0x7fffffff) + 1;
	c->cancel_key = cancel_new_key(rt->cfg);
	c->connect_time = util_now();
	c->connect_wall = util_wallclock();
	c->state_since = c->connect_time;
	describe_peer(c, addr, unix_socket);
	if (!unix_socket)
		conn_tune_tcp(fd, rt->cfg);
	conn_init(&c->conn, rt->base, fd, client_on_read, client_on_write, c);
	list_init(&c->node);
	c->state = CL_LOGIN;
	list_add_tail(&rt->login_clients, &c->node);
	rt->n_clients++;
	client_log(c, LOG_NOISE, "client_accept", "accepted");
	conn_read_start(&c->conn);
}

bool client_send_scratch(struct client *c)
{
	struct pktbuf *b = &c->rt->scratch;
	if (b->failed)
		return false;
	if (conn_out_pending(&c->conn)) {
		pkt_put_bytes(conn_out_buf(&c->conn), b->data, b->len);
		return true;
	}
	size_t sent;
	enum conn_io r = conn_send(&c->conn, b->data, b->len, &sent);
	if (r == CONN_IO_AGAIN) {
		pkt_put_bytes(conn_out_buf(&c->conn), b->data + sent, b->len - sent);
		conn_write_start(&c->conn);
		return true;
	}
	return r == CONN_IO_OK;
}

/*
 * The last words to a closing client: best effort, nothing waits for them to
 * drain. They go only behind complete messages: when what is queued cannot
 * be sent at once, the client is closed without them rather than receive an
 * error spliced into a half-sent message.
 */
static void send_error(struct client *c, const char *severity, const char *sqlstate,
		       const char *msg)
{
	if (c->state == CL_LOGIN && c->step == LOGIN_TLS)
		return; /* plain text would land inside the handshake */
	if (conn_flush_out(&c->conn) != CONN_IO_OK)
		return;
	if (c->server && !server_client_at_boundary(c->server))
		return;
	struct pktbuf *b = &c->rt->scratch;
	pktbuf_reset(b);
	proto_build_error(b, severity, sqlstate, msg);
	size_t sent;
	(void)conn_send(&c->conn, b->data, b->len, &sent);
}

void client_close(struct client *c, enum close_how how, const char *sqlstate, const char *reason)
{
	if (c->state == CL_CLOSED)
		return;
	struct runtime *rt = c->rt;
	bool logged_in = c->state != CL_LOGIN;
	if (how == CLOSE_ERROR)
		send_error(c, "FATAL", sqlstate, reason);
	if (logged_in ? rt->cfg->log_disconnections : rt->cfg->log_connections)
		log_at(LOG_INFO, client_log_ctx(c, "client_close", sqlstate),
		       "closing because: %s (age=%llds)", reason,
		       (long long)((util_now() - c->connect_time) / 1000000));
	if (c->server)
		server_unlink(c->server, true);
	clientauth_reset(c); /* also drops an auth_query look-up still waited for */
	conn_read_stop(&c->conn);
	conn_write_stop(&c->conn);
	if (c->pool)
		c->pool->n_clients--;
	client_set_state(c, CL_CLOSED);
	rt->n_clients--;
	runtime_schedule_reap(rt);
	if (rt->phase == RUN_DRAINING)
		runtime_check_drained(rt);
}

void client_forget_insight(struct client *c)
{
	insight_client_free(c->insight);
	c->insight = NULL;
}

void client_free(struct client *c)
{
	list_del(&c->node);
	conn_close(&c->conn, &c->rt->bufs);
	param_set_free(&c->params);
	prepared_client_free(c->rt->prepared, &c->prepared);
	clientauth_reset(c);
	free(c->last_query);
	insight_client_free(c->insight);
	free(c->admin_wait_db);
	free(c->startup);
	free(c->user);
	free(c->dbname);
	free(c);
}

/* --- start-up --- */

static void send_byte(struct client *c, char byte)
{
	size_t sent;
	if (conn_send(&c->conn, &byte, 1, &sent) != CONN_IO_OK)
		client_close(c, CLOSE_SILENT, NULL, "could not answer SSL/GSS negotiation");
}

static bool startup_param_ignored(struct client *c, const char *key)
{
	return config_list_has(c->rt->cfg->ignore_startup_parameters, key);
}

/* Apply start-up parameters; returns false after closing the client. */
static bool take_params(struct client *c, const struct proto_startup *s)
{
	char err[256];
	for (int i = 0; i < s->n; i++) {
		const char *k = s->keys[i];
		if (strcmp(k, "user") == 0 || strcmp(k, "database") == 0 ||
		    strncmp(k, "_pq_.", 5) == 0 || startup_param_ignored(c, k))
			continue;
		if (strcmp(k, "replication") == 0) {
			client_close(c, CLOSE_ERROR, "08P01",
				     "replication connections are not supported by sluice");
			return false;
		}
		if (!param_apply_startup(&c->params, k, s->values[i], err, sizeof(err))) {
			client_close(c, CLOSE_ERROR, "22023", err);
			return false;
		}
	}
	return true;
}

/* application_name_add_host: "app - addr:port" (the name "app" when the client
 * gave none), so pg_stat_activity shows which machine a pooled session is from. */
static void tag_application_name(struct client *c)
{
	if (!c->rt->cfg->application_name_add_host)
		return;
	const char *app = c->params.tracked[PARAM_APPLICATION_NAME];
	char tagged[512], err[128];
	if (c->family == AF_UNIX)
		snprintf(tagged, sizeof(tagged), "%s - unix", app ? app : "app");
	else
		snprintf(tagged, sizeof(tagged),
			 c->family == AF_INET6 ? "%s - [%s]:%d" : "%s - %s:%d", app ? app : "app",
			 client_addr(c), c->port);
	if (!param_apply_startup(&c->params, "application_name", tagged, err, sizeof(err)))
		client_log(c, LOG_WARNING, "client_param", "application_name_add_host: %s", err);
}

/* Answer a 3.x request newer than 3.0, or _pq_ options, as PostgreSQL does. */
static bool negotiate_version(struct client *c, const struct proto_startup *s, uint32_t minor)
{
	int n_opts = 0;
	for (int i = 0; i < s->n; i++)
		if (strncmp(s->keys[i], "_pq_.", 5) == 0)
			n_opts++;
	if (minor == 0 && n_opts == 0)
		return true;
	struct pktbuf *b = &c->rt->scratch;
	pktbuf_reset(b);
	pkt_begin(b, 'v');
	pkt_put_u32(b, 0);
	pkt_put_u32(b, (uint32_t)n_opts);
	for (int i = 0; i < s->n; i++)
		if (strncmp(s->keys[i], "_pq_.", 5) == 0)
			pkt_put_str(b, s->keys[i]);
	pkt_end(b);
	return client_send_scratch(c);
}

/* client_tls_sslmode require and above: TCP clients must use TLS (unix sockets need not). */
static bool tls_required(const struct client *c)
{
	return c->rt->cfg->client_tls_sslmode >= SSLMODE_REQUIRE && !conn_is_tls(&c->conn) &&
	       c->family != AF_UNIX;
}

static void handle_startup(struct client *c, const uint8_t *body, uint32_t len, uint32_t code)
{
	uint32_t major = code >> 16, minor = code & 0xffff;
	if (major != 3) {
		char msg[128];
		snprintf(msg, sizeof(msg),
			 "unsupported frontend protocol %u.%u: server supports 3.0 to 3.0", major,
			 minor);
		client_close(c, CLOSE_ERROR, "0A000", msg);
		return;
	}
	/* keep the packet: the parsed strings point into it */
	c->startup = xmalloc(len);
	memcpy(c->startup, body, len);
	struct proto_startup s;
	if (!proto_parse_startup((const uint8_t *)c->startup, len, &s)) {
		client_close(c, CLOSE_ERROR, "08P01", "invalid startup packet layout");
		return;
	}
	if (s.user == NULL || s.user[0] == '\0') {
		client_close(c, CLOSE_ERROR, "28000",
			     "no PostgreSQL user name specified in startup packet");
		return;
	}
	c->user = xstrdup(s.user);
	c->dbname = xstrdup(s.database && s.database[0] ? s.database : s.user);
	if (!take_params(c, &s) || !negotiate_version(c, &s, minor)) {
		if (c->state != CL_CLOSED)
			client_close(c, CLOSE_SILENT, NULL, "could not send to client");
		return;
	}
	tag_application_name(c);
	free(c->startup);
	c->startup = NULL;
	if (c->rt->cfg->log_connections) {
		char tls[TLS_DESCRIBE_LEN];
		tls_describe(&c->conn, tls, sizeof(tls));
		client_log(c, LOG_INFO, "client_login_attempt",
			   "login attempt: db=%s user=%s tls=%s", c->dbname, c->user,
			   tls[0] ? tls : "no");
	}
	if (tls_required(c)) {
		client_close(c, CLOSE_ERROR, "28000", "SSL required");
		return;
	}
	/* while draining, a login still in progress began before the listener closed:
	 * it goes on, and the drain closes the client once its first transaction is over */
	if (c->rt->n_clients > c->rt->cfg->max_client_conn) {
		client_close(c, CLOSE_ERROR, "53300",
			     "no more connections allowed (max_client_conn)");
		return;
	}
	clientauth_begin(c);
}

/* --- TLS --- */

static void client_read(struct client *c);

/* The handshake, run from both event handlers until it is done. */
static void login_tls(struct client *c)
{
	switch (tls_handshake(&c->conn)) {
	case CONN_IO_OK:
		c->rt->tls.client_handshakes++;
		c->step = LOGIN_STARTUP;
		client_read(c); /* the start-up packet may have come with the last flight */
		return;
	case CONN_IO_AGAIN:
		return;
	default:
		c->rt->tls.client_failures++;
		client_close(c, CLOSE_SILENT, NULL, conn_strerror(&c->conn, errno));
	}
}

static void start_tls(struct client *c, bool direct)
{
	if (!tls_accept_start(&c->conn, c->rt->tls_accept, direct)) {
		client_close(c, CLOSE_SILENT, NULL, "could not start TLS");
		return;
	}
	c->step = LOGIN_TLS;
	login_tls(c);
}

/*
 * SSLRequest with TLS on: 'S', then the handshake. Bytes already sent after
 * the request cannot be the client's (they would bypass TLS: CVE-2021-23214).
 */
static void accept_tls(struct client *c)
{
	struct iobuf *b = c->conn.in;
	if (b->end > b->scan) {
		client_close(c, CLOSE_ERROR, "08P01",
			     "received unencrypted data after SSL request");
		return;
	}
	b->start = b->scan = b->end = 0;
	send_byte(c, 'S');
	if (c->state != CL_CLOSED)
		start_tls(c, false);
}

/* A client whose first bytes are a TLS ClientHello (PostgreSQL 17's sslnegotiation=direct). */
static bool direct_tls(struct client *c)
{
	uint8_t first;
	if (c->rt->tls_accept == NULL || c->negotiations > 0 || c->conn.in != NULL ||
	    conn_is_tls(&c->conn) || !conn_peek_byte(&c->conn, &first) ||
	    !tls_looks_like_hello(&first, 1))
		return false;
	c->negotiations++;
	start_tls(c, true);
	return true;
}

static void handle_startup_packet(struct client *c, const uint8_t *body, uint32_t len,
				  uint32_t code)
{
	switch (code) {
	case PROTO_SSL_REQUEST:
	case PROTO_GSSENC_REQUEST:
		if (len != 4 || c->negotiations++ >= 2 || conn_is_tls(&c->conn)) {
			client_close(c, CLOSE_ERROR, "08P01", "invalid SSL/GSS negotiation");
			return;
		}
		if (code == PROTO_SSL_REQUEST && c->rt->tls_accept) {
			accept_tls(c);
			return;
		}
		send_byte(c, 'N');
		return;
	case PROTO_CANCEL_REQUEST:
		if (len == 12) {
			struct proto_reader r;
			proto_reader_init(&r, body + 4, 8);
			uint32_t pid = proto_get_u32(&r);
			uint32_t key = proto_get_u32(&r);
			cancel_request(c->rt, pid, key);
		}
		client_close(c, CLOSE_SILENT, NULL, "cancel request handled");
		return;
	default:
		handle_startup(c, body, len, code);
	}
}

/* Frame one start-up phase packet; false when more bytes are needed or the client closed. */
static bool login_startup_step(struct client *c)
{
	struct iobuf *b = c->conn.in;
	uint32_t len, code;
	switch (proto_frame_startup(b->data + b->scan, iobuf_unscanned(b), &len, &code)) {
	case PROTO_FRAME_NEED_MORE:
		return false;
	case PROTO_FRAME_BAD_LENGTH:
		/* as PostgreSQL: no reply to a packet that cannot be a start-up packet */
		client_close(c, CLOSE_SILENT, NULL, "invalid startup packet length");
		return false;
	case PROTO_FRAME_OK:
		break;
	}
	if (iobuf_unscanned(b) < len) {
		iobuf_reserve_message(b, len);
		return false;
	}
	const uint8_t *pkt = b->data + b->scan;
	b->scan += len;
	b->start = b->scan;
	handle_startup_packet(c, pkt + 4, len - 4, code);
	return true;
}

/* Frame one authentication message; false when more bytes are needed or the client closed. */
static bool login_auth_step(struct client *c)
{
	struct proto_msg m;
	const uint8_t *body;
	switch (iobuf_take_message(c->conn.in, CLIENTAUTH_MAX_MSG, &m, &body)) {
	case PROTO_FRAME_NEED_MORE:
		return false;
	case PROTO_FRAME_BAD_LENGTH:
		client_close(c, CLOSE_ERROR, "08P01",
			     "invalid message length during authentication");
		return false;
	case PROTO_FRAME_OK:
		break;
	}
	if (m.type != 'p') {
		client_close(c, CLOSE_ERROR, "08P01",
			     "expected a password response during authentication");
		return false;
	}
	clientauth_message(c, body, m.len);
	return true;
}

static void login_process(struct client *c)
{
	while (c->state == CL_LOGIN && c->step != LOGIN_LOOKUP && c->conn.in != NULL) {
		bool more = c->step == LOGIN_STARTUP ? login_startup_step(c) : login_auth_step(c);
		if (!more)
			break;
	}
	/* a client waiting for its next log-in message holds no buffer */
	if (c->state == CL_LOGIN || c->state == CL_WAIT_LOGIN)
		conn_release_buffer(&c->conn, &c->rt->bufs);
}

void client_login_resume(struct client *c)
{
	if (c->state != CL_LOGIN)
		return;
	conn_read_start(&c->conn);
	if (c->conn.in != NULL)
		login_process(c);
}

/* --- welcome --- */

/* AuthenticationOk .. ReadyForQuery; false after closing the client. */
static bool send_welcome(struct client *c)
{
	struct pool *p = c->pool;
	struct pktbuf *b = &c->rt->scratch;
	pktbuf_reset(b);
	pkt_put_bytes(b, p->welcome_fixed.data, p->welcome_fixed.len);
	for (int idx = 0; idx < PARAM_TRACKED; idx++) {
		int i = p->welcome_tracked[idx];
		if (i < 0)
			continue;
		const char *v =
			c->params.tracked[idx] ? c->params.tracked[idx] : p->welcome[i].value;
		proto_build_param_status(b, p->welcome[i].key, v);
	}
	proto_build_backend_key(b, c->cancel_pid, c->cancel_key);
	proto_build_ready(b, 'I');
	if (!client_send_scratch(c)) {
		client_close(c, CLOSE_SILENT, NULL, "could not send welcome");
		return false;
	}
	c->welcomed = true;
	if (c->rt->cfg->log_connections)
		client_log(c, LOG_INFO, "client_login", "login ok");
	return true;
}

/*
 * Session mode: the client keeps one server for its whole session, so it is
 * welcomed with that server's real backend pid (pg_backend_pid(), NOTIFY
 * pids and pg_terminate_backend then agree with what the client was told);
 * the welcome waits until the server is linked. Cancel requests still go
 * through sluice, matched by pid and sluice's own secret key.
 */
static bool welcome_linked(struct client *c)
{
	if (c->server == NULL || c->server->state != SV_ACTIVE)
		return false;
	c->cancel_pid = c->server->be_pid;
	return send_welcome(c);
}

void client_welcome(struct client *c)
{
	struct pool *p = c->pool;
	if (p->mode == POOL_MODE_SESSION) {
		if (pool_acquire(p, c) && c->server->state == SV_ACTIVE)
			client_resume(c);
		else if (c->state != CL_CLOSED)
			conn_release_buffer(&c->conn, &c->rt->bufs);
		return;
	}
	if (!send_welcome(c))
		return;
	client_set_state(c, CL_IDLE);
	if (c->conn.in && iobuf_unscanned(c->conn.in) > 0)
		client_resume(c);
	else
		conn_release_buffer(&c->conn, &c->rt->bufs);
}

/* --- the hot path: client -> server --- */

/* Send what has been framed to the server; false when the client is done for now. */
static inline bool flush_to_server(struct client *c)
{
	struct server *s = c->server;
	switch (relay_flush(&c->conn, &s->conn)) {
	case CONN_IO_OK:
		return true;
	case CONN_IO_AGAIN:
		return false; /* the client is read again once the server drains */
	default:
		server_close(s, "could not send to server");
		return false;
	}
}

/* The client has a message and no usable server: get one. False when it must wait. */
static bool need_server(struct client *c)
{
	if (c->server != NULL)
		return c->server->state == SV_ACTIVE;
	if (c->state == CL_WAITING)
		return false;
	return pool_acquire(c->pool, c) && c->server->state == SV_ACTIVE;
}

/* The NUL that ends a portal or statement name in p[0..n), or NULL; most names
 * drivers send are "" (the unnamed ones), so that is looked at first. */
static const void *end_of_name(const void *p, uint32_t n)
{
	return n > 0 && *(const char *)p == '\0' ? p : memchr(p, 0, n);
}

/* The body of message m (at scan), and in *avail how much of it the buffer holds. */
static const char *body_in(const struct client *c, const struct proto_msg *m, uint32_t *avail)
{
	const struct iobuf *b = c->conn.in;
	uint32_t n = iobuf_unscanned(b) - PROTO_HEADER_LEN;
	*avail = n < m->len ? n : m->len;
	return (const char *)b->data + b->scan + PROTO_HEADER_LEN;
}

/* How much of a Query's or Parse's text is kept: what query insight
 * fingerprints when it is on, else what SHOW ACTIVITY shows. */
static uint32_t text_window(const struct client *c)
{
	return c->rt->cfg->query_insight ? INSIGHT_TEXT_MAX : CLIENT_QUERY_TEXT_MAX;
}

/* Keep the text of a Query or Parse (never Bind's parameters), for SHOW
 * ACTIVITY and query insight. */
static void note_query_text(struct client *c, const struct proto_msg *m)
{
	uint32_t avail;
	const uint8_t *body = (const uint8_t *)body_in(c, m, &avail);
	const char *name = NULL;
	if (m->type == 'P') { /* skip the statement name */
		const uint8_t *nul = end_of_name(body, avail);
		if (nul == NULL)
			return;
		name = (const char *)body;
		avail -= (uint32_t)(nul + 1 - body);
		body = nul + 1;
	}
	uint32_t window = text_window(c);
	if (c->rt->cfg->query_insight &&
	    insight_text_again(c->rt->insight, c->rt->cfg, c, m->type, name, (const char *)body,
			       avail <= window ? avail : window + 1))
		return; /* the text before again, or but for a number: read where it lies */
	const uint8_t *nul = memchr(body, 0, avail);
	uint32_t len = nul ? (uint32_t)(nul - body) : avail;
	if (len > window)
		len = window;
	if (len + FP_ALIKE_PAD > c->last_query_cap) { /* room for a longer number too */
		c->last_query_cap = len + 4 * FP_ALIKE_PAD > 64 ? len + 4 * FP_ALIKE_PAD : 64;
		c->last_query = xrealloc(c->last_query, c->last_query_cap);
	}
	memcpy(c->last_query, body, len);
	memset(c->last_query + len, 0, FP_ALIKE_PAD); /* a NUL, and insight's padding */
	c->last_query_len = len;
	c->last_query_gen++;
	if (c->rt->cfg->query_insight)
		insight_text(c->rt->insight, c->rt->cfg, c, m->type, name);
}

/*
 * Is as much of a Query or Parse in the buffer as its text is noted by (the
 * whole message, or text_window bytes of text after a name)? Else room is
 * made for it: a text cut at a read boundary would be fingerprinted as
 * another statement.
 */
static bool query_text_in(const struct client *c, struct iobuf *b, const struct proto_msg *m)
{
	uint32_t need = m->total;
	if (need > PROTO_HEADER_LEN + text_window(c) + 256)
		need = PROTO_HEADER_LEN + text_window(c) + 256;
	if (iobuf_unscanned(b) >= need)
		return true;
	iobuf_reserve_message(b, need);
	return false;
}

/* A Bind: which statement the next Execute runs, for query insight. */
static void note_bind(struct client *c, const struct proto_msg *m)
{
	uint32_t avail;
	const char *body = body_in(c, m, &avail);
	const char *portal_end = end_of_name(body, avail);
	if (portal_end == NULL)
		return;
	const char *name = portal_end + 1;
	const char *name_end = end_of_name(name, avail - (uint32_t)(name - body));
	if (name_end != NULL)
		insight_bind(c, name, name_end + 1, avail - (uint32_t)(name_end + 1 - body));
}

/* A Close: of a statement, for query insight. */
static void note_close(struct client *c, const struct proto_msg *m)
{
	uint32_t avail;
	const char *body = body_in(c, m, &avail);
	if (avail >= 2 && body[0] == 'S' && end_of_name(body + 1, avail - 1) != NULL)
		insight_close(c, body + 1);
}

/* A message is going to the server: the times SHOW ACTIVITY and the stats report. */
static void note_sent(struct client *c, enum fe_class cls)
{
	if (cls == FE_COPY)
		return;
	usec_t now = util_now();
	if (relay_idle(&c->server->relay)) { /* the first message of an exchange */
		c->query_start = now;
		if (c->xact_start == 0)
			c->xact_start = now;
	}
	c->last_request = now;
}

/* A Query, Execute or Parse went to the server as x (NULL: it needs no answer
 * of its own there): query insight charges its statement. */
static void note_statement_sent(struct client *c, uint8_t type, struct relay_expect *x)
{
	if (c->insight && (type == 'Q' || type == 'E'))
		insight_sent(c->rt->insight, c->rt->cfg, c, x, c->server->relay.tx_status != 'I');
	else if (c->insight && type == 'P' && x != NULL)
		insight_parse_sent(c, x);
}

/* Bytes framed for the server, or queued for it (rewritten, injected). */
static bool to_server_pending(const struct client *c)
{
	return iobuf_pending(c->conn.in) > 0 || conn_out_pending(&c->server->conn);
}

/* Frame messages from scan on, as far as they can go to the server now. */
static void frame_client_messages(struct client *c)
{
	struct iobuf *b = c->conn.in;
	while (b->scan < b->end) {
		if (c->conn.pkt_remain > 0) {
			iobuf_pass_remaining(b, &c->conn.pkt_remain);
			continue;
		}
		struct proto_msg m;
		enum proto_frame_result fr = proto_frame(b->data + b->scan, iobuf_unscanned(b),
							 (uint32_t)c->rt->cfg->max_packet_size, &m);
		if (fr == PROTO_FRAME_NEED_MORE)
			return;
		if (fr == PROTO_FRAME_BAD_LENGTH) {
			client_close(c, CLOSE_ERROR, "08P01", "invalid message length");
			return;
		}
		enum fe_class cls = fe_class[m.type];
		if (cls == FE_INVALID) {
			char msg[64];
			snprintf(msg, sizeof(msg), "invalid frontend message type %d", m.type);
			client_close(c, CLOSE_ERROR, "08P01", msg);
			return;
		}
		if (cls == FE_TERMINATE) {
			if (c->server && to_server_pending(c))
				(void)flush_to_server(c);
			client_close(c, CLOSE_SILENT, NULL, "client sent Terminate");
			return;
		}
		if ((m.type == 'Q' || m.type == 'P') && !query_text_in(c, b, &m))
			return; /* the rest of its text comes with the next read */
		if (m.type == 'Q' || m.type == 'P')
			note_query_text(c, &m); /* also while it waits: SHOW ACTIVITY shows it */
		if (iobuf_pending(b) == 0 && !need_server(c))
			return;
		if (cls == FE_EXTENDED && c->insight) {
			if (m.type == 'B')
				note_bind(c, &m);
			else if (m.type == 'C')
				note_close(c, &m);
		}
		note_sent(c, cls);
		if (c->prepared_on && prepared_maybe(b, &m)) {
			enum prepared_verdict v = prepared_client_message(c, &m);
			if (v == PREP_MORE)
				return;
			if (v == PREP_DONE) {
				note_statement_sent(c, m.type, NULL);
				continue;
			}
		}
		uint32_t queued = c->server->relay.q.len;
		relay_client_message(&c->server->relay, &c->conn, &m);
		note_statement_sent(
			c, m.type,
			c->server->relay.q.len > queued ? relay_newest(&c->server->relay) : NULL);
	}
}

void client_resume(struct client *c)
{
	if (!c->welcomed && c->state != CL_CLOSED && !welcome_linked(c))
		return; /* session mode, still waiting for its server (its input stays buffered) */
	if (c->state == CL_CLOSED || c->conn.in == NULL) {
		if (c->state != CL_CLOSED)
			conn_read_start(&c->conn);
		return;
	}
	frame_client_messages(c);
	if (c->state == CL_CLOSED)
		return;
	struct server *s = c->server;
	if (s && to_server_pending(c) && !flush_to_server(c))
		return;
	conn_release_buffer(&c->conn, &c->rt->bufs);
	if (c->conn.in == NULL || c->conn.in->end < c->conn.in->cap || c->conn.in->start > 0)
		conn_read_start(&c->conn);
	else
		conn_read_stop(&c->conn);
	/* sluice's own answers (a Close, a DEALLOCATE) go out now; this may hand the server back */
	if (s && c->server == s && relay_answer_due(&s->relay))
		server_process(s);
}

static void client_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	if (c->state == CL_LOGIN && c->step == LOGIN_TLS)
		login_tls(c);
	else if (c->state != CL_LOGIN || c->step != LOGIN_STARTUP || !direct_tls(c))
		client_read(c);
}

static void client_read(struct client *c)
{
	uint64_t before = c->conn.bytes_in;
	switch (conn_recv(&c->conn, &c->rt->bufs)) {
	case CONN_IO_OK:
		if (c->pool)
			c->pool->stats.total.bytes_received += c->conn.bytes_in - before;
		break;
	case CONN_IO_AGAIN:
		return;
	case CONN_IO_FULL:
		conn_read_stop(&c->conn);
		return;
	case CONN_IO_EOF:
		client_close(c, CLOSE_SILENT, NULL, "client closed connection");
		return;
	case CONN_IO_ERROR: {
		char msg[256];
		snprintf(msg, sizeof(msg), "client read failed: %s",
			 conn_strerror(&c->conn, errno));
		client_close(c, CLOSE_SILENT, NULL, msg);
		return;
	}
	}
	if (c->state == CL_LOGIN)
		login_process(c);
	else if (c->is_admin)
		admin_process(c);
	else if (c->state != CL_WAIT_LOGIN)
		client_resume(c);
}

static void client_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	if (c->state == CL_LOGIN && c->step == LOGIN_TLS) {
		login_tls(c);
		return;
	}
	enum conn_io r = conn_flush_out(&c->conn);
	if (r == CONN_IO_AGAIN)
		return;
	if (r != CONN_IO_OK) {
		client_close(c, CLOSE_SILENT, NULL, "client write failed");
		return;
	}
	conn_write_stop(&c->conn);
	/* the server may have been held back by this client's socket */
	if (c->server)
		server_process(c->server);
}

/* --- after authentication --- */

bool client_wants_console(const struct client *c)
{
	return c->via_admin_port || admin_is_console_db(c->dbname);
}

void client_authenticated(struct client *c, const struct auth_proof *proof)
{
	struct runtime *rt = c->rt;
	if (client_wants_console(c)) {
		admin_login(c);
		return;
	}
	if (pool_db_disabled(rt, c->dbname)) {
		char msg[256];
		snprintf(msg, sizeof(msg), "database \"%s\" does not allow connections (DISABLE)",
			 c->dbname);
		client_close(c, CLOSE_ERROR, "55000", msg);
		return;
	}
	const struct config_db *db = config_find_db(rt->cfg, c->dbname);
	if (db == NULL) {
		char msg[256];
		snprintf(msg, sizeof(msg), "database \"%s\" does not exist", c->dbname);
		client_close(c, CLOSE_ERROR, "3D000", msg);
		return;
	}
	const char *login_user = db->user ? db->user : c->user;
	struct pool *p = pool_get(rt, c->dbname, login_user);
	if (proof->scram_keys && proof->client_key && db->user == NULL) {
		p->scram_keys = *proof->scram_keys;
		memcpy(p->scram_client_key, proof->client_key, SCRAM_KEY_LEN);
		p->have_scram_keys = true;
	}
	if (proof->lookup_secret && db->user == NULL)
		pool_set_lookup_secret(p, proof->lookup_secret);
	c->pool = p;
	c->prepared_on = p->mode != POOL_MODE_SESSION && rt->cfg->max_prepared_statements > 0;
	p->n_clients++;
	p->stats.total.client_connect_count++;
	if (p->have_params) {
		client_welcome(c);
		return;
	}
	client_set_state(c, CL_WAIT_LOGIN);
	pool_maintain(p);
}

void client_active_timeouts(struct client *c, usec_t now)
{
	const struct config *cfg = c->rt->cfg;
	struct server *s = c->server;
	if (s == NULL)
		return;
	if (server_request_open(s)) {
		if (cfg->query_timeout > 0 && c->query_start &&
		    now - c->query_start >= cfg->query_timeout)
			client_close(c, CLOSE_ERROR, "57014", "query_timeout");
		return;
	}
	usec_t quiet_since = c->last_request > c->state_since ? c->last_request : c->state_since;
	if (s->relay.tx_status != 'I') {
		if (cfg->idle_transaction_timeout > 0 &&
		    now - quiet_since >= cfg->idle_transaction_timeout)
			client_close(c, CLOSE_ERROR, "25P03", "idle_transaction_timeout");
		return;
	}
	if (cfg->client_idle_timeout > 0 && now - quiet_since >= cfg->client_idle_timeout)
		client_close(c, CLOSE_ERROR, "08P01", "client_idle_timeout");
}
