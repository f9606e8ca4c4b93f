/*
 * conn: socket I/O for clients and servers. The hot path is conn_recv and
 * conn_forward: one recv into the buffer, one send of everything framed.
 */
#include "sluice/conn.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void conn_init(struct conn *c, struct event_base *base, int fd, event_callback_fn on_read,
	       event_callback_fn on_write, void *arg)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	event_assign(&c->ev_read, base, fd, EV_READ | EV_PERSIST, on_read, arg);
	event_assign(&c->ev_write, base, fd, EV_WRITE | EV_PERSIST, on_write, arg);
	pktbuf_init(&c->out);
}

void conn_close(struct conn *c, struct iobuf_pool *bufs)
{
	conn_read_stop(c);
	conn_write_stop(c);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->in) {
		iobuf_put(bufs, c->in);
		c->in = NULL;
	}
	pktbuf_free(&c->out);
	c->out_sent = 0;
}

void conn_read_start(struct conn *c)
{
	if (!c->reading && c->fd >= 0) {
		event_add(&c->ev_read, NULL);
		c->reading = true;
	}
}

void conn_read_stop(struct conn *c)
{
	if (c->reading) {
		event_del(&c->ev_read);
		c->reading = false;
	}
}

void conn_write_start(struct conn *c)
{
	if (!c->writing && c->fd >= 0) {
		event_add(&c->ev_write, NULL);
		c->writing = true;
	}
}

void conn_write_stop(struct conn *c)
{
	if (c->writing) {
		event_del(&c->ev_write);
		c->writing = false;
	}
}

enum conn_io conn_recv(struct conn *c, struct iobuf_pool *bufs)
{
	if (c->in == NULL)
		c->in = iobuf_get(bufs);
	struct iobuf *b = c->in;
	if (b->end == b->cap)
		iobuf_compact(b);
	if (b->end == b->cap)
		return CONN_IO_FULL;
	for (;;) {
		ssize_t n = recv(c->fd, b->data + b->end, b->cap - b->end, 0);
		if (n > 0) {
			b->end += (uint32_t)n;
			c->bytes_in += (uint64_t)n;
			return CONN_IO_OK;
		}
		if (n == 0)
			return CONN_IO_EOF;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return CONN_IO_AGAIN;
		return CONN_IO_ERROR;
	}
}

void conn_release_buffer(struct conn *c, struct iobuf_pool *bufs)
{
	if (c->in && iobuf_drained(c->in) && c->pkt_remain == 0) {
		iobuf_put(bufs, c->in);
		c->in = NULL;
	}
}

enum conn_io conn_send(struct conn *c, const void *data, size_t len, size_t *sent)
{
	*sent = 0;
	while (*sent < len) {
		ssize_t n = send(c->fd, (const char *)data + *sent, len - *sent, MSG_NOSIGNAL);
		if (n > 0) {
			*sent += (size_t)n;
			c->bytes_out += (uint64_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return CONN_IO_AGAIN;
		return CONN_IO_ERROR;
	}
	return CONN_IO_OK;
}

enum conn_io conn_flush_out(struct conn *c)
{
	if (!conn_out_pending(c))
		return CONN_IO_OK;
	size_t sent;
	enum conn_io r = conn_send(c, c->out.data + c->out_sent, c->out.len - c->out_sent, &sent);
	c->out_sent += sent;
	if (c->out_sent == c->out.len) {
		pktbuf_reset(&c->out);
		c->out_sent = 0;
		if (c->out.cap > 65536)
			pktbuf_free(&c->out);
	}
	return r;
}

enum conn_io conn_forward(struct conn *src, struct conn *dst)
{
	enum conn_io r = conn_flush_out(dst);
	if (r != CONN_IO_OK)
		return r;
	struct iobuf *b = src->in;
	if (b == NULL || b->scan == b->start)
		return CONN_IO_OK;
	size_t sent;
	r = conn_send(dst, b->data + b->start, b->scan - b->start, &sent);
	b->start += (uint32_t)sent;
	if (b->start == b->end)
		b->start = b->scan = b->end = 0;
	return r;
}
