/*
 * listener: the sockets sluice accepts clients on: TCP on listen_addr:
 * listen_port (a comma-separated list, "*" for all), a unix socket in
 * unix_socket_dir, and the admin port (console and HTTP) on
 * admin_listen_addr:admin_port.
 */
#ifndef SLUICE_LISTENER_H
#define SLUICE_LISTENER_H

#include <stdbool.h>

struct runtime;

/* Open all listeners of rt->cfg. False (and logged) when any cannot be opened. */
bool listener_open_all(struct runtime *rt) __attribute__((warn_unused_result));
/* SUSPEND / RESUME: stop or restart accepting on the main port (the admin port stays). */
void listener_set_main_enabled(struct runtime *rt, bool on);
/* Close the main port's listeners only (drain): the admin port keeps answering probes. */
void listener_close_main(struct runtime *rt);
/* Stop accepting and close all listeners (drain, shutdown); removes the unix socket file. */
void listener_close_all(struct runtime *rt);

#endif
