/*
 * config: the INI configuration (PgBouncer-compatible). Keys are described by
 * one table in config.c (name, type, default, reloadable, validator); this
 * header exposes the parsed values. A struct config is immutable once loaded:
 * reload parses a fresh one and the runtime swaps it in.
 */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef int64_t usec_t; /* durations and timestamps, microseconds */

enum pool_mode {
	POOL_MODE_UNSET = -1, /* per-database / per-user: inherit */
	POOL_MODE_SESSION = 0,
	POOL_MODE_TRANSACTION,
	POOL_MODE_STATEMENT,
};

enum auth_type {
	AUTH_TYPE_TRUST = 0,
	AUTH_TYPE_PLAIN, /* "plain": cleartext password against auth_file */
	AUTH_TYPE_MD5,   /* md5; a SCRAM secret in auth_file switches to SCRAM */
	AUTH_TYPE_SCRAM, /* "scram-sha-256" */
	AUTH_TYPE_HBA,   /* "hba": each client's method from auth_hba_file */
	AUTH_TYPE_CERT,  /* "cert": a TLS client certificate whose CN is the user */
};

/* client_tls_sslmode / server_tls_sslmode, libpq's words, weakest first. */
enum tls_sslmode {
	SSLMODE_DISABLE = 0,
	SSLMODE_ALLOW,
	SSLMODE_PREFER,
	SSLMODE_REQUIRE,
	SSLMODE_VERIFY_CA,
	SSLMODE_VERIFY_FULL,
};

/* One entry of [databases]. Integer fields are -1 when not given (inherit). */
struct config_db {
	char *name;     /* the name clients connect to; "*" is the fallback */
	char *host;     /* NULL: unix socket in /var/run/postgresql; "/dir": unix socket in dir */
	int port;       /* default 5432 */
	char *dbname;   /* NULL: same as name (or the client's name for "*") */
	char *user;     /* NULL: the client's user; else forced user */
	char *password; /* NULL: from auth_file */
	int pool_size;
	int min_pool_size;
	int reserve_pool;
	enum pool_mode pool_mode;
	int max_db_connections;
	char *connect_query;   /* NULL: none */
	char *client_encoding; /* NULL: not forced */
	char *datestyle;
	char *timezone;
	char *application_name;
	char *auth_user;   /* NULL: the global auth_user */
	char *auth_query;  /* NULL: the global auth_query */
	char *auth_dbname; /* NULL: the global auth_dbname */
	int line;          /* line in the config file, for messages */
};

/* One entry of [users]. Integer fields are -1 when not given (inherit). */
struct config_user {
	char *name;
	enum pool_mode pool_mode;
	int pool_size;
	int max_user_connections;
	int line;
};

/* One entry of [peers]: another sluice (or PgBouncer) process sharing the port. */
struct config_peer {
	int id;        /* its peer_id, 1..CONFIG_MAX_PEER_ID */
	char *host;    /* a unix socket directory or an IP address */
	int port;      /* 6432 */
	int pool_size; /* accepted for PgBouncer's sake; -1 when not given */
	int line;
};

#define CONFIG_MAX_PEER_ID 16383

struct config {
	char *path;     /* the file this was read from, or "DATABASE_URL" without one */
	char **sources; /* per global key, table order: where its value came from; NULL: default */
	char *url_user; /* DATABASE_URL without a file: the one user clients log in as, */
	char *url_password; /* with this password (NULL: trust); both NULL otherwise */

	struct config_db *dbs;
	size_t n_dbs;
	struct config_user *users;
	size_t n_users;
	struct config_peer *peers; /* [peers], in file order */
	size_t n_peers;

	/* [sluice] / [pgbouncer] */
	char *listen_addr;     /* "" or NULL: no TCP listener; "*" = all */
	int listen_port;       /* 6432 */
	char *unix_socket_dir; /* "" = none; default "/tmp" as PgBouncer */
	int unix_socket_mode;  /* 0777 */
	int listen_backlog;    /* 128 */

	enum auth_type auth_type; /* md5 */
	char *auth_file;          /* NULL when unset */
	char *auth_hba_file;      /* NULL when unset; required by auth_type = hba */
	char *auth_ident_file;    /* NULL when unset: map= then allows nobody */
	char *auth_user;          /* NULL: no auth_query look-ups */
	char *auth_query;         /* PgBouncer's default; "" = no look-ups */
	char *auth_dbname;        /* NULL: the client's own database */

	enum pool_mode pool_mode;    /* session */
	int max_client_conn;         /* 100 */
	int default_pool_size;       /* 20 */
	int min_pool_size;           /* 0 */
	int reserve_pool_size;       /* 0 */
	usec_t reserve_pool_timeout; /* 5 s */
	int max_db_connections;      /* 0 = unlimited */
	int max_user_connections;    /* 0 = unlimited */

