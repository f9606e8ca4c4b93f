/*
 * metrics: renders the Prometheus text exposition of every pool, client and
 * server count and the stats counters. Metric names are documented in the
 * README; every family has HELP and TYPE lines.
 */
#ifndef SLUICE_METRICS_H
#define SLUICE_METRICS_H

#include <stdbool.h>

struct runtime;
struct pktbuf;

/* Append the exposition text to out (no NUL). */
void metrics_render(struct runtime *rt, struct pktbuf *out);

/* Ready for traffic: serving, not paused or suspended, and no pool whose
 * server cannot be reached. */
bool metrics_ready(struct runtime *rt, const char **why);

#endif
