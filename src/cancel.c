/*
 * cancel: forwards a client's CancelRequest to the server running its
 * query. Each forward is a tiny connection with its own steps: non-blocking
 * connect, the same TLS negotiation as the server connections (SSLRequest,
 * handshake) when server_tls_sslmode asks for it, one 16-byte packet, close.
 * Owned by rt->cancels until done; server_connect_timeout bounds it.
 */
#include "sluice/cancel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sluice/client.h"
#include "sluice/conn.h"
#include "sluice/log.h"
#include "sluice/pool.h"
#include "sluice/proto.h"
#include "sluice/runtime.h"
#include "sluice/server.h"
#include "sluice/tls.h"
#include "sluice/util.h"

enum cancel_step {
	K_CONNECT = 0, /* connect in progress */
	K_SSL_ANSWER,  /* SSLRequest sent, waiting for 'S' or 'N' */
	K_HANDSHAKE,   /* TLS handshake */
	K_SEND,        /* the CancelRequest is going out */
};

struct cancel {
	struct list node; /* in rt->cancels */
	struct runtime *rt;
	struct conn conn;
	struct event *timer;
	enum cancel_step step;
	char *host; /* the server's host, for TLS verification */
	uint8_t packet[16];
};

/*
 * Done: the socket and the timer go now, the memory at the reaper's next
 * run: this may be called from within the connection's own event callback,
 * which looks at the connection again after it returns.
 */
static void cancel_free(struct cancel *k)
{
	list_del(&k->node);
	if (k->timer)
		event_free(k->timer);
	k->timer = NULL;
	conn_close(&k->conn, &k->rt->bufs);
	list_add_tail(&k->rt->dead_cancels, &k->node);
	runtime_schedule_reap(k->rt);
}

void cancel_reap(struct runtime *rt)
{
	while (!list_empty(&rt->dead_cancels)) {
		struct cancel *k = list_entry(rt->dead_cancels.next, struct cancel, node);
		list_del(&k->node);
		free(k->host);
		free(k);
	}
}

static void give_up(struct cancel *k, const char *why)
{
	log_event(LOG_DEBUG, "cancel", "cancel forward failed: %s", why);
	cancel_free(k);
}

static void send_cancel(struct cancel *k)
{
	k->step = K_SEND;
	size_t sent;
	enum conn_io r = conn_send(&k->conn, k->packet, sizeof(k->packet), &sent);
	if (r == CONN_IO_OK) {
		cancel_free(k);
	} else if (r == CONN_IO_AGAIN && sent == sizeof(k->packet)) {
		conn_read_stop(&k->conn); /* taken by TLS: written when the socket allows */
		conn_write_start(&k->conn);
	} else { /* a 16-byte packet that does not fit into a fresh socket is a failure too */
		give_up(k, r == CONN_IO_AGAIN ? "socket full" : conn_strerror(&k->conn, errno));
	}
}

static void handshake(struct cancel *k)
{
	switch (tls_handshake(&k->conn)) {
	case CONN_IO_OK:
		send_cancel(k);
		return;
	case CONN_IO_AGAIN:
		return;
	default:
		give_up(k, conn_strerror(&k->conn, errno));
	}
}

/* 'S' starts TLS, 'N' sends in plain text unless the mode requires TLS. */
static void ssl_answer(struct cancel *k)
{
	uint8_t answer;
	ssize_t n = recv(k->conn.fd, &answer, 1, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n != 1) {
		give_up(k, n == 0 ? "server closed the connection" : strerror(errno));
		return;
	}
	if (answer == 'N' && k->rt->cfg->server_tls_sslmode < SSLMODE_REQUIRE) {
		send_cancel(k);
		return;
	}
	if (answer != 'S') {
		give_up(k, "server refused TLS");
		return;
	}
	k->step = K_HANDSHAKE;
	if (!tls_connect_start(&k->conn, k->rt->tls_connect, k->host)) {
		give_up(k, "could not start TLS");
		return;
	}
	handshake(k);
}

static void connected(struct cancel *k)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(k->conn.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		give_up(k, strerror(err));
		return;
	}
	if (k->host == NULL) {
		send_cancel(k);
		return;
	}
	uint8_t req[8];
	struct pktbuf b;
	pktbuf_init(&b);
	proto_build_ssl_request(&b);
	memcpy(req, b.data, sizeof(req));
	pktbuf_free(&b);
	size_t sent;
	if (conn_send(&k->conn, req, sizeof(req), &sent) != CONN_IO_OK) {
		give_up(k, "could not send SSLRequest");
		return;
	}
	k->step = K_SSL_ANSWER;
	conn_write_stop(&k->conn);
	conn_read_start(&k->conn);
}

static void cancel_on_event(struct cancel *k)
{
	switch (k->step) {
	case K_CONNECT:
		connected(k);
		return;
	case K_SSL_ANSWER:
		ssl_answer(k);
		return;
	case K_HANDSHAKE:
		handshake(k);
		return;
	case K_SEND:
		if (conn_flush_out(&k->conn) == CONN_IO_AGAIN || (k->conn.wait & CONN_WAIT_STASHED))
			return;
		cancel_free(k);
		return;
	}
}

static void cancel_on_read(evutil_socket_t fd, short what, void *arg)
{
	cancel_on_event(arg);
}

static void cancel_on_write(evutil_socket_t fd, short what, void *arg)
{
	cancel_on_event(arg);
}

static void cancel_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	give_up(arg, "server_connect_timeout");
}

/* The live client with this BackendKeyData, or NULL. Pids need not be unique
 * (session-mode clients carry their server's real pid, and backends of two
 * databases may share one); the random key tells them apart. */
