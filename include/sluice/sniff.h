/*
 * sniff: an admin-port connection's first byte decides who takes it, before
 * any client state exists: an upper-case letter (an HTTP method) goes to the
 * HTTP responder, anything else (a start-up packet, an SSLRequest) becomes a
 * console client. The byte is only peeked at: the taker reads it again.
 */
#ifndef SLUICE_SNIFF_H
#define SLUICE_SNIFF_H

#include <sys/socket.h>

struct runtime;

/* Wait for the first byte of accepted admin-port socket fd (ownership passes
 * in), at most client_login_timeout (10 s when that is 0). */
void sniff_start(struct runtime *rt, int fd, const struct sockaddr *addr, socklen_t addrlen);

/* Close every connection still waiting for its first byte (shutdown). */
void sniff_abort_all(struct runtime *rt);

#endif
