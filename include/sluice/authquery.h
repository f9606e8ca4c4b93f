/*
 * authquery: the secret of a user who is not in auth_file, looked up in
 * PostgreSQL with auth_query through libpq's asynchronous API on the
 * runtime's event loop (no PQexec, no PQconnectdb; host names go through the
 * dns module, so libpq never resolves one itself). One look-up connection
 * per target (server, database, auth_user) is kept open and reused across
 * logins; its look-ups run one at a time in the order they were asked, and
 * clients asking for the same user with the same query while that look-up
 * is still queued share it. Connecting and logging in is bounded by
 * server_connect_timeout, each query by internal_query_timeout. A connection
 * that fails, breaks or times out fails every look-up waiting on it (the
 * reason goes to the log) and is made afresh for the next one. Passwords and
 * secrets are never logged.
 */
#ifndef SLUICE_AUTHQUERY_H
#define SLUICE_AUTHQUERY_H

#include <stdbool.h>

#include "sluice/config.h"

struct runtime;
struct authfile;
struct authquery;
struct authquery_wait;

enum authquery_result {
	AUTHQUERY_FOUND = 0, /* a row with the user's name; its secret may be NULL (none usable) */
	AUTHQUERY_NOT_FOUND, /* no row, or a NULL name: no such user */
	AUTHQUERY_FAILED,    /* the look-up could not be done (logged): never let the client in */
};

/* "found", "not found", "failed". */
const char *authquery_result_str(enum authquery_result r);

/* Where auth_user's password comes from; explains a failed log-in in the log. */
enum authquery_password {
	AUTHQUERY_PW_NONE = 0,  /* none: libpq logs in without one (trust, peer, .pgpass) */
	AUTHQUERY_PW_ENTRY,     /* password= of the [databases] entry the query runs in */
	AUTHQUERY_PW_AUTH_FILE, /* auth_user's cleartext line in auth_file */
	AUTHQUERY_PW_VERIFIER, /* auth_file holds an md5 or SCRAM verifier, which libpq cannot use */
};

/* Where and as whom users are looked up. Every string is borrowed. */
struct authquery_target {
	const char *host; /* NULL or "": unix socket in /var/run/postgresql; "/dir": in dir */
	int port;
	const char *dbname;
	const char *user;     /* auth_user */
	const char *password; /* NULL: none */
	enum authquery_password pw_source;
	const char *query; /* run with $1 = the user looked up */
};

/*
 * The target for clients of database `dbname` (the name the client asked
 * for): its [databases] entry's auth_user / auth_query / auth_dbname, else
 * the global ones. The query runs on the server and database of the entry
 * auth_dbname names (its dbname=, else the name itself); an auth_dbname with
 * no entry (and no "*") is a database of that name on the client's server;
 * no auth_dbname: the client's own database. auth_user's password is the
 * password= of that entry when the entry has no user= or the same one, else
 * its cleartext line in `af` (NULL allowed). False (out untouched) when no
 * look-up applies. The strings in *out live as long as cfg and af.
 */
bool authquery_target_for(const struct config *cfg, const struct authfile *af, const char *dbname,
			  struct authquery_target *out) __attribute__((warn_unused_result));

/*
 * The answer to one look-up. `secret` (NULL unless AUTHQUERY_FOUND with a
 * non-NULL, non-empty secret) is valid during the call only; copy it. The
 * wait handle has been freed before the call: do not cancel it.
 */
typedef void authquery_done_fn(void *arg, enum authquery_result r, const char *secret);

/* The look-ups of runtime rt (its loop, dns, config). Never NULL. */
struct authquery *authquery_new(struct runtime *rt);

/* Close every look-up connection and free everything, without calling any
 * callback (their clients are gone). Call before dns_free and before the
 * event base is freed. NULL is allowed. */
void authquery_free(struct authquery *aq);

/*
 * Look `user` up at target t (copied). cb runs exactly once, later, from the
 * event loop (never inside this call), unless authquery_cancel runs first.
 * The result is the handle for authquery_cancel, owned by the module. Never
 * NULL.
 */
struct authquery_wait *authquery_lookup(struct authquery *aq, const struct authquery_target *t,
					const char *user, authquery_done_fn *cb, void *arg);

/* The client is gone: its callback will not run and `w` is freed. Only
 * before the callback ran. */
void authquery_cancel(struct authquery_wait *w);

/* Janitor: close look-up connections idle longer than server_idle_timeout or
 * older than server_lifetime, and forget targets nobody waits for. */
void authquery_janitor(struct authquery *aq, usec_t now);

#endif
