/*
 * conn: socket I/O for clients and servers. The hot path is conn_recv and
 * conn_forward: one recv into the buffer, one send of everything framed.
 */
#include "sluice/conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sluice/config.h"
#include "sluice/log.h"
#include "sluice/tls.h"
#include "sluice/util.h"

/*
 * A transport with a wait (TLS): readiness stands for the direction the
 * transport needs it for. Stashed bytes go out before the owner writes more;
 * bytes the transport still holds make the read run again.
 */
static void transport_event(struct conn *c, short what)
{
	bool rd = (what & EV_READ) != 0, wr = (what & EV_WRITE) != 0;
	bool send_ok = c->wait & CONN_WAIT_SEND_READ ? rd : wr;
	bool recv_ok = (c->wait & CONN_WAIT_RECV_WRITE ? wr : rd) || (c->wait & CONN_WAIT_PENDING);
	if (send_ok && (c->wait & CONN_WAIT_STASHED)) {
		enum conn_io r = c->ops->flush(c);
		if (r == CONN_IO_ERROR || r == CONN_IO_EOF) {
			c->error = errno ? errno : EPIPE; /* the owner's next read reports it */
			c->on_read(c->fd, EV_READ, c->arg);
			return;
		}
		send_ok = r == CONN_IO_OK;
		conn_update(c);
	}
	if (send_ok && c->writing) {
		c->on_write(c->fd, EV_WRITE, c->arg);
		if (c->fd < 0)
			return;
	}
	if (recv_ok && c->reading)
		c->on_read(c->fd, EV_READ, c->arg);
	if (c->fd >= 0 && c->reading && (c->wait & CONN_WAIT_PENDING))
		event_active(&c->ev, EV_READ, 0);
}

/* libevent calls this for either direction; dispatch to the owner's handlers. */
static void conn_on_event(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	util_tick();
	if (c->error) { /* its readiness could not be watched: the read reports the failure */
		c->on_read(fd, EV_READ, c->arg);
		return;
	}
	if (c->wait) {
		transport_event(c, what);
		return;
	}
	if ((what & EV_WRITE) && c->writing) {
		c->on_write(fd, EV_WRITE, c->arg);
		/* the write handler may have closed the connection */
		if (c->fd < 0 || !(what & EV_READ))
			return;
	}
	if ((what & EV_READ) && c->reading)
		c->on_read(fd, EV_READ, c->arg);
}

/* --- the plain transport --- */

static ssize_t plain_recv(struct conn *c, void *buf, size_t cap)
{
	ssize_t n;
	do
		n = recv(c->fd, buf, cap, 0);
	while (n < 0 && errno == EINTR);
	return n;
}

static ssize_t plain_send(struct conn *c, struct iovec *iov, int n_iov)
{
	ssize_t n;
	if (n_iov == 1) {
		do
			n = send(c->fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
		while (n < 0 && errno == EINTR);
		return n;
	}
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n_iov };
	do
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
}

static int plain_flush(struct conn *c)
{
	return CONN_IO_OK;
}

static void plain_shutdown(struct conn *c) {}

static const struct conn_ops plain_ops = {
	.name = "plain",
	.recv = plain_recv,
	.send = plain_send,
	.flush = plain_flush,
	.shutdown = plain_shutdown,
};

void conn_init(struct conn *c, struct event_base *base, int fd, event_callback_fn on_read,
	       event_callback_fn on_write, void *arg)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->on_read = on_read;
	c->on_write = on_write;
	c->arg = arg;
	c->ops = &plain_ops;
	event_assign(&c->ev, base, fd, EV_PERSIST, conn_on_event, c);
}

static void set_int(int fd, int level, int name, int value)
{
	(void)setsockopt(fd, level, name, &value, sizeof(value));
}

