/*
 * statuspage: GET / on the admin port, an HTML page of what the pooler is
 * doing now (HAProxy's stats page is the model): the process, every pool with
 * its clients, waits and saturation, the N+1 loops and top statements found
 * by query insight (normalised texts only), and every client as SHOW ACTIVITY
 * shows it, without its query text. Plain HTML and CSS, rendered on the server, so it
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
