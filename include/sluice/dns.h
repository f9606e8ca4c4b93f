/*
 * dns: host names of [databases] entries resolved without blocking the event
 * loop (libevent's evdns, reading resolv.conf and the hosts file), with the
 * answers cached for dns_max_ttl as PgBouncer does (the record's own TTL is
 * not used). Numeric addresses and cached names are answered at once.
 */
#ifndef SLUICE_DNS_H
#define SLUICE_DNS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sluice/config.h"

struct event_base;
struct dns;
struct dns_req;

/* The answer: ok with an address (the first IPv4 one, else the first; port 0),
 * or !ok with a reason. changed: a fresh lookup gave another address than the
 * one cached before it (never when dns_max_ttl is 0: nothing is cached). */
typedef void dns_done_fn(void *arg, bool ok, const struct sockaddr_storage *addr, socklen_t addrlen,
			 bool changed, const char *error);

/* resolv_conf: a resolv.conf to read instead of the system's (NULL or ""). NULL on failure. */
struct dns *dns_new(struct event_base *base, const char *resolv_conf);
/* Cancels what is still pending (no callbacks) and frees everything. It runs
 * the event loop briefly for the cancellations: call it once nothing else
 * should run (sockets closed, timers and signals freed). */
void dns_free(struct dns *d);

/*
 * Resolve host. The callback runs exactly once, unless the request is
 * cancelled first. When the answer is known at once (a numeric address, a
 * cached name, an immediate failure) it runs before dns_resolve returns and
 * the result is NULL; otherwise it runs later from the event loop and the
 * result is the request, for dns_cancel.
 */
struct dns_req *dns_resolve(struct dns *d, const char *host, usec_t max_ttl, dns_done_fn *cb,
			    void *arg);
/* Drop a pending request: its callback will not run. Only before the callback ran. */
void dns_cancel(struct dns_req *r);

/* For SHOW LISTS: names in the cache, lookups started, lookups pending. */
struct dns_counts {
	int names;
	int64_t queries;
	int pending;
};
void dns_counts(const struct dns *d, struct dns_counts *out);

#endif
