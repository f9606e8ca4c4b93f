/*
 * runtime: the one top-level object every module hangs off: the event loop,
 * the current config and authentication files, the pools, the buffer free list, the
 * periodic janitor, signals and the shutdown sequence.
 */
#ifndef SLUICE_RUNTIME_H
#define SLUICE_RUNTIME_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "sluice/authfiles.h"
#include "sluice/config.h"
#include "sluice/iobuf.h"
#include "sluice/list.h"
#include "sluice/proto.h"

struct authfile;
struct authquery;
struct confwatch;
struct dns;
struct listener;
struct client;
struct config_origin;
struct prepared_registry;
struct tls_ctx;

enum run_phase {
	RUN_SERVING = 0, /* normal operation */
	RUN_LAME_DUCK,   /* SIGTERM, for shutdown_delay: /readyz 503, still accepting and serving */
	RUN_DRAINING,    /* not accepting, finishing in-flight transactions (shutdown_timeout) */
	RUN_STOPPING,    /* leaving the loop */
};

struct runtime {
	struct event_base *base;
	struct config *cfg;
	char *config_path;       /* the INI file, NULL when the config came from a DATABASE_URL */
	char *database_url;      /* --database-url, NULL when not given */
	struct authfiles auth;   /* auth_file, auth_hba_file, auth_ident_file */
	struct dns *dns;         /* host names of [databases] entries */
	struct authquery *authq; /* auth_query look-ups and their connections */
	struct prepared_registry *prepared; /* named prepared statements of every pool */
	struct confwatch *confwatch;        /* config_watch = 1: the file's watch, else NULL */
	struct tls_ctx *tls_accept;  /* TLS for clients, NULL when client_tls_sslmode=disable */
	struct tls_ctx *tls_connect; /* TLS to servers, NULL when server_tls_sslmode=disable */
	struct tls_counts {
		uint64_t client_handshakes, client_failures; /* accepted sessions */
		uint64_t server_handshakes, server_failures; /* sessions to PostgreSQL */
	} tls;
	struct iobuf_pool bufs;

	struct list pools;         /* struct pool.node */
	struct list login_clients; /* clients not yet in a pool (struct client.node) */
	struct list free_clients;  /* closed, freed by the reaper */
	struct list free_servers;
	struct list cancels;      /* in-flight cancel requests */
	struct list dead_cancels; /* done, freed by the reaper */
	struct insight *insight;  /* per-statement statistics (query_insight) */
	struct list sniffs;       /* admin-port connections before their first byte (sniff.c) */
	struct list http_conns;   /* admin-port HTTP connections (http.c) */
	int n_http;
	struct list admin_clients; /* console sessions (struct client.node) */
	struct list dbflags;       /* PAUSE / DISABLE per database (pool.c) */
	bool paused_all;           /* PAUSE without a database */
	bool suspended;            /* SUSPEND: not accepting new clients */

	struct listener *listeners;
	struct event *reaper;
	struct event *janitor;
	struct event *sig_hup, *sig_term, *sig_int, *sig_quit;
	struct event *shutdown_timer; /* the end of shutdown_delay, then of shutdown_timeout */

	uint64_t next_client_id;
	uint64_t next_server_id;
	int n_clients; /* all client connections, for max_client_conn */
	int n_servers;
	enum run_phase phase;
	int exit_code;
	usec_t start_time;
	usec_t last_stats_roll;

	struct pktbuf scratch; /* for building generated messages; reset before each use */
};

/* Create the runtime for a config built from `origin` (ownership of cfg passes
 * in; origin's strings are copied, and reload builds from them again). NULL on failure. */
struct runtime *runtime_new(struct config *cfg, const struct config_origin *origin);
/* Open listeners, start signals and the janitor. False if a listener cannot be opened. */
bool runtime_start(struct runtime *rt) __attribute__((warn_unused_result));
/* Run the loop until shutdown; returns the exit code. */
int runtime_run(struct runtime *rt);
/* Free everything (after runtime_run returned). */
void runtime_free(struct runtime *rt);

/* Schedule the reaper to free closed objects after the current callback. */
void runtime_schedule_reap(struct runtime *rt);
/* Re-read the config file and the authentication files it names (SIGHUP,
 * admin RELOAD). False keeps the old config and files, and logs why. */
bool runtime_reload(struct runtime *rt);
/* Rebuild the TLS contexts from rt->cfg (after an admin SET of a TLS key). False
 * (logged, err set) keeps the old ones. */
bool runtime_reload_tls(struct runtime *rt, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Start or stop watching the config file as rt->cfg->config_watch says (at
 * start, after a reload or an admin SET). A watch that cannot be set up is
 * logged; the pooler runs on without it. */
void runtime_sync_config_watch(struct runtime *rt);
/* Begin the SIGTERM sequence: shutdown_delay as a lame duck (not ready, still
 * serving), then stop accepting and drain, for at most shutdown_timeout. */
void runtime_begin_shutdown(struct runtime *rt);
/* Stop accepting and drain now (the end of shutdown_delay, or none). */
void runtime_begin_drain(struct runtime *rt);
/* Draining, at every janitor tick: close the clients that have nothing in flight
 * (a client that logged in moments ago gets a grace to send its request). */
void runtime_drain_tick(struct runtime *rt, usec_t now);
/* Called whenever a client or server goes away while draining: exits when nothing is left in flight. */
void runtime_check_drained(struct runtime *rt);

/* SUSPEND / RESUME: stop or restart accepting new clients on the main port. */
void runtime_set_suspended(struct runtime *rt, bool on);

/* The buffer size handed to connections. */
uint32_t runtime_buffer_size(const struct config *cfg);

#endif