void conn_tune_tcp(int fd, const struct config *cfg)
{
	set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	if (cfg->tcp_keepalive) {
		set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1);
		if (cfg->tcp_keepidle > 0)
			set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, cfg->tcp_keepidle);
		if (cfg->tcp_keepintvl > 0)
			set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, cfg->tcp_keepintvl);
		if (cfg->tcp_keepcnt > 0)
			set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, cfg->tcp_keepcnt);
	}
	if (cfg->tcp_user_timeout > 0)
		set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, cfg->tcp_user_timeout);
	if (cfg->tcp_socket_buffer > 0) {
		set_int(fd, SOL_SOCKET, SO_SNDBUF, cfg->tcp_socket_buffer);
		set_int(fd, SOL_SOCKET, SO_RCVBUF, cfg->tcp_socket_buffer);
	}
}

void conn_set_fd(struct conn *c, int fd)
{
	c->fd = fd; /* conn_update assigns the event with it when a direction starts */
}

/* The event flags for what the owner wants, through the transport's wait. */
static short wanted_events(const struct conn *c)
{
	short want = 0;
	if (c->reading)
		want |= c->wait & CONN_WAIT_RECV_WRITE ? EV_WRITE : EV_READ;
	if (c->writing || (c->wait & CONN_WAIT_STASHED))
		want |= c->wait & CONN_WAIT_SEND_READ ? EV_READ : EV_WRITE;
	return want;
}

void conn_update(struct conn *c)
{
	short want = wanted_events(c);
	bool pending = c->reading && (c->wait & CONN_WAIT_PENDING);
	if (c->fd < 0)
		return;
	if (want != c->armed) {
		struct event_base *base = event_get_base(&c->ev);
		event_del(&c->ev); /* also when only activated: never re-assign an active event */
		event_assign(&c->ev, base, c->fd, (short)(want | EV_PERSIST), conn_on_event, c);
		c->armed = want;
		if (want && event_add(&c->ev, NULL) < 0) {
			/* rare (out of memory, epoll watch limit), and fatal for this connection:
			 * the owner learns it from its next read, run at once */
			c->error = errno ? errno : EIO;
			c->armed = 0;
			log_error("cannot watch socket %d: %s", c->fd, strerror(c->error));
			event_active(&c->ev, EV_READ, 0);
			return;
		}
	}
	if (pending)
		event_active(&c->ev, EV_READ, 0); /* decrypted bytes wait: no readiness will come */
}

void conn_close(struct conn *c, struct iobuf_pool *bufs)
{
	event_del(&c->ev); /* added, or only activated */
	c->armed = 0;
	c->reading = c->writing = false;
	c->ops->shutdown(c);
	c->ops = &plain_ops;
	c->wait = 0;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->in) {
		iobuf_put(bufs, c->in);
		c->in = NULL;
	}
	if (c->out) {
		pktbuf_free(&c->out->buf);
		free(c->out);
		c->out = NULL;
	}
}

struct pktbuf *conn_out_buf(struct conn *c)
{
	if (c->out == NULL) {
		c->out = xcalloc(1, sizeof(*c->out));
		pktbuf_init(&c->out->buf);
	}
	return &c->out->buf;
}

enum conn_io conn_recv(struct conn *c, struct iobuf_pool *bufs)
{
	if (c->error) {
		errno = c->error;
		return CONN_IO_ERROR;
	}
	if (c->in == NULL)
		c->in = iobuf_get(bufs);
	struct iobuf *b = c->in;
	if (b->end == b->cap)
		iobuf_compact(b);
	if (b->end == b->cap)
		return CONN_IO_FULL;
	uint8_t wait = c->wait;
	ssize_t n = c->ops->recv(c, b->data + b->end, b->cap - b->end);
	if (c->wait != wait)
		conn_update(c);
	if (n > 0) {
		b->end += (uint32_t)n;
		c->bytes_in += (uint64_t)n;
		return CONN_IO_OK;
	}
	if (n == 0)
		return CONN_IO_EOF;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return CONN_IO_AGAIN;
	return CONN_IO_ERROR;
}

bool conn_peek_byte(struct conn *c, uint8_t *byte)
{
	ssize_t n;
	do
		n = recv(c->fd, byte, 1, MSG_PEEK);
	while (n < 0 && errno == EINTR);
	return n == 1;
}

