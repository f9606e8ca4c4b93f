/*
 * http: the HTTP side of the admin port: GET and HEAD of /metrics (Prometheus
 * text exposition), /healthz and /readyz. A connection is its own small
 * object, not a client: the admin listener hands over sockets whose first byte
 * says HTTP (sniff.c). HTTP/1.1 keep-alive for scrapers; strict limits on the
 * request head, and time limits on its arrival and on idle connections, so no
 * input can stall the loop.
 */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

struct runtime;

/* Serve accepted socket fd (ownership passes in). */
void http_take(struct runtime *rt, int fd);

/* Close every HTTP connection (shutdown). */
void http_close_all(struct runtime *rt);

#endif
