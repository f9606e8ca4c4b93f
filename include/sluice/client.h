/*
 * client: one application connection. Its life: start-up and authentication
 * (CL_LOGIN), possibly waiting for the pool to learn the server's parameters
 * (CL_WAIT_LOGIN), then idle / waiting for a server / linked to a server
 * until it leaves (CL_CLOSED, freed by the reaper).
 */
#ifndef SLUICE_CLIENT_H
#define SLUICE_CLIENT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "sluice/config.h"
#include "sluice/conn.h"
#include "sluice/list.h"
#include "sluice/log.h"
#include "sluice/params.h"

struct runtime;
struct pool;
struct server;
struct scram_server;
struct prepared_client;
struct insight_client;
struct authquery_wait;

enum client_state {
	CL_LOGIN = 0,  /* reading start-up packet, negotiating, authenticating */
	CL_WAIT_LOGIN, /* authenticated; waiting for the pool's first server login */
	CL_IDLE,       /* logged in, holds no server, nothing to send */
	CL_WAITING,    /* has a request; queued in its pool for a server */
	CL_ACTIVE,     /* linked to a server */
	CL_CLOSED,     /* gone; on the runtime's free list */
};

/* A console command that answers later (see admin.c). */
enum admin_wait {
	ADMIN_WAIT_NONE = 0,
	ADMIN_WAIT_PAUSE,   /* PAUSE: until the servers of the paused pools are gone */
	ADMIN_WAIT_CLOSE,   /* WAIT_CLOSE: until no server is marked close_needed */
	ADMIN_WAIT_SERVERS, /* SHUTDOWN WAIT_FOR_SERVERS: until all servers are released */
};

/* Where a client is inside CL_LOGIN. */
enum login_step {
	LOGIN_STARTUP = 0, /* expecting SSLRequest/GSSENCRequest/CancelRequest/StartupMessage */
	LOGIN_TLS,         /* TLS handshake after SSLRequest, or a direct TLS ClientHello */
	LOGIN_LOOKUP,      /* not in auth_file: waiting for auth_query's answer; input is not
			    * processed (read only to notice a hang-up) */
	LOGIN_CLEARTEXT,   /* sent AuthenticationCleartextPassword */
	LOGIN_MD5,         /* sent AuthenticationMD5Password */
	LOGIN_SASL_INIT,   /* sent AuthenticationSASL */
	LOGIN_SASL_FINAL,  /* sent AuthenticationSASLContinue */
};

/* Bytes of a client's last query text SHOW ACTIVITY shows (PostgreSQL's
 * track_activity_query_size). */
#define CLIENT_QUERY_TEXT_MAX 1024

struct client {
	struct conn conn;
	struct list node; /* in the list of its state */
	struct runtime *rt;
	struct pool *pool;     /* NULL until authenticated */
	struct server *server; /* linked server in CL_ACTIVE */
	enum client_state state;
	enum login_step step;

	uint64_t id;
	uint32_t cancel_pid; /* BackendKeyData we issued */
	uint32_t cancel_key;
	uint8_t family;   /* AF_INET, AF_INET6 or AF_UNIX */
	uint16_t port;    /* 0 for the unix socket */
	uint8_t addr[16]; /* IPv4 in the first 4 bytes; see client_addr() */
	char *user;
	char *dbname;

	struct param_set params; /* what this client wants */
	char *startup;           /* the start-up packet, kept while logging in */
	int negotiations;        /* SSL/GSS requests answered so far */

	/* authentication in progress */
	char *secret; /* stored secret for the user (copy), or NULL */
	bool user_known;
	bool secret_looked_up;         /* secret came from auth_query, not auth_file */
	struct authquery_wait *lookup; /* the auth_query look-up waited for (LOGIN_LOOKUP) */
	uint8_t md5_salt[4];
	struct scram_server *scram;

	usec_t connect_time;    /* monotonic */
	usec_t connect_wall;    /* wall clock, for display */
	usec_t state_since;     /* when the current state began */
	usec_t last_request;    /* last time a request was forwarded */
	usec_t xact_start;      /* 0 when not in a transaction */
	usec_t query_start;     /* 0 when no request is outstanding */
	bool close_after_ready; /* draining: leave at the next idle ReadyForQuery */
	bool welcomed;          /* the log-in reply (ending in ReadyForQuery) has been sent */
	bool prepared_on;       /* its named prepared statements are tracked (transaction mode) */
	struct prepared_client *prepared; /* its statement names, NULL until the first */
	struct insight_client *insight; /* its statements for query insight, NULL until the first */
	usec_t waited;                  /* the last wait for a server, taken by the next request */

