/*
 * cancel: CancelRequest routing. A client's cancel key maps to the server it
 * is linked to at that moment; the request is forwarded with the server's
 * real key over a new connection, which is closed right after.
 */
#ifndef SLUICE_CANCEL_H
#define SLUICE_CANCEL_H

#include <stdint.h>

struct runtime;

/* Handle a CancelRequest for (pid, key); a wrong or stale key does nothing. */
void cancel_request(struct runtime *rt, uint32_t pid, uint32_t key);

/* Abort every in-flight cancel connection (shutdown). */
void cancel_abort_all(struct runtime *rt);

#endif
