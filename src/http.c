/*
 * http: one struct http_conn per admin-port HTTP connection, in
 * rt->http_conns. Its cycle: read until a complete request head (at most
 * HTTP_MAX_HEAD bytes, within the request time limit), answer it, send the
 * answer, then either close or wait for the next request (keep-alive, within
 * the idle limit). Requests sent back to back are answered in order.
 */
#include "sluice/http.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sluice/http_parse.h"
#include "sluice/list.h"
#include "sluice/log.h"
#include "sluice/metrics.h"
#include "sluice/runtime.h"
#include "sluice/statuspage.h"
#include "sluice/util.h"

#define HTTP_MAX_HEAD        8192
#define HTTP_MAX_CONNS       256      /* more at once are answered 503 and closed */
#define HTTP_IDLE_USEC       30000000 /* a kept-alive connection with no request */
#define HTTP_DEFAULT_REQUEST 10000000 /* the head's time limit when client_login_timeout is 0 */

struct http_conn {
	struct list node; /* in rt->http_conns */
	struct runtime *rt;
	int fd;
	struct event *readable, *writable, *timer;
	char in[HTTP_MAX_HEAD];
	size_t in_len;
	struct pktbuf out; /* the answer being sent */
	size_t out_sent;
	bool head_only;   /* HEAD: the answer's head without its body */
	bool close_after; /* close once the answer is sent */
};

static void conn_free(struct http_conn *h)
{
	list_del(&h->node);
	h->rt->n_http--;
	event_free(h->readable);
	event_free(h->writable);
	event_free(h->timer);
	pktbuf_free(&h->out);
	close(h->fd);
	free(h);
}

static void arm_timer(struct http_conn *h, usec_t usec)
{
	struct timeval tv = { .tv_sec = usec / 1000000, .tv_usec = usec % 1000000 };
	event_add(h->timer, &tv);
}

static usec_t request_limit(const struct runtime *rt)
{
	return rt->cfg->client_login_timeout > 0 ? rt->cfg->client_login_timeout
						 : HTTP_DEFAULT_REQUEST;
}

/* --- answers --- */

static void respond(struct http_conn *h, int code, const char *reason, const char *ctype,
		    const void *body, size_t len, const char *extra_headers)
{
	char head[384];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
			 "Connection: %s\r\n\r\n",
			 code, reason, ctype, len, extra_headers,
			 h->close_after ? "close" : "keep-alive");
	pktbuf_reset(&h->out);
	h->out_sent = 0;
	pkt_put_bytes(&h->out, head, (size_t)n);
	if (body && !h->head_only)
		pkt_put_bytes(&h->out, body, len);
}

static void respond_text(struct http_conn *h, int code, const char *reason, const char *text)
{
	respond(h, code, reason, "text/plain; charset=utf-8", text, strlen(text), "");
}

/* An answer that ends the connection: the request could not be read. */
static void refuse(struct http_conn *h, int code, const char *reason, const char *text)
{
	h->close_after = true;
	h->head_only = false;
	respond_text(h, code, reason, text);
}

static void status_page(struct http_conn *h, bool fragment)
{
	struct pktbuf body;
	pktbuf_init(&body);
	statuspage_render(h->rt, &body, fragment);
	respond(h, 200, "OK", "text/html; charset=utf-8", body.data, body.len,
		"Cache-Control: no-store\r\n");
	pktbuf_free(&body);
}

static void route(struct http_conn *h, const char *method, char *path)
{
	char *q = strchr(path, '?');
	bool fragment = q && strcmp(q, "?fragment=1") == 0;
	if (q)
		*q = '\0';
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		static const char only_get[] = "only GET is supported\n";
		respond(h, 405, "Method Not Allowed", "text/plain; charset=utf-8", only_get,
			sizeof(only_get) - 1, "Allow: GET, HEAD\r\n");
	} else if (strcmp(path, "/healthz") == 0) {
		respond_text(h, 200, "OK", "ok\n");
	} else if (strcmp(path, "/readyz") == 0) {
		const char *why = NULL;
		if (metrics_ready(h->rt, &why))
			respond_text(h, 200, "OK", "ready\n");
		else
			respond_text(h, 503, "Service Unavailable", why);
	} else if (strcmp(path, "/") == 0 && h->rt->cfg->status_page) {
		status_page(h, fragment);
	} else if (strcmp(path, "/metrics") == 0) {
		struct pktbuf body;
		pktbuf_init(&body);
		metrics_render(h->rt, &body);
		respond(h, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body.data,
			body.len, "");
		pktbuf_free(&body);
	} else {
		respond_text(h, 404, "Not Found", "not found\n");
	}
}