	char *server_reset_query; /* "DISCARD ALL"; "" = none */
	bool server_reset_query_always;
	char *server_check_query;        /* "select 1"; "" = none */
	usec_t server_check_delay;       /* 30 s */
	usec_t server_lifetime;          /* 3600 s; 0 = unlimited */
	usec_t server_idle_timeout;      /* 600 s; 0 = off */
	bool server_round_robin;         /* 0: reuse the last released server first */
	usec_t server_connect_timeout;   /* 15 s */
	usec_t server_login_retry;       /* 15 s */
	usec_t internal_query_timeout;   /* 30 s: limit for sluice's own queries on a server */
	usec_t query_timeout;            /* 0 = off */
	usec_t query_wait_timeout;       /* 120 s; 0 = off */
	usec_t client_idle_timeout;      /* 0 = off */
	usec_t client_login_timeout;     /* 60 s; 0 = off */
	usec_t idle_transaction_timeout; /* 0 = off */
	usec_t suspend_timeout;          /* 10 s */
	usec_t stats_period;             /* 60 s */

	int max_packet_size;              /* 2147483647 */
	int pkt_buf;                      /* 4096: I/O buffer size */
	char **ignore_startup_parameters; /* NULL-terminated list, never NULL */
	bool application_name_add_host;   /* 0: application_name as the client sent it */
	int max_prepared_statements; /* 200: per server, in transaction mode; 0 = not tracked */

	bool log_connections;    /* 1 */
	bool log_disconnections; /* 1 */
	bool log_pooler_errors;  /* 1 */
	bool log_stats;          /* 1 */
	int log_format;          /* enum log_format: text */
	char *logfile;           /* NULL = none */
	char *pidfile;           /* NULL = none */
	int verbose;             /* 0 */
	bool tcp_keepalive;      /* 1 */
	int tcp_keepidle;        /* s before the first probe; 0 = the system's */
	int tcp_keepintvl;       /* s between probes; 0 = the system's */
	int tcp_keepcnt;         /* probes before the peer is dead; 0 = the system's */
	int tcp_user_timeout;    /* ms unacknowledged data may wait; 0 = the system's */
	int tcp_socket_buffer;   /* SO_SNDBUF and SO_RCVBUF in bytes; 0 = the system's autotuning */
	usec_t dns_max_ttl;      /* 15 s: how long a resolved host name is reused */
	char *resolv_conf;       /* NULL = the system's resolv.conf and hosts file */
	bool config_watch;       /* 0: SIGHUP/RELOAD only; 1: also reload when the file changes */

	/* TLS towards clients (PgBouncer's keys; files are read by tls.c at start and reload) */
	enum tls_sslmode client_tls_sslmode; /* disable */
	char *client_tls_key_file;           /* NULL = unset */
	char *client_tls_cert_file;
	char *client_tls_ca_file;   /* NULL: client certificates are not asked for */
	char *client_tls_protocols; /* "secure" = tlsv1.2,tlsv1.3 */
	char *client_tls_ciphers;   /* "default" */
	char *client_tls13_ciphers; /* NULL = OpenSSL's */
	char *client_tls_ecdhcurve; /* "auto" */
	char *client_tls_dheparams; /* "auto" */
	/* TLS towards PostgreSQL (not over unix sockets) */
	enum tls_sslmode server_tls_sslmode; /* prefer */
	char *server_tls_ca_file;            /* NULL: the system's CA store */
	char *server_tls_key_file;           /* NULL: no client certificate */
	char *server_tls_cert_file;
	char *server_tls_protocols; /* "secure" */
	char *server_tls_ciphers;   /* "default" */
	char *server_tls13_ciphers; /* NULL = OpenSSL's */

	/* admin console (issue 3) */
	char *admin_listen_addr;  /* NULL = same as listen_addr */
	int admin_port;           /* 6433; 0 = no admin port */
	char **admin_users;       /* NULL-terminated list, never NULL */
	char **stats_users;       /* NULL-terminated list, never NULL */
	int warn_waiting_clients; /* 10: log a WARNING when a pool has more waiters; 0 = off */

	/* shutdown on SIGTERM (issue 11) */
	usec_t shutdown_delay; /* 0: lame-duck time: /readyz 503 but still accepting */
	usec_t shutdown_timeout; /* 0 = none: the longest drain before the remaining clients are cut */
	bool so_reuseport;       /* 0: SO_REUSEPORT on the TCP listeners (rolling restarts) */
	int peer_id;             /* 0 = no peering; else in every cancel key, see [peers] */
	bool status_page;        /* 1: GET / on the admin port is the HTML status page */
	bool query_insight;      /* 1: per-statement statistics (SHOW QUERIES) */
	int query_stats_max;     /* 5000 statements; a change keeps what fits (insight.c) */
	int query_log_min_duration; /* ms: log executions at least this long; -1 = off */
	int query_metrics_top;      /* 20: statements with /metrics families, by total time */
	int n_plus_one_threshold;   /* 10 executions in a row make an N+1 loop; 0 = off */
	usec_t n_plus_one_window;   /* 1 s: autocommit executions further apart start afresh */
};

