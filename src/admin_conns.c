/*
 * admin_conns: the console's views of single connections: SHOW CLIENTS and
 * SHOW SERVERS (PgBouncer's columns) and SHOW ACTIVITY (pg_stat_activity's).
 */
#include "sluice/admin_conns.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "sluice/client.h"
#include "sluice/pool.h"
#include "sluice/prepared.h"
#include "sluice/runtime.h"
#include "sluice/server.h"
#include "sluice/tls.h"
#include "sluice/util.h"

#define B  PROTO_OID_BOOL
#define T  PROTO_OID_TEXT
#define I4 PROTO_OID_INT4
#define I8 PROTO_OID_INT8
#define TS PROTO_OID_TIMESTAMPTZ

/* --- CLIENTS, SERVERS --- */

const struct rs_column admin_sockets_cols[] = {
	{ "type", T },
	{ "user", T },
	{ "database", T },
	{ "replication", T },
	{ "state", T },
	{ "addr", T },
	{ "port", I4 },
	{ "local_addr", T },
	{ "local_port", I4 },
	{ "connect_time", TS },
	{ "request_time", TS },
	{ "wait", I4 },
	{ "wait_us", I4 },
	{ "close_needed", I4 },
	{ "ptr", T },
	{ "link", T },
	{ "remote_pid", I4 },
	{ "tls", T },
	{ "application_name", T },
	{ "prepared_statements", I4 },
	{ "id", I8 },
	{ NULL, 0 },
};

static void local_end(int fd, char *addr, size_t len, int *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	snprintf(addr, len, "unix");
	*port = 0;
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &in->sin_addr, addr, (socklen_t)len);
		*port = ntohs(in->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, addr, (socklen_t)len);
		*port = ntohs(in6->sin6_port);
	}
}

/* PgBouncer's tls column: "TLSv1.3/TLS_AES_256_GCM_SHA384/ECDH=X25519", "" for plain. */
static void tls_cell(struct rs *rs, const struct conn *c)
{
	char tls[TLS_DESCRIBE_LEN];
	tls_describe(c, tls, sizeof(tls));
	rs_str(rs, tls);
}

static const char *client_state_name(const struct client *c)
{
	switch (c->state) {
	case CL_ACTIVE:
		return "active";
	case CL_IDLE:
		return "idle";
	case CL_WAITING:
	case CL_WAIT_LOGIN:
		return "waiting";
	default:
		return "login";
	}
}

static void client_row(struct rs *rs, const struct client *c, usec_t now)
{
	char local[64], ptr[32], link[32];
	int lport;
	local_end(c->conn.fd, local, sizeof(local), &lport);
	usec_t wait =
		c->state == CL_WAITING || c->state == CL_WAIT_LOGIN ? now - c->state_since : 0;
	snprintf(ptr, sizeof(ptr), "%p", (const void *)c);
	snprintf(link, sizeof(link), "%p", (const void *)c->server);
	rs_str(rs, "C");
	rs_str(rs, c->user);
	rs_str(rs, c->dbname);
	rs_str(rs, "none");
	rs_str(rs, client_state_name(c));
	rs_str(rs, client_addr(c));
	rs_int(rs, c->port);
	rs_str(rs, local);
	rs_int(rs, lport);
	rs_time(rs, c->connect_wall);
	rs_time(rs, wall_of(c->last_request ? c->last_request : c->connect_time));
	rs_int(rs, wait / 1000000);
	rs_int(rs, wait % 1000000);
	rs_int(rs, 0);
	rs_str(rs, ptr);
	rs_str(rs, c->server ? link : NULL);
	rs_int(rs, 0);
	tls_cell(rs, &c->conn);
	const char *app = c->params.tracked[PARAM_APPLICATION_NAME];
	rs_str(rs, app ? app : "");
	rs_int(rs, prepared_client_count(c->prepared));
	rs_int(rs, (int64_t)c->id);
	rs_row(rs);
}

static void client_rows_of(struct rs *rs, const struct list *head, usec_t now)
{
	for (const struct list *it = head->next; it != head; it = it->next)
		client_row(rs, list_entry(it, struct client, node), now);
}

void admin_show_clients(struct runtime *rt, struct pktbuf *out)
{
	struct rs rs;
	struct pool *p;
	usec_t now = util_now();
	rs_begin(&rs, out, admin_sockets_cols);
	for_each_pool (p, rt) {
		client_rows_of(&rs, &p->active_clients, now);
		client_rows_of(&rs, &p->idle_clients, now);
		client_rows_of(&rs, &p->waiting_clients, now);
		client_rows_of(&rs, &p->wait_login_clients, now);
	}
	client_rows_of(&rs, &rt->admin_clients, now);
	rs_end(&rs);
}

static const char *server_state_name(const struct server *s)
{
	switch (s->state) {
	case SV_ACTIVE:
	case SV_SYNC:
		return "active";
	case SV_IDLE:
		return "idle";
	case SV_TEST:
	case SV_RESET:
		return "tested";
	default:
		return "new";
	}
}

