/*
 * listener: accepting sockets. TCP listeners for each address in
 * listen_addr, and a unix socket in unix_socket_dir, all through
 * evconnlistener; accepted sockets go to client_accept.
 */
#include "sluice/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/listener.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sluice/client.h"
#include "sluice/log.h"
#include "sluice/runtime.h"
#include "sluice/sniff.h"
#include "sluice/util.h"

struct listener {
	struct listener *next;
	struct runtime *rt;
	struct evconnlistener *ev;
	bool unix_socket;
	bool admin; /* admin_port: console and HTTP */
	char *path; /* unix socket file to remove on close */
	dev_t dev;  /* ... if it is still ours: a newer process (rolling */
	ino_t ino;  /* restart) may have put its own in its place */
};

static void on_accept(struct evconnlistener *ev, evutil_socket_t fd, struct sockaddr *addr, int len,
		      void *arg)
{
	struct listener *l = arg;
	(void)ev;
	(void)len;
	util_tick();
	if (l->admin)
		sniff_start(l->rt, fd, addr, (socklen_t)len);
	else
		client_accept(l->rt, fd, addr, l->unix_socket, false);
}

static void on_accept_error(struct evconnlistener *ev, void *arg)
{
	(void)ev;
	(void)arg;
	/* EMFILE and friends: libevent retries on the next readiness */
	log_event(LOG_WARNING, "accept_failed", "accept failed: %s", strerror(errno));
}

static bool add_listener(struct runtime *rt, const struct sockaddr *sa, socklen_t len,
			 bool unix_socket, bool admin, const char *what)
{
	unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE;
	if (rt->cfg->so_reuseport && !unix_socket)
		flags |= LEV_OPT_REUSEABLE_PORT;
	struct listener *l = xcalloc(1, sizeof(*l));
	l->rt = rt;
	l->unix_socket = unix_socket;
	l->admin = admin;
	l->ev = evconnlistener_new_bind(rt->base, on_accept, l, flags, rt->cfg->listen_backlog, sa,
					(int)len);
	if (l->ev == NULL) {
		log_event(LOG_ERROR, "listen_failed", "could not listen on %s: %s", what,
			  strerror(errno));
		free(l);
		return false;
	}
	evconnlistener_set_error_cb(l->ev, on_accept_error);
	l->next = rt->listeners;
	rt->listeners = l;
	log_event(LOG_INFO, "listen", "listening on %s", what);
	return true;
}

static bool open_tcp(struct runtime *rt, const char *addr, int port, bool admin)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);
	const char *host = strcmp(addr, "*") == 0 ? NULL : addr;
	if (host == NULL)
		hints.ai_family = AF_INET;
	int rc = getaddrinfo(host, portstr, &hints, &res);
	if (rc != 0) {
		log_error("could not resolve listen_addr %s: %s", addr, gai_strerror(rc));
		return false;
	}
	bool ok = true;
	for (struct addrinfo *ai = res; ai && ok; ai = ai->ai_next) {
		char what[128];
		snprintf(what, sizeof(what), "%s:%d%s", addr, port, admin ? " (admin)" : "");
		ok = add_listener(rt, ai->ai_addr, ai->ai_addrlen, false, admin, what);
	}
	freeaddrinfo(res);
	return ok;
}

static bool open_unix(struct runtime *rt, const char *dir, int port)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	int n = snprintf(un.sun_path, sizeof(un.sun_path), "%s/.s.PGSQL.%d", dir, port);
	if (n < 0 || (size_t)n >= sizeof(un.sun_path)) {
		log_error("unix_socket_dir too long: %s", dir);
		return false;
	}
	unlink(un.sun_path); /* a stale socket from a previous run */
	if (!add_listener(rt, (struct sockaddr *)&un, sizeof(un), true, false, un.sun_path))
		return false;
	rt->listeners->path = xstrdup(un.sun_path);
	struct stat st;
	if (stat(un.sun_path, &st) == 0) {
		rt->listeners->dev = st.st_dev;
		rt->listeners->ino = st.st_ino;
	}
	chmod(un.sun_path, (mode_t)rt->cfg->unix_socket_mode);
	return true;
}

/* TCP listeners on each address of a comma-separated list. */
static bool open_tcp_list(struct runtime *rt, const char *addrs, int port, bool admin)
{
	char *list = xstrdup(addrs);
	char *save = NULL;
	bool ok = true;
	for (char *a = strtok_r(list, ", ", &save); a && ok; a = strtok_r(NULL, ", ", &save))
		ok = open_tcp(rt, a, port, admin);
	free(list);
	return ok;
}

/*
 * Closing a listener of a SO_REUSEPORT group resets the connections queued
 * on it unless the kernel migrates them to another member of the group.
 */
static void check_migrate_req(void)
{
	char v = '?';
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_migrate_req", "r");
	if (f != NULL) {
		v = (char)fgetc(f);
		fclose(f);
	}
	if (v != '1')
		log_warn("so_reuseport: net.ipv4.tcp_migrate_req is not 1: when this process "
			 "stops listening, connections still queued on its socket are reset "
			 "instead of handed to the process that takes over");
}

bool listener_open_all(struct runtime *rt)
{
	const struct config *cfg = rt->cfg;
	if (cfg->so_reuseport)
		check_migrate_req();
	if (cfg->listen_addr && cfg->listen_addr[0] &&
	    !open_tcp_list(rt, cfg->listen_addr, cfg->listen_port, false))
		return false;
	if (cfg->unix_socket_dir && cfg->unix_socket_dir[0] &&
	    !open_unix(rt, cfg->unix_socket_dir, cfg->listen_port))
		return false;
	const char *admin_addr = cfg->admin_listen_addr ? cfg->admin_listen_addr : cfg->listen_addr;
	if (cfg->admin_port > 0 && admin_addr && admin_addr[0] &&
	    !open_tcp_list(rt, admin_addr, cfg->admin_port, true))
		return false;
	return true;
}

void listener_set_main_enabled(struct runtime *rt, bool on)
{
	for (struct listener *l = rt->listeners; l; l = l->next) {
		if (l->admin)
			continue;
		if (on)
			evconnlistener_enable(l->ev);
		else
			evconnlistener_disable(l->ev);
	}
}

void listener_close_main(struct runtime *rt)
{
	struct listener **pp = &rt->listeners;
	while (*pp) {
		struct listener *l = *pp;
		if (l->admin) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		evconnlistener_free(l->ev);
		struct stat st;
		if (l->path && stat(l->path, &st) == 0 && st.st_dev == l->dev &&
		    st.st_ino == l->ino)
			unlink(l->path);
		free(l->path);
		free(l);
	}
}

void listener_close_all(struct runtime *rt)
{
	listener_close_main(rt);
	while (rt->listeners) {
		struct listener *l = rt->listeners;
		rt->listeners = l->next;
		evconnlistener_free(l->ev);
		free(l);
	}
}