/*
 * Parse `path` into a newly allocated config. On failure returns NULL and
 * writes "file:line: key: reason" (or "file: reason") into err. A file is
 * refused when it lacks the global section ([sluice] or [pgbouncer]) or the
 * [databases] section (which may be empty), or holds a NUL byte, and when
 * auth_type = hba has no auth_hba_file (at the auth_type line). Unknown
 * keys are logged as warnings and ignored. The files the keys name are not
 * read here. The caller frees with config_free.
 */
struct config *config_load(const char *path, char *err, size_t errlen);

/* Longest source text config_key_source returns. */
#define CONFIG_SOURCE_LEN 1100

/*
 * A config holding every default, with `path` as its name in messages, for
 * building one without a file (configenv). NULL when out of memory.
 */
struct config *config_new(const char *path);

/*
 * Set any global key (restart-only ones too: the config is being built) and
 * record `source` (e.g. "env SLUICE_POOL_MODE") for SHOW CONFIG. False with
 * "key: reason" in err, never quoting the value; cfg is then unchanged.
 */
bool config_put_key(struct config *cfg, const char *key, const char *value, const char *source,
		    char *err, size_t errlen) __attribute__((warn_unused_result));

/* Where a key's value came from: "default", "FILE:LINE", "SET", or what config_put_key
 * recorded; NULL for an unknown key. Valid until the key changes. */
const char *config_key_source(const struct config *cfg, const char *key);

/* The keys-conflict check a file load makes (NULL: fine, else the reason). */
const char *config_conflict(const struct config *cfg);

/*
 * A new [databases] entry named `name` (replacing one of that name), every
 * field unset as a file entry starts; fill it with malloc'd strings. NULL when
 * out of memory. The pointer is valid until the next config_add_db.
 */
struct config_db *config_add_db(struct config *cfg, const char *name);

/* Free a config from config_load; NULL is allowed. */
void config_free(struct config *cfg);

/* Find the [databases] entry for `name`: exact match, else "*", else NULL. */
const struct config_db *config_find_db(const struct config *cfg, const char *name);

/* The [peers] entry with this peer_id, or NULL. */
const struct config_peer *config_find_peer(const struct config *cfg, int id);

/* Find the [users] entry for `name`, or NULL. */
const struct config_user *config_find_user(const struct config *cfg, const char *name);

/*
 * How users missing from auth_file are looked up for clients of database
 * entry `db`: its own auth_user / auth_query / auth_dbname, else the global
 * ones. False (out untouched) when no look-up applies: no auth_user, or an
 * empty auth_query. The strings live as long as cfg.
 */
struct config_auth_lookup {
	const char *user;   /* the role sluice logs in as to run the query */
	const char *query;  /* SQL with $1 = the client's user name */
	const char *dbname; /* a [databases] entry name, or NULL: db itself */
};
bool config_auth_lookup(const struct config *cfg, const struct config_db *db,
			struct config_auth_lookup *out) __attribute__((warn_unused_result));

/* True when `name` is in the NULL-terminated list. */
bool config_list_has(char *const *list, const char *name);

/* libpq's word for a TLS mode ("disable" .. "verify-full"). */
const char *config_sslmode_str(enum tls_sslmode m);

/* Parse a pool_mode word; returns POOL_MODE_UNSET when unknown. */
enum pool_mode config_parse_pool_mode(const char *s);
const char *config_pool_mode_str(enum pool_mode m);

/*
 * Iterate over every global key in table order for SHOW CONFIG: calls
 * fn(key, value, default_value, reloadable, arg) with values rendered as text.
 */
typedef void (*config_key_fn)(const char *key, const char *value, const char *def, bool reloadable,
			      void *arg);
void config_foreach_key(const struct config *cfg, config_key_fn fn, void *arg);

/*
 * Set one global key at run time (admin SET). Fails with a reason in err when
 * the key is unknown, not reloadable, the value is invalid, or it would leave
 * auth_type = hba without auth_hba_file; cfg is then unchanged.
 */
bool config_set_key(struct config *cfg, const char *key, const char *value, char *err,
		    size_t errlen) __attribute__((warn_unused_result));

/*
 * Names of keys whose change needs a restart (listen_addr, listen_port,
 * unix_socket_dir, ...) and differ between old and new: calls fn for each.
 */
typedef void (*config_diff_fn)(const char *key, void *arg);
void config_diff_restart_keys(const struct config *old_cfg, const struct config *new_cfg,
			      config_diff_fn fn, void *arg);

#endif
