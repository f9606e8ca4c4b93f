/*
 * http: a minimal HTTP/1.x responder for probes and metrics. It accepts
 * only a complete request head of at most HTTP_MAX_HEAD bytes; anything else
 * is answered with 400/404/405/431 and the connection closed.
 */
#include "sluice/http.h"

#include <stdio.h>
#include <string.h>

#include "sluice/client.h"
#include "sluice/http_parse.h"
#include "sluice/metrics.h"
#include "sluice/runtime.h"

#define HTTP_MAX_HEAD 8192

static void respond(struct client *c, int code, const char *reason, const char *ctype,
		    const void *body, size_t len)
{
	if (c->http_head_only)
		body = NULL; /* HEAD: the headers of GET, no body */
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 code, reason, ctype, len);
	pkt_put_bytes(conn_out_buf(&c->conn), head, (size_t)n);
	if (body)
		pkt_put_bytes(conn_out_buf(&c->conn), body, len);
	client_close_after_flush(c, "HTTP request answered");
}

static void respond_text(struct client *c, int code, const char *reason, const char *text)
{
	respond(c, code, reason, "text/plain; charset=utf-8", text, strlen(text));
}

static void route(struct client *c, const char *method, char *path)
{
	char *q = strchr(path, '?');
	if (q)
		*q = '\0';
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		respond_text(c, 405, "Method Not Allowed", "only GET is supported\n");
		return;
	}
	if (strcmp(path, "/healthz") == 0) {
		respond_text(c, 200, "OK", "ok\n");
	} else if (strcmp(path, "/readyz") == 0) {
		const char *why = NULL;
		if (metrics_ready(c->rt, &why))
			respond_text(c, 200, "OK", "ready\n");
		else
			respond_text(c, 503, "Service Unavailable", why);
	} else if (strcmp(path, "/metrics") == 0) {
		struct pktbuf body;
		pktbuf_init(&body);
		metrics_render(c->rt, &body);
		respond(c, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body.data,
			body.len);
		pktbuf_free(&body);
	} else {
		respond_text(c, 404, "Not Found", "not found\n");
	}
}

void http_process(struct client *c)
{
	struct iobuf *b = c->conn.in;
	const char *data = (const char *)b->data;
	size_t len = b->end;
	const char *end = memmem(data, len, "\r\n\r\n", 4);
	if (end == NULL) {
		if (len >= HTTP_MAX_HEAD || len == b->cap)
			respond_text(c, 431, "Request Header Fields Too Large",
				     "request head too large\n");
		return; /* wait for the rest; client_login_timeout bounds the wait */
	}
	if ((size_t)(end - data) + 4 > HTTP_MAX_HEAD) {
		respond_text(c, 431, "Request Header Fields Too Large", "request head too large\n");
		return;
	}
	const char *eol = memmem(data, (size_t)(end - data) + 2, "\r\n", 2);
	char method[16], path[256];
	if (!http_parse_request_line(data, (size_t)(eol - data), method, sizeof(method), path,
				     sizeof(path))) {
		respond_text(c, 400, "Bad Request", "malformed request\n");
		return;
	}
	b->scan = b->start = b->end;
	c->http_head_only = strcmp(method, "HEAD") == 0;
	route(c, method, path);
}
