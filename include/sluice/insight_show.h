/*
 * insight_show: query insight's console views, as result sets: SHOW QUERIES
 * (each statement of the table, largest total time first) and SHOW
 * N_PLUS_ONE (each loop found). Normalised texts only: never a literal or a
 * parameter, which the table does not hold.
 */
#ifndef SLUICE_INSIGHT_SHOW_H
#define SLUICE_INSIGHT_SHOW_H

struct insight;
struct pktbuf;

/* SHOW QUERIES [db] into out. */
void insight_show(struct insight *in, const char *db, struct pktbuf *out);

/* SHOW N_PLUS_ONE into out. */
void insight_show_loops(struct insight *in, struct pktbuf *out);

#endif
