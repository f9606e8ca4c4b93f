/*
 * sniff: one small object per admin-port connection that has sent nothing
 * yet, in rt->sniffs; it ends by handing the socket over (HTTP or console)
 * or closing it (end of file, error, time-out).
 */
#include "sluice/sniff.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sluice/client.h"
#include "sluice/http.h"
#include "sluice/list.h"
#include "sluice/log.h"
#include "sluice/runtime.h"
#include "sluice/util.h"

#define SNIFF_DEFAULT_TIMEOUT_USEC 10000000

struct sniff {
	struct list node; /* in rt->sniffs */
	struct runtime *rt;
	int fd;
	struct event *ev; /* readable, or the time-out */
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

static void sniff_free(struct sniff *s, bool close_fd)
{
	list_del(&s->node);
	if (s->ev)
		event_free(s->ev);
	if (close_fd)
		close(s->fd);
	free(s);
}

static void on_first_byte(evutil_socket_t fd, short what, void *arg)
{
	struct sniff *s = arg;
	struct runtime *rt = s->rt;
	unsigned char b;

	if (what & EV_TIMEOUT) {
		log_debug("admin port: nothing received in time, closing");
		sniff_free(s, true);
		return;
	}
	ssize_t n = recv(fd, &b, 1, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		sniff_free(s, true);
		return;
	}
	util_tick();
	struct sockaddr_storage addr = s->addr;
	sniff_free(s, false);
	if (b >= 'A' && b <= 'Z')
		http_take(rt, fd);
	else
		client_accept(rt, fd, (struct sockaddr *)&addr, false, true);
}

void sniff_start(struct runtime *rt, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	struct sniff *s = xcalloc(1, sizeof(*s));
	s->rt = rt;
	s->fd = fd;
	s->addrlen = addrlen <= sizeof(s->addr) ? addrlen : sizeof(s->addr);
	memcpy(&s->addr, addr, s->addrlen);
	list_add_tail(&rt->sniffs, &s->node);
	s->ev = event_new(rt->base, fd, EV_READ | EV_PERSIST, on_first_byte, s);
	usec_t t = rt->cfg->client_login_timeout > 0 ? rt->cfg->client_login_timeout
						     : SNIFF_DEFAULT_TIMEOUT_USEC;
	struct timeval tv = { .tv_sec = t / 1000000, .tv_usec = t % 1000000 };
	if (s->ev == NULL || event_add(s->ev, &tv) < 0) {
		log_warn("admin port: cannot watch a new connection, closing it");
		sniff_free(s, true);
	}
}

void sniff_abort_all(struct runtime *rt)
{
	while (!list_empty(&rt->sniffs))
		sniff_free(list_entry(rt->sniffs.next, struct sniff, node), true);
}
