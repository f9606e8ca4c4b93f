/*
 * cancel: CancelRequest routing. A client's cancel key maps to the server it
 * is linked to at that moment; the request is forwarded with the server's
 * real key over a new connection, which is closed right after.
 */
#ifndef SLUICE_CANCEL_H
#define SLUICE_CANCEL_H

#include <stdint.h>

struct config;
struct runtime;

/*
 * With peer_id set, a cancel key's top bits are the issuing process's
 * peer_id (1..16383, 14 bits), the other 18 random; a request whose key names
 * another peer is forwarded to it as it came ([peers]), so a client's cancel
 * reaches the process running its query whichever one the kernel hands the
 * new connection to (so_reuseport).
 */
#define CANCEL_PEER_SHIFT 18

/* A new cancel key for a client (random; with peer_id, carrying it). */
uint32_t cancel_new_key(const struct config *cfg);

/* Handle a CancelRequest for (pid, key): forward it to the server running the
 * client's query, or to the peer that issued the key; a wrong or stale key
 * does nothing. */
void cancel_request(struct runtime *rt, uint32_t pid, uint32_t key);

/* Free the forwards that are done (the reaper; the memory outlives their callbacks). */
void cancel_reap(struct runtime *rt);

/* Abort every in-flight cancel connection (shutdown). */
void cancel_abort_all(struct runtime *rt);

#endif
