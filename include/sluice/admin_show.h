/*
 * admin_show: the SHOW commands of the console. Each handler writes a
 * complete result set (RowDescription, DataRows, CommandComplete) into a
 * packet buffer; column names and order follow PgBouncer's documentation,
 * with sluice's own columns only at the end.
 */
#ifndef SLUICE_ADMIN_SHOW_H
#define SLUICE_ADMIN_SHOW_H

#include <stdbool.h>

struct runtime;
struct pktbuf;

/*
 * Run `SHOW what` into out. Returns false when `what` is not a known SHOW
 * item (nothing written then).
 */
bool admin_show(struct runtime *rt, const char *what, struct pktbuf *out);

/* The column names of a SHOW item, NULL-terminated (for tests and HELP); NULL if unknown. */
const char *const *admin_show_columns(const char *what);

#endif
