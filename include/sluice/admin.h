/*
 * admin: the psql console on the admin port (and on the main port as the
 * databases "sluice" and "pgbouncer"): authorization of admin_users and
 * stats_users, one simple-protocol command at a time (its syntax is
 * admin_parse.c), the control commands (PAUSE, RESUME, RELOAD, KILL, ...)
 * and dispatch to the SHOW handlers in admin_show.c.
 */
#ifndef SLUICE_ADMIN_H
#define SLUICE_ADMIN_H

#include <stdbool.h>

struct client;
struct runtime;

/* True for the database names that mean the console. */
bool admin_is_console_db(const char *dbname);

/* An authenticated client asked for the console: check its rights and welcome it. */
void admin_login(struct client *c);

/* Handle what an admin client has sent (whole messages in its buffer). */
void admin_process(struct client *c);

/* Janitor: finish deferred commands (PAUSE, WAIT_CLOSE, SHUTDOWN WAIT_FOR_SERVERS). */
void admin_janitor(struct runtime *rt);

#endif