static void server_row(struct rs *rs, const struct server *s)
{
	char local[64], remote[64], ptr[32], link[32];
	int lport, rport = s->pool->port;
	local_end(s->conn.fd, local, sizeof(local), &lport);
	snprintf(remote, sizeof(remote), "%s", s->pool->host ? s->pool->host : "unix");
	snprintf(ptr, sizeof(ptr), "%p", (const void *)s);
	snprintf(link, sizeof(link), "%p", (const void *)s->client);
	rs_str(rs, "S");
	rs_str(rs, s->pool->user);
	rs_str(rs, s->pool->db_name);
	rs_str(rs, "none");
	rs_str(rs, server_state_name(s));
	rs_str(rs, remote);
	rs_int(rs, rport);
	rs_str(rs, local);
	rs_int(rs, lport);
	rs_time(rs, wall_of(s->connect_time));
	rs_time(rs, wall_of(s->state_since));
	rs_int(rs, 0);
	rs_int(rs, 0);
	rs_int(rs, s->close_on_release || s->generation != s->pool->generation);
	rs_str(rs, ptr);
	rs_str(rs, s->client ? link : NULL);
	rs_int(rs, s->be_pid);
	tls_cell(rs, &s->conn);
	const char *app = s->client ? s->client->params.tracked[PARAM_APPLICATION_NAME] : NULL;
	rs_str(rs, app ? app : "");
	rs_int(rs, prepared_server_count(s->prepared));
	rs_int(rs, (int64_t)s->id);
	rs_row(rs);
}

static void server_rows_of(struct rs *rs, const struct list *head)
{
	for (const struct list *it = head->next; it != head; it = it->next)
		server_row(rs, list_entry(it, struct server, node));
}

void admin_show_servers(struct runtime *rt, struct pktbuf *out)
{
	struct rs rs;
	struct pool *p;
	rs_begin(&rs, out, admin_sockets_cols);
	for_each_pool (p, rt) {
		server_rows_of(&rs, &p->active_servers);
		server_rows_of(&rs, &p->idle_servers);
		server_rows_of(&rs, &p->other_servers);
	}
	rs_end(&rs);
}

/* --- ACTIVITY: sluice's pg_stat_activity --- */

const struct rs_column admin_activity_cols[] = {
	{ "client_id", I8 },
	{ "datname", T },
	{ "usename", T },
	{ "application_name", T },
	{ "client_addr", T },
	{ "client_port", I4 },
	{ "backend_start", TS },
	{ "xact_start", TS },
	{ "query_start", TS },
	{ "state_change", TS },
	{ "wait_event_type", T },
	{ "wait_event", T },
	{ "state", T },
	{ "server_pid", I4 },
	{ "query", T },
	{ "ssl", B },
	{ "ssl_version", T },
	{ "ssl_cipher", T },
	{ NULL, 0 },
};

const char *admin_activity_state(const struct client *c)
{
	if (c->state == CL_WAITING || c->state == CL_WAIT_LOGIN)
		return "waiting";
	const struct server *s = c->server;
	if (s == NULL)
		return "idle";
	if (server_request_open(s))
		return "active";
	if (s->relay.tx_status == 'E')
		return "idle in transaction (aborted)";
	return s->relay.tx_status == 'T' ? "idle in transaction" : "idle";
}

static void activity_row(struct rs *rs, const struct client *c)
{
	bool waiting = c->state == CL_WAITING || c->state == CL_WAIT_LOGIN;
	rs_int(rs, (int64_t)c->id);
	rs_str(rs, c->dbname);
	rs_str(rs, c->user);
	const char *app = c->params.tracked[PARAM_APPLICATION_NAME];
	rs_str(rs, app ? app : "");
	rs_str(rs, c->family == AF_UNIX ? NULL : client_addr(c));
	rs_int(rs, c->family == AF_UNIX ? -1 : c->port);
	rs_time(rs, c->connect_wall);
	rs_time(rs, wall_of(c->xact_start));
	rs_time(rs, wall_of(c->last_request));
	rs_time(rs, wall_of(c->state_since));
	rs_str(rs, waiting ? "Pooler" : NULL);
	rs_str(rs, waiting ? "ServerConnection" : NULL);
	rs_str(rs, admin_activity_state(c));
	if (c->server && c->server->be_pid)
		rs_int(rs, c->server->be_pid);
	else
		rs_str(rs, NULL);
	char shown[CLIENT_QUERY_TEXT_MAX + 1]; /* like track_activity_query_size */
	snprintf(shown, sizeof(shown), "%s", c->last_query ? c->last_query : "");
	rs_text(rs, shown);
	rs_str(rs, conn_is_tls(&c->conn) ? "t" : "f"); /* pg_stat_ssl's columns */
	rs_str(rs, tls_version(&c->conn));
	rs_str(rs, tls_cipher(&c->conn));
	rs_row(rs);
}

static void activity_rows_of(struct rs *rs, const struct list *head)
{
	for (const struct list *it = head->next; it != head; it = it->next)
		activity_row(rs, list_entry(it, struct client, node));
}

void admin_show_activity(struct runtime *rt, struct pktbuf *out)
{
	struct rs rs;
	struct pool *p;
	rs_begin(&rs, out, admin_activity_cols);
	for_each_pool (p, rt) {
		activity_rows_of(&rs, &p->active_clients);
		activity_rows_of(&rs, &p->waiting_clients);
		activity_rows_of(&rs, &p->wait_login_clients);
		activity_rows_of(&rs, &p->idle_clients);
	}
	rs_end(&rs);
}
