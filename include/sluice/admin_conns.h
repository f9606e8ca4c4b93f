/*
 * admin_conns: SHOW CLIENTS, SHOW SERVERS and SHOW ACTIVITY, one row per
 * connection. Each writes a whole result set into out.
 */
#ifndef SLUICE_ADMIN_CONNS_H
#define SLUICE_ADMIN_CONNS_H

#include "sluice/resultset.h"

struct client;
struct runtime;
struct pktbuf;

/* pg_stat_activity's state of a client: active, idle, idle in transaction
 * [(aborted)] or waiting (for a server). A static string. */
const char *admin_activity_state(const struct client *c);

/* Columns of CLIENTS and SERVERS (PgBouncer's order) and of ACTIVITY. */
extern const struct rs_column admin_sockets_cols[];
extern const struct rs_column admin_activity_cols[];

void admin_show_clients(struct runtime *rt, struct pktbuf *out);
void admin_show_servers(struct runtime *rt, struct pktbuf *out);
void admin_show_activity(struct runtime *rt, struct pktbuf *out);

#endif
