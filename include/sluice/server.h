/*
 * server: one connection from sluice to PostgreSQL. Its life: connect,
 * log in, then idle in its pool / linked to a client / running sluice's own
 * queries (connect_query, parameter sync, reset, health check), until closed.
 */
#ifndef SLUICE_SERVER_H
#define SLUICE_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sluice/config.h"
#include "sluice/conn.h"
#include "sluice/list.h"
#include "sluice/log.h"
#include "sluice/params.h"
#include "sluice/relay.h"

struct runtime;
struct pool;
struct client;
struct dns_req;
struct scram_client;
struct prepared_server;

enum server_state {
	SV_CONNECT = 0, /* TCP/unix connect in progress */
	SV_TLS,         /* SSLRequest sent, waiting for 'S'/'N'; then the TLS handshake */
	SV_LOGIN,       /* start-up sent; authenticating until the first ReadyForQuery */
	SV_SETUP,       /* running connect_query after log-in */
	SV_IDLE,        /* in its pool, free for a client */
	SV_TEST,        /* idle too long: running server_check_query */
	SV_SYNC,        /* linked; applying the client's parameters (replies swallowed) */
	SV_ACTIVE,      /* linked; forwarding both ways */
	SV_RESET,       /* unlinked; rolling back / running server_reset_query */
	SV_CLOSED,      /* gone; on the runtime's free list */
};

struct server {
	struct conn conn;
	struct list node; /* in its pool's list for the state */
	struct runtime *rt;
	struct pool *pool;
	struct client *client; /* linked client in SV_SYNC / SV_ACTIVE */
	enum server_state state;

	uint64_t id;
	struct sockaddr_storage addr; /* where it is connected, for cancels */
	socklen_t addrlen;
	struct dns_req *dns_req; /* the host name lookup in flight (SV_CONNECT), else NULL */
	uint32_t be_pid;         /* PostgreSQL's BackendKeyData */
	uint32_t be_key;
	int generation; /* pool generation at connect; stale ones close on release */

	struct param_set params;       /* the server's current settings */
	struct param_kv *login_params; /* every ParameterStatus from log-in */
	int n_login_params;

	struct relay relay; /* the exchange with the linked client: replies expected, status */
	struct prepared_server *prepared; /* statements prepared on it, NULL until the first */
	bool saw_ready;                   /* a ReadyForQuery was forwarded in this read batch */
	int internal_pending;             /* ReadyForQuery still expected for our own queries */
	bool internal_failed;
	char *internal_error; /* first ErrorResponse of our own query (raw message) */
	uint32_t internal_error_len;
	bool reset_discards; /* the running reset includes server_reset_query */

	struct scram_client *scram;
	usec_t connect_time;
	usec_t state_since;
	usec_t last_check;     /* last successful use or health check */
	bool close_on_release; /* lifetime, reload, RECONNECT: close instead of reuse */
};

/* Not yet logged in: connecting, negotiating TLS or authenticating. */
static inline bool server_logging_in(enum server_state st)
{
	return st == SV_CONNECT || st == SV_TLS || st == SV_LOGIN;
}

/*
 * The structured parts of a log line about s (id, the pool's database, user
 * and host:port), with `event` and `sqlstate` (either may be NULL). Borrows
 * the pool's strings: pass the result straight to log_at.
 */
struct log_ctx server_log_ctx(const struct server *s, const char *event, const char *sqlstate);

/* Log a line about server s with an event name, if lvl is enabled (arguments unevaluated otherwise). */
#define server_log(s, lvl, event, ...) log_at(lvl, server_log_ctx((s), (event), NULL), __VA_ARGS__)

/* Open a new server connection for `pool`. Returns NULL (and logs) when the
 * socket cannot even be created; connection failures come later, async. */
struct server *server_connect(struct pool *pool);

/*
 * Close a server: send Terminate when it is logged in and clean, close the
 * socket and free it later. A linked client is told `reason` (08006) and closed.
 */
void server_close(struct server *s, const char *reason);

/* Link to a client: sync its parameters, then forward. */
void server_link(struct server *s, struct client *c);

/*
 * The client is letting go of this server (transaction end or disconnect):
 * roll back / reset / keep or close as the server's state requires, then
 * hand it back to the pool.
 */
void server_unlink(struct server *s, bool client_gone);

/* Run server_check_query on an idle server (janitor). */
void server_check(struct server *s);

/*
 * The linked client has an exchange the server has not finished: a request
 * not yet answered by ReadyForQuery, extended-protocol messages sent since
 * its last Sync, or parameters still being applied. Such a server can go to
 * no one else; if its client leaves, it is closed.
 */
bool server_request_open(const struct server *s);

/*
 * May sluice append a message of its own to the linked client's stream now?
 * Sends what has been framed for the client (best effort, without blocking)
 * and answers true only when the stream then ends at a message boundary and
 * the server has not sent a FATAL error (after which nothing may follow).
 */
bool server_client_at_boundary(struct server *s);

/* Forward what the client has buffered to this server (after the server became writable etc.). */
void server_process(struct server *s);

void server_set_state(struct server *s, enum server_state st);
const char *server_state_str(enum server_state st);
void server_free(struct server *s);

/* Log-in finished (first ReadyForQuery): run connect_query or hand to the pool. */
void server_login_done(struct server *s);

/* A ParameterStatus body: track the value; when to_client, the linked client's too. */
void server_param_status(struct server *s, const uint8_t *body, uint32_t len, bool to_client);

#endif
