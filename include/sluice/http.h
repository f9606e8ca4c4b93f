/*
 * http: the HTTP side of the admin port: GET /metrics (Prometheus text
 * exposition), /healthz and /readyz. One request per connection; the
 * connection is closed after the response. Requests are parsed from the
 * client's buffer with strict limits so no input can stall the loop.
 */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

struct client;

/* The client's first bytes look like an HTTP request: parse and answer when complete. */
void http_process(struct client *c);

#endif
