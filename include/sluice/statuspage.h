/*
 * statuspage: GET / on the admin port, an HTML page of what the pooler is
 * doing now (HAProxy's stats page is the model): the process, every pool with
 * its clients, waits and saturation, and every client as SHOW ACTIVITY shows
 * it, without query texts. Plain HTML and CSS, rendered on the server, so it
 * works without JavaScript; a few lines of script refresh the live part.
 */
#ifndef SLUICE_STATUSPAGE_H
#define SLUICE_STATUSPAGE_H

#include <stdbool.h>

struct pktbuf;
struct runtime;

/* Append the page to out; only its live part (<main id="live">'s content) when fragment. */
void statuspage_render(struct runtime *rt, struct pktbuf *out, bool fragment);

#endif
