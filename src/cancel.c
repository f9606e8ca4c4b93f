/*
 * cancel: forwards a client's CancelRequest to the server running its
 * query. Each forward is a tiny connection object: non-blocking connect,
 * one 16-byte packet, close. Owned by rt->cancels until done.
 */
#include "sluice/cancel.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sluice/client.h"
#include "sluice/log.h"
#include "sluice/pool.h"
#include "sluice/proto.h"
#include "sluice/runtime.h"
#include "sluice/server.h"
#include "sluice/util.h"

struct cancel {
	struct list node; /* in rt->cancels */
	struct runtime *rt;
	int fd;
	struct event *ev;
	uint8_t packet[16];
};

static void cancel_free(struct cancel *k)
{
	list_del(&k->node);
	if (k->ev)
		event_free(k->ev);
	if (k->fd >= 0)
		close(k->fd);
	free(k);
}

static void cancel_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct cancel *k = arg;
	if (what & EV_WRITE) {
		ssize_t n = send(k->fd, k->packet, sizeof(k->packet), MSG_NOSIGNAL);
		if (n != (ssize_t)sizeof(k->packet))
			log_debug("cancel forward failed: %s",
				  n < 0 ? strerror(errno) : "short write");
	} else {
		log_debug("cancel forward timed out");
	}
	cancel_free(k);
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

static void forward(struct runtime *rt, const struct server *s)
{
	struct cancel *k = xcalloc(1, sizeof(*k));
	k->rt = rt;
	list_add_tail(&rt->cancels, &k->node);
	struct pktbuf b;
	pktbuf_init(&b);
	proto_build_cancel(&b, s->be_pid, s->be_key);
	memcpy(k->packet, b.data, sizeof(k->packet));
	pktbuf_free(&b);
	k->fd = socket(s->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (k->fd < 0 || (connect(k->fd, (const struct sockaddr *)&s->addr, s->addrlen) < 0 &&
			  errno != EINPROGRESS)) {
		log_warn("cannot connect to forward a cancel request: %s", strerror(errno));
		cancel_free(k);
		return;
	}
	k->ev = event_new(rt->base, k->fd, EV_WRITE, cancel_on_write, k);
	usec_t t = rt->cfg->server_connect_timeout > 0 ? rt->cfg->server_connect_timeout : 15000000;
	struct timeval tv = { .tv_sec = t / 1000000, .tv_usec = t % 1000000 };
	if (k->ev == NULL || event_add(k->ev, &tv) < 0) {
		log_warn("cannot forward a cancel request: no event for its connection");
		cancel_free(k);
	}
}

void cancel_request(struct runtime *rt, uint32_t pid, uint32_t key)
{
	struct client *c = find_client(rt, pid, key);
	if (c == NULL || c->server == NULL || c->server->state != SV_ACTIVE) {
		log_debug("cancel request for pid %u: no matching active client", pid);
		return;
	}
	log_at(LOG_DEBUG, client_prefix(c), "forwarding cancel request");
	forward(rt, c->server);
}

void cancel_abort_all(struct runtime *rt)
{
	while (!list_empty(&rt->cancels))
		cancel_free(list_entry(rt->cancels.next, struct cancel, node));
}
