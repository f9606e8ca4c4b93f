/*
 * dns: asynchronous name resolution with a small answer cache (see dns.h).
 */
#include "sluice/dns.h"

#include "sluice/list.h"
#include "sluice/log.h"
#include "sluice/util.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

struct dns_cached {
	struct list node;
	char *host;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	usec_t expires;
};

struct dns {
	struct event_base *base;
	struct evdns_base *evdns;
	struct list cache;   /* struct dns_cached; one per name, a handful at most */
	struct list pending; /* struct dns_req */
	int64_t queries;
};

struct dns_req {
	struct list node;
	struct dns *dns;
	struct evdns_getaddrinfo_request *ev; /* NULL until evdns_getaddrinfo returned */
	dns_done_fn *cb;                      /* NULL once cancelled */
	bool cancelled;
	void *arg;
	usec_t max_ttl;
	char host[];
};

struct dns *dns_new(struct event_base *base, const char *resolv_conf)
{
	struct dns *d = xcalloc(1, sizeof(*d));
	d->base = base;
	list_init(&d->cache);
	list_init(&d->pending);
	if (resolv_conf && resolv_conf[0]) {
		d->evdns = evdns_base_new(base, 0);
		if (d->evdns) {
			int rc = evdns_base_resolv_conf_parse(d->evdns, DNS_OPTIONS_ALL,
							      resolv_conf);
			if (rc != 0)
				log_warn(
					"resolv_conf %s: could not be read fully (evdns error %d); "
					"names may not resolve",
					resolv_conf, rc);
		}
	} else {
		d->evdns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	}
	if (d->evdns == NULL) {
		free(d);
		return NULL;
	}
	return d;
}

static struct dns_cached *cache_find(struct dns *d, const char *host)
{
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &d->cache) {
		struct dns_cached *e = list_entry(it, struct dns_cached, node);
		if (strcmp(e->host, host) == 0)
			return e;
	}
	return NULL;
}

/* Cache the address of host; true when it replaces a different one. */
static bool cache_put(struct dns *d, const char *host, const struct sockaddr *sa, socklen_t len,
		      usec_t max_ttl)
{
	struct dns_cached *e = cache_find(d, host);
	bool changed = e && (e->addrlen != len || memcmp(&e->addr, sa, len) != 0);
	if (e == NULL) {
		e = xcalloc(1, sizeof(*e));
		e->host = xstrdup(host);
		list_add_tail(&d->cache, &e->node);
	}
	memcpy(&e->addr, sa, len);
	e->addrlen = len;
	e->expires = util_now() + max_ttl;
	return changed;
}

static void req_free(struct dns_req *r)
{
	list_del(&r->node);
	free(r);
}

/* The first IPv4 address, else the first address: "localhost" and dual-stack
 * names then reach a server that listens on IPv4 only, as most do. */
static const struct evutil_addrinfo *pick(const struct evutil_addrinfo *res)
{
	for (const struct evutil_addrinfo *ai = res; ai; ai = ai->ai_next)
		if (ai->ai_family == AF_INET)
			return ai;
	return res;
}

static void on_answer(int result, struct evutil_addrinfo *res, void *arg)
{
	struct dns_req *r = arg;
	struct dns *d = r->dns;
	dns_done_fn *cb = r->cb;
	void *cb_arg = r->arg;
	struct sockaddr_storage ss;
	socklen_t len = 0;
	bool changed = false;
	const struct evutil_addrinfo *ai = result == 0 ? pick(res) : NULL;
	bool ok = ai != NULL && ai->ai_addrlen <= sizeof(ss);
	if (ok) {
		memset(&ss, 0, sizeof(ss));
		memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
		len = (socklen_t)ai->ai_addrlen;
		if (r->max_ttl > 0)
			changed = cache_put(d, r->host, (const struct sockaddr *)&ss, len,
					    r->max_ttl);
	}
	const char *error = ok ? NULL : result != 0 ? evutil_gai_strerror(result) : "no address";
	if (res)
		evutil_freeaddrinfo(res);
	req_free(r);
	if (cb != NULL && result != EVUTIL_EAI_CANCEL)
		cb(cb_arg, ok, ok ? &ss : NULL, len, changed, error);
}

/* A numeric IPv4 or IPv6 address: no lookup, nothing cached. */
static bool numeric(const char *host, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	if (evutil_inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		*len = sizeof(*in);
		return true;
	}
	if (evutil_inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		*len = sizeof(*in6);
		return true;
	}
	return false;
}

struct dns_req *dns_resolve(struct dns *d, const char *host, usec_t max_ttl, dns_done_fn *cb,
			    void *arg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	if (numeric(host, &ss, &len)) {
		cb(arg, true, &ss, len, false, NULL);
		return NULL;
	}
	struct dns_cached *e = cache_find(d, host);
	if (e && e->expires > util_now()) {
		cb(arg, true, &e->addr, e->addrlen, false, NULL);
		return NULL;
	}
	size_t n = strlen(host) + 1;
	struct dns_req *r = xcalloc(1, sizeof(*r) + n);
	memcpy(r->host, host, n);
	r->dns = d;
	r->cb = cb;
	r->arg = arg;
	r->max_ttl = max_ttl;
	list_add_tail(&d->pending, &r->node);
	d->queries++;
	struct evutil_addrinfo hints = { .ai_family = AF_UNSPEC,
					 .ai_socktype = SOCK_STREAM,
					 .ai_protocol = IPPROTO_TCP };
	/* NULL: on_answer already ran (numeric, hosts file, immediate error) and freed r */
	struct evdns_getaddrinfo_request *ev =
		evdns_getaddrinfo(d->evdns, host, NULL, &hints, on_answer, r);
	if (ev == NULL)
		return NULL;
	r->ev = ev;
	return r;
}

void dns_cancel(struct dns_req *r)
{
	r->cb = NULL;
	if (r->cancelled)
		return;
	r->cancelled = true;
	/* evdns answers a cancel from the loop: on_answer runs later with
	 * EVUTIL_EAI_CANCEL and frees r */
	evdns_getaddrinfo_cancel(r->ev);
}

void dns_free(struct dns *d)
{
	if (d == NULL)
		return;
	struct list *it, *tmp;
	list_for_each_safe (it, tmp, &d->pending)
		dns_cancel(list_entry(it, struct dns_req, node));
	/* let the cancellations be delivered, so evdns frees its side of them */
	for (int i = 0; i < 100 && !list_empty(&d->pending); i++)
		event_base_loop(d->base, EVLOOP_NONBLOCK);
	evdns_base_free(d->evdns, 0);
	while (!list_empty(&d->pending))
		req_free(list_entry(d->pending.next, struct dns_req, node));
	while (!list_empty(&d->cache)) {
		struct dns_cached *e = list_entry(d->cache.next, struct dns_cached, node);
		list_del(&e->node);
		free(e->host);
		free(e);
	}
	free(d);
}

void dns_counts(const struct dns *d, struct dns_counts *out)
{
	out->names = (int)list_length(&d->cache);
	out->queries = d->queries;
	out->pending = (int)list_length(&d->pending);
}