/*
 * Answer the request whose head is in[0..head_len) (the empty line's CRLF
 * excluded) and drop it from in. A request with a body, which this responder
 * never reads, ends the connection after its answer.
 */
static void answer(struct http_conn *h, size_t head_len)
{
	const char *eol = memmem(h->in, head_len + 2, "\r\n", 2);
	size_t line_len = (size_t)(eol - h->in);
	char method[16], path[256];
	struct http_head hh;
	bool ok = http_parse_request_line(h->in, line_len, method, sizeof(method), path,
					  sizeof(path));
	bool http10 = ok && h->in[line_len - 1] == '0';
	const char *headers = h->in + line_len + 2;
	size_t headers_len = head_len > line_len ? head_len - line_len - 2 : 0;
	ok = ok && http_parse_headers(headers, headers_len, http10, &hh);
	size_t used = head_len + 4 <= h->in_len ? head_len + 4 : h->in_len;
	memmove(h->in, h->in + used, h->in_len - used);
	h->in_len -= used;
	if (!ok) {
		refuse(h, 400, "Bad Request", "malformed request\n");
		return;
	}
	h->head_only = strcmp(method, "HEAD") == 0;
	/* a pooler that is going away does not keep connections */
	h->close_after = !hh.keep_alive || hh.has_body || h->rt->phase != RUN_SERVING;
	route(h, method, path);
}

/* --- I/O --- */

static void next_request(struct http_conn *h);

/* Send what is left of the answer; then close, or go on with the next request. */
static void flush(struct http_conn *h)
{
	while (h->out_sent < h->out.len) {
		ssize_t n = send(h->fd, h->out.data + h->out_sent, h->out.len - h->out_sent,
				 MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			event_del(h->readable);
			event_add(h->writable, NULL);
			return;
		}
		if (n <= 0) {
			conn_free(h);
			return;
		}
		h->out_sent += (size_t)n;
	}
	event_del(h->writable);
	if (h->close_after) {
		shutdown(h->fd, SHUT_WR);
		conn_free(h);
		return;
	}
	pktbuf_reset(&h->out);
	next_request(h);
}

/* Answer a complete head if in holds one, else wait for more (or refuse a head too long). */
static void next_request(struct http_conn *h)
{
	const char *end = h->in_len >= 4 ? memmem(h->in, h->in_len, "\r\n\r\n", 4) : NULL;
	if (end == NULL && h->in_len == sizeof(h->in)) {
		refuse(h, 431, "Request Header Fields Too Large", "request head too large\n");
	} else if (end == NULL) {
		event_add(h->readable, NULL);
		if (h->in_len == 0)
			arm_timer(h,
				  HTTP_IDLE_USEC); /* keep-alive: until the next request begins */
		return;
	} else {
		answer(h, (size_t)(end - h->in));
	}
	arm_timer(h, request_limit(h->rt)); /* the answer must go out in time too */
	flush(h);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *h = arg;
	ssize_t n = recv(fd, h->in + h->in_len, sizeof(h->in) - h->in_len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_free(h);
		return;
	}
	util_tick();
	if (h->in_len == 0)
		arm_timer(h, request_limit(h->rt)); /* a request began: it has this long */
	h->in_len += (size_t)n;
	event_del(h->readable);
	next_request(h);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	flush(arg);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn *h = arg;
	log_debug("admin port: HTTP connection timed out, closing");
	conn_free(h);
}

void http_take(struct runtime *rt, int fd)
{
	struct http_conn *h = xcalloc(1, sizeof(*h));
	h->rt = rt;
	h->fd = fd;
	pktbuf_init(&h->out);
	list_add_tail(&rt->http_conns, &h->node);
	rt->n_http++;
	h->readable = event_new(rt->base, fd, EV_READ | EV_PERSIST, on_readable, h);
	h->writable = event_new(rt->base, fd, EV_WRITE | EV_PERSIST, on_writable, h);
	h->timer = evtimer_new(rt->base, on_timeout, h);
	if (h->readable == NULL || h->writable == NULL || h->timer == NULL) {
		log_warn("admin port: cannot watch an HTTP connection, closing it");
		conn_free(h);
		return;
	}
	if (rt->n_http > HTTP_MAX_CONNS) {
		refuse(h, 503, "Service Unavailable", "too many HTTP connections\n");
		flush(h);
		return;
	}
	arm_timer(h, request_limit(rt));
	event_add(h->readable, NULL);
}

void http_close_all(struct runtime *rt)
{
	while (!list_empty(&rt->http_conns))
		conn_free(list_entry(rt->http_conns.next, struct http_conn, node));
}
