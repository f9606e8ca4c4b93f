/*
 * pool: the server connections for one (database, user) pair, and the
 * clients using them. Hands idle servers to clients in FIFO order, opens new
 * servers within pool_size / reserve / db and user limits, and remembers the
 * parameters PostgreSQL reported at log-in for welcoming new clients.
 */
#ifndef SLUICE_POOL_H
#define SLUICE_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/client.h"
#include "sluice/config.h"
#include "sluice/list.h"
#include "sluice/params.h"
#include "sluice/scram.h"
#include "sluice/stats.h"

struct runtime;
struct client;
struct server;

#define POOL_STARTUP_PARAMS 4
/* The startup packet names of pool.startup[]. */
extern const char *const pool_startup_names[POOL_STARTUP_PARAMS];

struct pool {
	struct list node; /* in rt->pools */
	struct runtime *rt;
	char *db_name; /* the name clients use */
	char *user;    /* the user sluice logs in as */

	/* target, resolved from the config on creation and on reload */
	char *host;
	int port;
	char *dbname;
	char *password;      /* from the [databases] entry, or NULL */
	char *lookup_secret; /* the user's secret as auth_query last gave it, or NULL; wiped */
	char *connect_query;
	/* the [databases] entry's client_encoding, datestyle, timezone and
	 * application_name: sent in each server's startup packet (NULL: not set) */
	char *startup[POOL_STARTUP_PARAMS];
	int generation;
	bool db_removed; /* the entry is gone after a reload */

	enum pool_mode mode;
	int pool_size;
	int min_pool_size;
	int reserve_pool;
	int max_db_connections;
	int max_user_connections;

	/* servers by state */
	struct list idle_servers;   /* SV_IDLE, most recently used first */
	struct list active_servers; /* SV_SYNC, SV_ACTIVE */
	struct list other_servers;  /* SV_CONNECT, SV_LOGIN, SV_SETUP, SV_TEST, SV_RESET */
	int n_servers;              /* all of the above */
	int n_opening;              /* SV_CONNECT + SV_LOGIN + SV_SETUP */

	/* clients by state */
	struct list wait_login_clients; /* CL_WAIT_LOGIN */
	struct list idle_clients;       /* CL_IDLE */
	struct list waiting_clients;    /* CL_WAITING, FIFO */
	struct list active_clients;     /* CL_ACTIVE */
	int n_clients;
	int cl_count
		[CL_CLOSED]; /* clients per state (enum client_state), kept by client_set_state */

	/* what PostgreSQL reported at log-in, for welcoming clients */
	bool have_params;
	struct param_kv *welcome;
	int n_welcome;
	struct pktbuf welcome_fixed; /* AuthenticationOk + the ParameterStatus of untracked keys */
	int welcome_tracked[PARAM_TRACKED]; /* index into welcome[] of each tracked key, or -1 */
	struct param_set defaults;          /* tracked parameters' server defaults */

	usec_t last_connect_failure; /* for server_login_retry; 0 = none */
	bool have_scram_keys;        /* learnt from a client's SCRAM proof */
	struct scram_secret scram_keys;
	uint8_t scram_client_key[SCRAM_KEY_LEN];

	struct pool_stats stats;
	usec_t last_wait_warning; /* rate limit for the waiting-clients warning */

	/* saturation: every server busy and no other may be opened (pool_note_busy) */
	bool saturated;
	usec_t saturated_since; /* when it began, while saturated */
	usec_t saturated_usec;  /* saturated time in the running period */
	usec_t period_start;    /* of the running period */
	double saturation;      /* share of the last complete period spent saturated */
};

/* A server of p changed state at `now`: note whether p is saturated (all
 * servers busy, no other may be opened), for SHOW POOLS' saturation. */
void pool_note_busy(struct pool *p, usec_t now);

/* The saturation of the period that ends at `now` (stats_period): roll it over. */
void pool_roll_saturation(struct pool *p, usec_t now);

/* Iterate over every pool of a runtime (no deletion while iterating). */
#define for_each_pool(p, rt)                                                      \
	for (struct list *pit_ = (rt)->pools.next;                                \
	     pit_ != &(rt)->pools && ((p) = list_entry(pit_, struct pool, node)); \
	     pit_ = pit_->next)

/* Find or create the pool for database name `db_name` (its [databases] entry, or "*",
 * is looked up by name, also on reload) and login user. Never NULL. */
struct pool *pool_get(struct runtime *rt, const char *db_name, const char *user);

/* Keep the user's secret from its latest auth_query look-up (copied), for
 * logging in to PostgreSQL when auth_file has none: an md5 secret answers md5
 * as the stored hash does. Never shown nor logged. */
void pool_set_lookup_secret(struct pool *p, const char *secret);

/* Re-resolve limits and target from a new config (reload). */
void pool_apply_config(struct pool *p, const struct config *cfg);

/*
 * A client wants a server. Links an idle one at once (returns true: the
 * client is CL_ACTIVE) or queues the client (CL_WAITING) and opens a server
 * if allowed.
 */
bool pool_acquire(struct pool *p, struct client *c);

/* A server became free (log-in done, released, reset done): give it to the
 * first waiting client or park it idle. Closes it instead when it must not be reused. */
void pool_server_ready(struct pool *p, struct server *s);

/* A server finished log-in: take its parameters if the pool has none yet and
 * welcome clients waiting for them. */
void pool_learn_params(struct pool *p, struct server *s);

/* A server log-in failed with an error from PostgreSQL: fail clients that cannot be served. */
void pool_login_failed(struct pool *p, const char *sqlstate, const char *message);

/* A connection attempt failed (name lookup, refused, timeout): remember it for
 * server_login_retry and, when no other server can serve, tell the waiting
 * clients why (08006). */
void pool_connect_failed(struct pool *p, const char *reason);

/* Close p's servers, idle ones now, the others when released (close_needed);
 * with `keep`, only those connected to an address other than keep. */
void pool_reconnect(struct pool *p, const struct sockaddr_storage *keep, const char *reason);

/* Host name `host` now resolves to `addr`: servers of its pools connected to
 * another address are closed, idle ones now, the others when released (what
 * PgBouncer calls close_needed), so a moved database is followed. */
void pool_host_moved(struct runtime *rt, const char *host, const struct sockaddr_storage *addr);

/* Open servers when clients wait or min_pool_size asks for them. */
void pool_maintain(struct pool *p);

/* Periodic checks: timeouts of servers and clients of this pool. */
void pool_janitor(struct pool *p, usec_t now);

/* Free a pool with no clients and servers left (shutdown). */
void pool_free(struct pool *p);

/* Effective number of servers this db / user has across all pools. */
int pool_db_server_count(struct runtime *rt, const char *db_name);
int pool_user_server_count(struct runtime *rt, const char *user);

/* PAUSE / RESUME for database `db`, or everything when db is NULL. */
void pool_set_paused(struct runtime *rt, const char *db, bool on);
/* DISABLE / ENABLE new logins to `db`. */
void pool_set_disabled(struct runtime *rt, const char *db, bool on);
bool pool_db_paused(struct runtime *rt, const char *db);
bool pool_db_disabled(struct runtime *rt, const char *db);
/* No server may be handed out or opened for this pool now. */
bool pool_paused(const struct pool *p);
/* Free the PAUSE/DISABLE bookkeeping (shutdown). */
void pool_free_dbflags(struct runtime *rt);

#endif