static struct client *find_client(struct runtime *rt, uint32_t pid, uint32_t key)
{
	struct pool *p;
	for_each_pool (p, rt) {
		struct list *it;
		for (it = p->active_clients.next; it != &p->active_clients; it = it->next) {
			struct client *c = list_entry(it, struct client, node);
			if (c->cancel_pid == pid && c->cancel_key == key)
				return c;
		}
	}
	return NULL;
}

/*
 * Send CancelRequest(pid, key) to `sa` over a new connection, in TLS when
 * tls_host is not NULL (the name to verify).
 */
static void forward(struct runtime *rt, const struct sockaddr_storage *sa, socklen_t salen,
		    const char *tls_host, uint32_t pid, uint32_t key)
{
	struct cancel *k = xcalloc(1, sizeof(*k));
	k->rt = rt;
	list_add_tail(&rt->cancels, &k->node);
	conn_init(&k->conn, rt->base, -1, cancel_on_read, cancel_on_write, k);
	struct pktbuf b;
	pktbuf_init(&b);
	proto_build_cancel(&b, pid, key);
	memcpy(k->packet, b.data, sizeof(k->packet));
	pktbuf_free(&b);
	k->host = tls_host ? xstrdup(tls_host) : NULL;
	int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_event(LOG_WARNING, "cancel",
			  "cannot create a socket to forward a cancel request: %s",
			  strerror(errno));
		cancel_free(k);
		return;
	}
	conn_set_fd(&k->conn, fd);
	if (connect(fd, (const struct sockaddr *)sa, salen) < 0 && errno != EINPROGRESS) {
		log_event(LOG_WARNING, "cancel", "cannot connect to forward a cancel request: %s",
			  strerror(errno));
		cancel_free(k);
		return;
	}
	conn_write_start(&k->conn);
	k->timer = evtimer_new(rt->base, cancel_on_timeout, k);
	usec_t t = rt->cfg->server_connect_timeout > 0 ? rt->cfg->server_connect_timeout : 15000000;
	struct timeval tv = { .tv_sec = t / 1000000, .tv_usec = t % 1000000 };
	if (k->timer == NULL || evtimer_add(k->timer, &tv) < 0) {
		log_event(LOG_WARNING, "cancel",
			  "cannot forward a cancel request: no timer for its connection");
		cancel_free(k);
	}
}

/* To the server itself, as its own connection: TLS over TCP when server_tls_sslmode asks. */
static void forward_to_server(struct runtime *rt, const struct server *s)
{
	bool tls = conn_is_tls(&s->conn) ||
		   (rt->tls_connect && s->addr.ss_family != AF_UNIX && s->pool->host);
	forward(rt, &s->addr, s->addrlen, tls ? s->pool->host : NULL, s->be_pid, s->be_key);
}

/* The peer's address: its unix socket in a directory, or its IP address and port. */
static bool peer_address(const struct config_peer *peer, struct sockaddr_storage *sa,
			 socklen_t *len)
{
	memset(sa, 0, sizeof(*sa));
	if (peer->host[0] == '/') {
		struct sockaddr_un *un = (struct sockaddr_un *)sa;
		un->sun_family = AF_UNIX;
		int n = snprintf(un->sun_path, sizeof(un->sun_path), "%s/.s.PGSQL.%d", peer->host,
				 peer->port);
		*len = sizeof(*un);
		return n > 0 && (size_t)n < sizeof(un->sun_path);
	}
	struct sockaddr_in *in4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
	if (inet_pton(AF_INET, peer->host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)peer->port);
		*len = sizeof(*in4);
		return true;
	}
	if (inet_pton(AF_INET6, peer->host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)peer->port);
		*len = sizeof(*in6);
		return true;
	}
	return false; /* config load refuses such a host */
}

uint32_t cancel_new_key(const struct config *cfg)
{
	uint32_t r = util_random_u32();
	if (cfg->peer_id <= 0)
		return r;
	return ((uint32_t)cfg->peer_id << CANCEL_PEER_SHIFT) |
	       (r & ((1u << CANCEL_PEER_SHIFT) - 1));
}

/* A key another process issued goes, as it came, to that process. */
static void forward_to_peer(struct runtime *rt, int id, uint32_t pid, uint32_t key)
{
	const struct config_peer *peer = config_find_peer(rt->cfg, id);
	struct sockaddr_storage sa;
	socklen_t len;
	if (peer == NULL || !peer_address(peer, &sa, &len)) {
		log_debug("cancel request for pid %u: its key is of peer %d, not in [peers]", pid,
			  id);
		return;
	}
	log_debug("cancel request for pid %u: forwarding to peer %d", pid, id);
	forward(rt, &sa, len, NULL, pid, key);
}

void cancel_request(struct runtime *rt, uint32_t pid, uint32_t key)
{
	int peer = (int)(key >> CANCEL_PEER_SHIFT);
	if (rt->cfg->peer_id > 0 && peer != rt->cfg->peer_id) {
		forward_to_peer(rt, peer, pid, key);
		return;
	}
	struct client *c = find_client(rt, pid, key);
	if (c == NULL || c->server == NULL || c->server->state != SV_ACTIVE) {
		log_event(LOG_DEBUG, "cancel",
			  "cancel request for pid %u: no matching active client", pid);
		return;
	}
	client_log(c, LOG_DEBUG, "cancel", "forwarding cancel request");
	forward_to_server(rt, c->server);
}

void cancel_abort_all(struct runtime *rt)
{
	while (!list_empty(&rt->cancels))
		cancel_free(list_entry(rt->cancels.next, struct cancel, node));
	cancel_reap(rt);
}
