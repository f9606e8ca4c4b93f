/*
 * sdnotify: tells a service manager (systemd's Type=notify) how the pooler is
 * doing, by datagrams to the socket named in $NOTIFY_SOCKET, as sd_notify(3)
 * does but without libsystemd. Without $NOTIFY_SOCKET every call does nothing;
 * a missing or full socket never blocks nor fails the pooler (logged at debug).
 */
#ifndef SLUICE_SDNOTIFY_H
#define SLUICE_SDNOTIFY_H

/* Send `state`, newline-separated VAR=value lines (e.g. "READY=1\nSTATUS=up").
 * Returns at once whatever happens; the caller keeps state. */
void sdnotify_send(const char *state);

/* READY=1 with MAINPID and `status` as STATUS= (NULL: none): the listeners are
 * up, or a reload finished (whether or not it was applied). */
void sdnotify_ready(const char *status);

/* RELOADING=1 with MONOTONIC_USEC (CLOCK_MONOTONIC, as systemd wants it), before
 * the configuration is read again; READY=1 must follow. */
void sdnotify_reloading(void);

/* STOPPING=1 with `status` as STATUS= (NULL: none): the pooler is going away. */
void sdnotify_stopping(const char *status);

#endif