	/* the last Query's or Parse's text: its first INSIGHT_TEXT_MAX bytes with
	 * query insight on, else CLIENT_QUERY_TEXT_MAX (SHOW ACTIVITY shows those),
	 * and FP_ALIKE_PAD NULs; query insight may rewrite it as the next text
	 * (insight_text_again) */
	char *last_query;
	uint32_t last_query_len, last_query_cap;
	uint64_t last_query_gen; /* texts client.c wrote there */

	/* admin console */
	bool via_admin_port; /* accepted on admin_port: a console session (HTTP is never a client) */
	bool is_admin;       /* a console session (no pool) */
	bool admin_rw;       /* in admin_users (else stats_users: SHOW only) */
	enum admin_wait admin_wait;
	char *admin_wait_db; /* NULL: all databases */
};

/* Accept a new connection (called by the listener). Takes ownership of fd. */
void client_accept(struct runtime *rt, int fd, const struct sockaddr *addr, bool unix_socket,
		   bool admin_port);

/* How a client is closed. */
enum close_how {
	CLOSE_SILENT = 0, /* just close the socket */
	CLOSE_ERROR,      /* send an ErrorResponse first */
};

/*
 * Close a client: unlink its server (which is rolled back, reset or closed as
 * its state requires), optionally send FATAL sqlstate/reason, log the reason,
 * and put the client on the free list. Safe to call from any callback.
 */
void client_close(struct client *c, enum close_how how, const char *sqlstate, const char *reason);

/* The client is authenticated and its pool knows the server's parameters:
 * welcome it, in session mode once its server is linked. */
void client_welcome(struct client *c);

/* The pool linked a server to this client: resume forwarding its requests. */
void client_resume(struct client *c);

/* Change state, moving the client between its pool's lists. */
void client_set_state(struct client *c, enum client_state st);

const char *client_state_str(enum client_state st);

/* The peer address as text ("unix" for the unix socket); valid until the next call. */
const char *client_addr(const struct client *c);

/*
 * The structured parts of a log line about c (id, database, user, address),
 * with `event` and `sqlstate` (either may be NULL). The address string is
 * valid until the next client_addr() call: pass the result straight to log_at.
 */
struct log_ctx client_log_ctx(const struct client *c, const char *event, const char *sqlstate);

/* Log a line about client c with an event name, if lvl is enabled (arguments unevaluated otherwise). */
#define client_log(c, lvl, event, ...) log_at(lvl, client_log_ctx((c), (event), NULL), __VA_ARGS__)

/* Free a closed client (reaper only). */
void client_free(struct client *c);

/* query_insight went off: drop c's statements (its answers in flight are not
 * charged; with it on again, it starts afresh). */
void client_forget_insight(struct client *c);

/* Send a generated message (in rt->scratch) to the client, queueing what does not fit. */
bool client_send_scratch(struct client *c) __attribute__((warn_unused_result));

/* What a successful authentication leaves for logging in to PostgreSQL as the user. */
struct scram_secret;
struct auth_proof {
	const struct scram_secret *scram_keys; /* with client_key: the client proved a stored */
	const uint8_t *client_key;             /* SCRAM secret; the pool may log in with them */
	const char *lookup_secret;             /* the secret auth_query gave, or NULL */
};

/*
 * Authentication succeeded: find the database, join (or create) the pool and
 * welcome the client, or wait for the pool to learn its parameters. `proof`
 * (never NULL; its pointers may be) is copied into the pool when the pool
 * logs in as the client's own user.
 */
void client_authenticated(struct client *c, const struct auth_proof *proof);

/* A console login (admin port, or the database sluice / pgbouncer): no pool. */
bool client_wants_console(const struct client *c);

/* Authentication goes on after a pause (LOGIN_LOOKUP): read again and take
 * what the client sent meanwhile. */
void client_login_resume(struct client *c);

/* Janitor: query_timeout, idle_transaction_timeout, client_idle_timeout of a linked client. */
void client_active_timeouts(struct client *c, usec_t now);

#endif