void conn_release_buffer(struct conn *c, struct iobuf_pool *bufs)
{
	if (c->in && iobuf_drained(c->in) && c->pkt_remain == 0) {
		iobuf_put(bufs, c->in);
		c->in = NULL;
	}
}

/* One transport send; re-arms the event when the transport's wait changed. */
static ssize_t transport_send(struct conn *c, struct iovec *iov, int n_iov)
{
	uint8_t wait = c->wait;
	ssize_t n = c->ops->send(c, iov, n_iov);
	if (c->wait != wait)
		conn_update(c);
	if (n > 0)
		c->bytes_out += (uint64_t)n;
	return n;
}

enum conn_io conn_send(struct conn *c, const void *data, size_t len, size_t *sent)
{
	*sent = 0;
	while (*sent < len) {
		struct iovec iov = { (void *)((uintptr_t)data + *sent), len - *sent };
		ssize_t n = transport_send(c, &iov, 1);
		if (n > 0) {
			*sent += (size_t)n;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return CONN_IO_AGAIN;
		return CONN_IO_ERROR;
	}
	/* bytes a transport took but could not write yet: the sender waits as for a full socket */
	return c->wait & CONN_WAIT_STASHED ? CONN_IO_AGAIN : CONN_IO_OK;
}

/* Everything queued in c->out went out: reset it (kept) or give it back. */
static void out_drained(struct conn *c)
{
	struct conn_out *o = c->out;
	if (c->keep_out && o->buf.cap <= CONN_KEEP_OUT_MAX) {
		pktbuf_reset(&o->buf);
		o->sent = 0;
		return;
	}
	pktbuf_free(&o->buf);
	free(o);
	c->out = NULL; /* idle connections keep none */
}

enum conn_io conn_flush_out(struct conn *c)
{
	if (!conn_out_pending(c))
		return CONN_IO_OK;
	struct conn_out *o = c->out;
	size_t sent;
	enum conn_io r = conn_send(c, o->buf.data + o->sent, o->buf.len - o->sent, &sent);
	o->sent += sent;
	if (o->sent == o->buf.len)
		out_drained(c);
	return r;
}

/* Queued bytes and a framed range in one send (one syscall, not two, when plain). */
static enum conn_io send_two(struct conn *dst, struct iobuf *b)
{
	struct conn_out *o = dst->out;
	struct iovec iov[2] = {
		{ o->buf.data + o->sent, o->buf.len - o->sent },
		{ b->data + b->start, b->scan - b->start },
	};
	ssize_t n = transport_send(dst, iov, 2);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? CONN_IO_AGAIN : CONN_IO_ERROR;
	size_t first = iov[0].iov_len < (size_t)n ? iov[0].iov_len : (size_t)n;
	o->sent += first;
	if (o->sent == o->buf.len)
		out_drained(dst);
	b->start += (uint32_t)((size_t)n - first);
	return CONN_IO_OK; /* the caller sends what is left the usual way */
}

enum conn_io conn_forward(struct conn *src, struct conn *dst)
{
	struct iobuf *b = src->in;
	if (conn_out_pending(dst)) { /* sluice's own bytes go first, with the range if any */
		enum conn_io r = CONN_IO_OK;
		if (b != NULL && b->scan > b->start)
			r = send_two(dst, b);
		if (r == CONN_IO_OK)
			r = conn_flush_out(dst);
		if (r != CONN_IO_OK)
			return r;
	}
	if (b == NULL || b->scan == b->start)
		return CONN_IO_OK;
	size_t sent;
	enum conn_io r = conn_send(dst, b->data + b->start, b->scan - b->start, &sent);
	b->start += (uint32_t)sent;
	if (b->start == b->end)
		b->start = b->scan = b->end = 0;
	return r;
}

const char *conn_strerror(const struct conn *c, int err)
{
	const char *why = c->tls ? tls_strerror(c) : NULL;
	return why ? why : strerror(err);
}
