/*
 * confwatch: config_watch = 1. Watches the config file's directory with
 * inotify (the file's name, and `..data`, the symlink a Kubernetes ConfigMap
 * volume swaps atomically) and, after the events have been quiet for a short
 * debounce, calls back when the file's content differs from the content last
 * noted. It only notices changes; the owner reloads.
 */
#ifndef SLUICE_CONFWATCH_H
#define SLUICE_CONFWATCH_H

#include <stdbool.h>

struct event_base;
struct confwatch;

/* Called from the event loop when the file changed; the callback may free the watch. */
typedef void confwatch_fn(void *arg);

/* Watch `path` (copied) on `base`; the content now is taken as loaded. NULL
 * (logged) when inotify or the directory cannot be used. Free with confwatch_free. */
struct confwatch *confwatch_new(struct event_base *base, const char *path, confwatch_fn *cb,
				void *arg);

/* Stop watching and free; NULL is allowed. Safe from inside the callback. */
void confwatch_free(struct confwatch *w);

/* Take the file's content now as the loaded one: call just before the owner
 * reads the file for any other reason (SIGHUP, RELOAD), so the same content
 * does not make a second reload. NULL is allowed (no-op). */
void confwatch_note_loaded(struct confwatch *w);

#endif
