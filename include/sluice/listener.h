/*
 * listener: the sockets sluice accepts clients on: TCP on listen_addr:
 * listen_port (a comma-separated list, "*" for all) and a unix socket in
 * unix_socket_dir.
 */
#ifndef SLUICE_LISTENER_H
#define SLUICE_LISTENER_H

#include <stdbool.h>

struct runtime;

/* Open all listeners of rt->cfg. False (and logged) when any cannot be opened. */
bool listener_open_all(struct runtime *rt) __attribute__((warn_unused_result));
/* Stop accepting and close all listeners (drain, shutdown); removes the unix socket file. */
void listener_close_all(struct runtime *rt);

#endif
