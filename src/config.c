/*
 * config: reads the PgBouncer-compatible INI file into a struct config.
 * One table describes every global key (name, type, default text, whether a
 * reload or admin SET may change it, where it lives, its allowed range);
 * parsing, SHOW CONFIG rendering, SET and the reload diff all walk that table.
 * [databases] and [users] values are libpq-style "key=value ..." strings whose
 * keys are described by two more tables of the same shape. What a value of
 * each type looks like is configkey's business; this file owns the tables,
 * the INI reading and the public API.
 */
#include "sluice/config.h"

#include "sluice/configkey.h"
#include "sluice/log.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <ini.h>
#include <openssl/crypto.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest accepted line: long enough for any sane connect_query. */
#define CONFIG_MAX_LINE 16384

/* A problem in the file that does not stop the load (event "config" in json). */
#define config_warn(...) log_event(LOG_WARNING, "config", __VA_ARGS__)

/* ------------------------------------------------------------------------ */
/* Key tables                                                                 */
/* ------------------------------------------------------------------------ */

#define RELOAD             true
#define RESTART            false
#define MEMBER_SIZE(st, m) sizeof(((struct st *)0)->m)
#define FIELD(st, key, m, t, lo, hi, w)                                                       \
	{                                                                                     \
		.name = key, .type = t, .reloadable = true, .offset = offsetof(struct st, m), \
		.size = MEMBER_SIZE(st, m), .min = lo, .max = hi, .words = w,                 \
	}
#define GKEY(m, t, d, r, lo, hi, w)                                                              \
	{                                                                                        \
		.name = #m, .type = t, .def = d, .reloadable = r,                                \
		.offset = offsetof(struct config, m), .size = MEMBER_SIZE(config, m), .min = lo, \
		.max = hi, .words = w,                                                           \
	}
#define K_INT(m, d, r, lo, hi) GKEY(m, T_INT, d, r, lo, hi, NULL)
#define K_BOOL(m, d, r)        GKEY(m, T_BOOL, d, r, 0, 0, NULL)
#define K_STR(m, d, r)         GKEY(m, T_STR, d, r, 0, 0, NULL)
#define K_OPTSTR(m, r)         GKEY(m, T_OPTSTR, "", r, 0, 0, NULL)
#define K_DUR(m, d, r)         GKEY(m, T_DURATION, d, r, 0, INT64_MAX, NULL)
#define K_LIST(m, r)           GKEY(m, T_LIST, "", r, 0, 0, NULL)
#define K_ENUM(m, d, r, w)     GKEY(m, T_ENUM, d, r, 0, 0, w)

static const struct enum_word pool_mode_words[] = {
	{ "session", POOL_MODE_SESSION },
	{ "transaction", POOL_MODE_TRANSACTION },
	{ "statement", POOL_MODE_STATEMENT },
	{ NULL, 0 },
};

static const struct enum_word auth_type_words[] = {
	{ "trust", AUTH_TYPE_TRUST }, { "plain", AUTH_TYPE_PLAIN },
	{ "md5", AUTH_TYPE_MD5 },     { "scram-sha-256", AUTH_TYPE_SCRAM },
	{ "hba", AUTH_TYPE_HBA },     { "any", WORD_UNSUPPORTED },
	{ "cert", AUTH_TYPE_CERT },   { "pam", WORD_UNSUPPORTED },
	{ "ldap", WORD_UNSUPPORTED }, { NULL, 0 },
};

static const struct enum_word log_format_words[] = {
	{ "text", LOG_FORMAT_TEXT },
	{ "json", LOG_FORMAT_JSON },
	{ NULL, 0 },
};

static const struct enum_word sslmode_words[] = {
	{ "disable", SSLMODE_DISABLE },
	{ "allow", SSLMODE_ALLOW },
	{ "prefer", SSLMODE_PREFER },
	{ "require", SSLMODE_REQUIRE },
	{ "verify-ca", SSLMODE_VERIFY_CA },
	{ "verify-full", SSLMODE_VERIFY_FULL },
	{ NULL, 0 },
};
/*
 * PgBouncer's default (1.25): no row for an unknown role or one that may not
 * log in, and a NULL password once VALID UNTIL has passed, so an expired
 * role cannot log in through sluice any more than into PostgreSQL.
 */
#define CONFIG_DEFAULT_AUTH_QUERY                                                     \
	"SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword " \
	"END FROM pg_authid WHERE rolname=$1 AND rolcanlogin"

/* The global keys, in the order SHOW CONFIG lists them. */
static const struct key_def global_keys[] = {
	K_STR(listen_addr, "127.0.0.1", RESTART),
	K_INT(listen_port, "6432", RESTART, 1, 65535),
	K_STR(unix_socket_dir, "/tmp", RESTART),
	GKEY(unix_socket_mode, T_MODE, "0777", RESTART, 0, 0777, NULL),
	K_INT(listen_backlog, "128", RESTART, 1, INT_MAX),

	K_ENUM(auth_type, "md5", RELOAD, auth_type_words),
	K_OPTSTR(auth_file, RELOAD),
	K_OPTSTR(auth_hba_file, RELOAD),
	K_OPTSTR(auth_ident_file, RELOAD),
	K_OPTSTR(auth_user, RELOAD),
	K_STR(auth_query, CONFIG_DEFAULT_AUTH_QUERY, RELOAD),
	K_OPTSTR(auth_dbname, RELOAD),

	K_ENUM(pool_mode, "session", RELOAD, pool_mode_words),
	K_INT(max_client_conn, "100", RELOAD, 1, INT_MAX),
	K_INT(default_pool_size, "20", RELOAD, 0, INT_MAX),
	K_INT(min_pool_size, "0", RELOAD, 0, INT_MAX),
	K_INT(reserve_pool_size, "0", RELOAD, 0, INT_MAX),
	K_DUR(reserve_pool_timeout, "5", RELOAD),
	K_INT(max_db_connections, "0", RELOAD, 0, INT_MAX),
	K_INT(max_user_connections, "0", RELOAD, 0, INT_MAX),

	K_STR(server_reset_query, "DISCARD ALL", RELOAD),
	K_BOOL(server_reset_query_always, "0", RELOAD),
	K_STR(server_check_query, "select 1", RELOAD),
	K_DUR(server_check_delay, "30", RELOAD),
	K_DUR(server_lifetime, "3600", RELOAD),
	K_DUR(server_idle_timeout, "600", RELOAD),
	K_BOOL(server_round_robin, "0", RELOAD),
	K_DUR(server_connect_timeout, "15", RELOAD),
	K_DUR(server_login_retry, "15", RELOAD),
	GKEY(internal_query_timeout, T_DURATION, "30", RELOAD, 1000, INT64_MAX, NULL),
	K_DUR(query_timeout, "0", RELOAD),
	K_DUR(query_wait_timeout, "120", RELOAD),
	K_DUR(client_idle_timeout, "0", RELOAD),
	K_DUR(client_login_timeout, "60", RELOAD),
	K_DUR(idle_transaction_timeout, "0", RELOAD),
	K_DUR(suspend_timeout, "10", RELOAD),
	GKEY(stats_period, T_DURATION, "60", RELOAD, USEC_PER_SEC, INT64_MAX, NULL),

	K_INT(max_packet_size, "2147483647", RELOAD, 1024, INT_MAX),
	K_INT(pkt_buf, "4096", RESTART, 1024, 16 * 1024 * 1024),
	K_LIST(ignore_startup_parameters, RELOAD),
	K_BOOL(application_name_add_host, "0", RELOAD),
	K_INT(max_prepared_statements, "200", RELOAD, 0, INT_MAX),

	K_BOOL(log_connections, "1", RELOAD),
	K_BOOL(log_disconnections, "1", RELOAD),
	K_BOOL(log_pooler_errors, "1", RELOAD),
	K_BOOL(log_stats, "1", RELOAD),
	K_ENUM(log_format, "text", RELOAD, log_format_words),
	K_OPTSTR(logfile, RELOAD),
	K_OPTSTR(pidfile, RESTART),
	K_INT(verbose, "0", RELOAD, 0, INT_MAX),
	K_BOOL(tcp_keepalive, "1", RELOAD),
	K_INT(tcp_keepidle, "0", RELOAD, 0, 32767),
	K_INT(tcp_keepintvl, "0", RELOAD, 0, 32767),
	K_INT(tcp_keepcnt, "0", RELOAD, 0, 127),
	K_INT(tcp_user_timeout, "0", RELOAD, 0, INT_MAX),
	K_INT(tcp_socket_buffer, "0", RELOAD, 0, INT_MAX / 2),
	K_DUR(dns_max_ttl, "15", RELOAD),
	K_OPTSTR(resolv_conf, RESTART),
	K_BOOL(config_watch, "0", RELOAD),

	K_ENUM(client_tls_sslmode, "disable", RELOAD, sslmode_words),
	K_OPTSTR(client_tls_key_file, RELOAD),
	K_OPTSTR(client_tls_cert_file, RELOAD),
	K_OPTSTR(client_tls_ca_file, RELOAD),
	K_STR(client_tls_protocols, "secure", RELOAD),
	K_STR(client_tls_ciphers, "default", RELOAD),
	K_OPTSTR(client_tls13_ciphers, RELOAD),
	K_STR(client_tls_ecdhcurve, "auto", RELOAD),
	K_STR(client_tls_dheparams, "auto", RELOAD),
	K_ENUM(server_tls_sslmode, "prefer", RELOAD, sslmode_words),
	K_OPTSTR(server_tls_ca_file, RELOAD),
	K_OPTSTR(server_tls_key_file, RELOAD),
	K_OPTSTR(server_tls_cert_file, RELOAD),
	K_STR(server_tls_protocols, "secure", RELOAD),
	K_STR(server_tls_ciphers, "default", RELOAD),
	K_OPTSTR(server_tls13_ciphers, RELOAD),

	K_OPTSTR(admin_listen_addr, RESTART),
	K_INT(admin_port, "6433", RESTART, 0, 65535),
	K_LIST(admin_users, RELOAD),
	K_LIST(stats_users, RELOAD),
	K_INT(warn_waiting_clients, "10", RELOAD, 0, INT_MAX),

	K_DUR(shutdown_delay, "0", RELOAD),
	K_DUR(shutdown_timeout, "0", RELOAD),
	K_BOOL(so_reuseport, "0", RESTART),
	K_INT(peer_id, "0", RESTART, 0, CONFIG_MAX_PEER_ID),
	K_BOOL(status_page, "1", RELOAD),
	K_BOOL(query_insight, "1", RELOAD),
	K_INT(query_stats_max, "5000", RELOAD, 0, 1000000),
	K_INT(query_log_min_duration, "-1", RELOAD, -1, INT_MAX),
	K_INT(query_metrics_top, "20", RELOAD, 0, 1000),
	K_INT(n_plus_one_threshold, "10", RELOAD, 0, INT_MAX),
	K_DUR(n_plus_one_window, "1", RELOAD),
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Keys of a [databases] entry. */
static const struct key_def db_fields[] = {
	FIELD(config_db, "host", host, T_OPTSTR, 0, 0, NULL),
	FIELD(config_db, "port", port, T_INT, 1, 65535, NULL),
	FIELD(config_db, "dbname", dbname, T_OPTSTR, 0, 0, NULL),
	FIELD(config_db, "user", user, T_OPTSTR, 0, 0, NULL),
	FIELD(config_db, "password", password, T_OPTSTR, 0, 0, NULL),
	FIELD(config_db, "pool_size", pool_size, T_INT, 0, INT_MAX, NULL),
	FIELD(config_db, "min_pool_size", min_pool_size, T_INT, 0, INT_MAX, NULL),
	FIELD(config_db, "reserve_pool", reserve_pool, T_INT, 0, INT_MAX, NULL),
	FIELD(config_db, "reserve_pool_size", reserve_pool, T_INT, 0, INT_MAX, NULL),
	FIELD(config_db, "pool_mode", pool_mode, T_ENUM, 0, 0, pool_mode_words),
	FIELD(config_db, "max_db_connections", max_db_connections, T_INT, 0, INT_MAX, NULL),
	FIELD(config_db, "connect_query", connect_query, T_OPTSTR, 0, 0, NULL),
	FIELD(config_db, "client_encoding", client_encoding, T_OPTSTR, 0, 0, NULL),
	FIELD(config_db, "datestyle", datestyle, T_OPTSTR, 0, 0, NULL),
	FIELD(config_db, "timezone", timezone, T_OPTSTR, 0, 0, NULL),
	FIELD(config_db, "application_name", application_name, T_OPTSTR, 0, 0, NULL),
	FIELD(config_db, "auth_user", auth_user, T_OPTSTR, 0, 0, NULL),
	FIELD(config_db, "auth_query", auth_query, T_OPTSTR, 0, 0, NULL),
	FIELD(config_db, "auth_dbname", auth_dbname, T_OPTSTR, 0, 0, NULL),
};

/* Keys of a [users] entry. */
static const struct key_def user_fields[] = {
	FIELD(config_user, "pool_mode", pool_mode, T_ENUM, 0, 0, pool_mode_words),
	FIELD(config_user, "pool_size", pool_size, T_INT, 0, INT_MAX, NULL),
	FIELD(config_user, "max_user_connections", max_user_connections, T_INT, 0, INT_MAX, NULL),
};

/* Keys of a [peers] entry (PgBouncer's; pool_size is accepted, a cancel needs one connection). */
static const struct key_def peer_fields[] = {
	FIELD(config_peer, "host", host, T_OPTSTR, 0, 0, NULL),
	FIELD(config_peer, "port", port, T_INT, 1, 65535, NULL),
	FIELD(config_peer, "pool_size", pool_size, T_INT, 0, INT_MAX, NULL),
};

/*
 * PgBouncer keys sluice accepts and ignores with a warning, so an existing
 * pgbouncer.ini loads. A trailing '*' matches any suffix.
 */
static const char *const ignored_keys[] = {
	"autodb_idle_timeout",
	"cancel_wait_timeout",
	"conffile",
	"disable_pqexec",
	"dns_*",
	"job_name",
	"max_db_client_connections",
	"max_user_client_connections",
	"query_wait_notify",
	"sbuf_loopcnt",
	"scram_iterations",
	"server_fast_close",
	"service_name",
	"syslog",
	"syslog_facility",
	"syslog_ident",
	"tcp_defer_accept",
	"track_extra_parameters",
	"transaction_timeout",
	"unix_socket_group",
	"user",
};

static bool key_is_ignored(const char *name)
{
	for (size_t i = 0; i < N_ELEMS(ignored_keys); i++) {
		const char *pat = ignored_keys[i];
		size_t len = strlen(pat);
		if (pat[len - 1] == '*' ? strncasecmp(pat, name, len - 1) == 0
					: strcasecmp(pat, name) == 0)
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                    */
/* ------------------------------------------------------------------------ */

struct parse_ctx {
	struct config *cfg;
	FILE *fp;
	int line;                         /* the line inih is working on: our reader counts them */
	bool failed;                      /* err holds the first error; later keys are refused */
	bool seen_global, seen_databases; /* section headers met, even with no keys */
	int auth_type_line;               /* where auth_type was set, for the hba check */
	char *err;
	size_t errlen;
	size_t cap_dbs, cap_users, cap_peers;
};

static int fail(struct parse_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parse_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (ctx->failed)
		return 0;
	ctx->failed = true;
	int n = snprintf(ctx->err, ctx->errlen, "%s:%d: ", ctx->cfg->path, ctx->line);
	if (n >= 0 && (size_t)n < ctx->errlen) {
		va_start(ap, fmt);
		vsnprintf(ctx->err + n, ctx->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return 0;
}

/* Where key k's value came from; false when out of memory (the old source stays). */
static bool set_source(struct config *cfg, const struct key_def *k, const char *source)
{
	size_t i = (size_t)(k - global_keys);
	char *copy = strdup(source);

	if (copy == NULL)
		return false;
	free(cfg->sources[i]);
	cfg->sources[i] = copy;
	return true;
}

static int on_global(struct parse_ctx *ctx, const char *name, const char *value)
{
	const struct key_def *k = configkey_find(global_keys, N_ELEMS(global_keys), name);
	char why[CONFIGKEY_WHY_LEN];

	if (k == NULL && key_is_ignored(name)) {
		config_warn("%s:%d: %s is not supported, ignored", ctx->cfg->path, ctx->line, name);
		return 1;
	}
	if (k == NULL) {
		config_warn("%s:%d: unknown key %s, ignored", ctx->cfg->path, ctx->line, name);
		return 1;
	}
	if (!configkey_assign(ctx->cfg, k, value, why, sizeof(why)))
		return fail(ctx, "%s: %s", k->name, why);
	char source[CONFIG_SOURCE_LEN];
	snprintf(source, sizeof(source), "%s:%d", ctx->cfg->path, ctx->line);
	if (!set_source(ctx->cfg, k, source))
		return fail(ctx, "%s: out of memory", k->name);
	if (strcmp(k->name, "auth_type") == 0)
		ctx->auth_type_line = ctx->line;
	return 1;
}

/* Make room for one more element; returns the (moved) array or NULL when out of memory. */
static void *array_grow(void *arr, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return arr;
	size_t ncap = *cap ? *cap * 2 : 8;
	void *p = realloc(arr, ncap * size);
	if (p != NULL)
		*cap = ncap;
	return p;
}

static void db_release(struct config_db *db)
{
	free(db->name);
	configkey_release(db, db_fields, N_ELEMS(db_fields));
}

static bool db_init(struct config_db *db, const char *name, int line)
{
	*db = (struct config_db){
		.port = 5432,
		.pool_size = -1,
		.min_pool_size = -1,
		.reserve_pool = -1,
		.pool_mode = POOL_MODE_UNSET,
		.max_db_connections = -1,
		.line = line,
	};
	db->name = strdup(name);
	return db->name != NULL;
}

/* The slot for database `name`: a new one, or the earlier one reset (later wins). */
static struct config_db *db_slot(struct parse_ctx *ctx, const char *name)
{
	struct config *cfg = ctx->cfg;

	for (size_t i = 0; i < cfg->n_dbs; i++) {
		struct config_db *db = &cfg->dbs[i];
		if (strcmp(db->name, name) != 0)
			continue;
		config_warn(
			"%s:%d: database %s was already defined on line %d; this entry replaces it",
			cfg->path, ctx->line, name, db->line);
		db_release(db);
		return db_init(db, name, ctx->line) ? db : NULL;
	}
	struct config_db *dbs = array_grow(cfg->dbs, cfg->n_dbs, &ctx->cap_dbs, sizeof(*dbs));
	if (dbs == NULL)
		return NULL;
	cfg->dbs = dbs;
	if (!db_init(&dbs[cfg->n_dbs], name, ctx->line)) {
		free(dbs[cfg->n_dbs].name);
		return NULL;
	}
	return &dbs[cfg->n_dbs++];
}

static int on_database(struct parse_ctx *ctx, const char *name, const char *value)
{
	char why[CONFIGKEY_WHY_LEN];

	if (name[0] == '\0')
		return fail(ctx, "empty database name");
	struct config_db *db = db_slot(ctx, name);
	if (db == NULL)
		return fail(ctx, "%s: out of memory", name);
	if (!configkey_apply_connstr(db, db_fields, N_ELEMS(db_fields), value, why, sizeof(why)))
		return fail(ctx, "%s: %s", name, why);
	return 1;
}

static bool user_init(struct config_user *u, const char *name, int line)
{
	*u = (struct config_user){
		.pool_mode = POOL_MODE_UNSET,
		.pool_size = -1,
		.max_user_connections = -1,
		.line = line,
	};
	u->name = strdup(name);
	return u->name != NULL;
}

/* The slot for user `name`: a new one, or the earlier one reset (later wins). */
static struct config_user *user_slot(struct parse_ctx *ctx, const char *name)
{
	struct config *cfg = ctx->cfg;

	for (size_t i = 0; i < cfg->n_users; i++) {
		struct config_user *u = &cfg->users[i];
		if (strcmp(u->name, name) != 0)
			continue;
		config_warn("%s:%d: user %s was already defined on line %d; this entry replaces it",
			    cfg->path, ctx->line, name, u->line);
		free(u->name);
		return user_init(u, name, ctx->line) ? u : NULL;
	}
	struct config_user *users =
		array_grow(cfg->users, cfg->n_users, &ctx->cap_users, sizeof(*users));
	if (users == NULL)
		return NULL;
	cfg->users = users;
	if (!user_init(&users[cfg->n_users], name, ctx->line))
		return NULL;
	return &users[cfg->n_users++];
}

static int on_user(struct parse_ctx *ctx, const char *name, const char *value)
{
	char why[CONFIGKEY_WHY_LEN];

	if (name[0] == '\0')
		return fail(ctx, "empty user name");
	struct config_user *u = user_slot(ctx, name);
	if (u == NULL)
		return fail(ctx, "%s: out of memory", name);
	if (!configkey_apply_connstr(u, user_fields, N_ELEMS(user_fields), value, why, sizeof(why)))
		return fail(ctx, "%s: %s", name, why);
	return 1;
}

/*
 * A peer's host is a unix socket directory or a numeric address: a cancel
 * is forwarded at once, with no name to resolve on the way.
 */
static bool peer_host_ok(const char *host)
{
	unsigned char buf[16];
	return host[0] == '/' || inet_pton(AF_INET, host, buf) == 1 ||
	       inet_pton(AF_INET6, host, buf) == 1;
}

static int on_peer(struct parse_ctx *ctx, const char *name, const char *value)
{
	struct config *cfg = ctx->cfg;
	char why[CONFIGKEY_WHY_LEN], *end;

	errno = 0;
	long id = strtol(name, &end, 10);
	if (*name == '\0' || *end != '\0' || errno != 0 || id < 1 || id > CONFIG_MAX_PEER_ID)
		return fail(ctx, "peer %s: the name must be a peer_id from 1 to %d", name,
			    CONFIG_MAX_PEER_ID);
	for (size_t i = 0; i < cfg->n_peers; i++)
		if (cfg->peers[i].id == (int)id)
			return fail(ctx, "peer %ld: already defined on line %d", id,
				    cfg->peers[i].line);
	struct config_peer *peers =
		array_grow(cfg->peers, cfg->n_peers, &ctx->cap_peers, sizeof(*peers));
	if (peers == NULL)
		return fail(ctx, "peer %ld: out of memory", id);
	cfg->peers = peers;
	struct config_peer *p = &peers[cfg->n_peers++];
	*p = (struct config_peer){
		.id = (int)id, .port = 6432, .pool_size = -1, .line = ctx->line
	};
	if (!configkey_apply_connstr(p, peer_fields, N_ELEMS(peer_fields), value, why, sizeof(why)))
		return fail(ctx, "peer %ld: %s", id, why);
	if (p->host == NULL)
		return fail(ctx, "peer %ld: host= is required", id);
	if (!peer_host_ok(p->host))
		return fail(ctx, "peer %ld: host must be a unix socket directory or an IP address",
			    id);
	return 1;
}

static const struct section_def {
	const char *name;
	int (*handle)(struct parse_ctx *ctx, const char *name, const char *value);
} sections[] = {
	{ "sluice", on_global }, { "pgbouncer", on_global }, { "databases", on_database },
	{ "users", on_user },    { "peers", on_peer },
};

static const struct section_def *section_find(const char *name)
{
	for (size_t i = 0; i < N_ELEMS(sections); i++)
		if (strcasecmp(sections[i].name, name) == 0)
			return &sections[i];
	return NULL;
}

/* inih handler: route one key to its section's handler. */
static int on_key(void *arg, const char *section, const char *name, const char *value)
{
	struct parse_ctx *ctx = arg;

	if (ctx->failed)
		return 0;
	if (section[0] == '\0')
		return fail(ctx, "%s: key outside of any section (put it under [sluice])", name);
	const struct section_def *s = section_find(section);
	return s ? s->handle(ctx, name, value) : 1; /* unknown sections: warned by the reader */
}

/*
 * The reader sees every line before inih: warn about unknown sections, and
 * note the required ones even when no key follows them.
 */
static void inspect_line(struct parse_ctx *ctx, const char *line)
{
	const char *p = configkey_skip_space(line);

	if (ctx->failed)
		return;
	if (strncmp(p, "%include", 8) == 0) {
		fail(ctx, "%%include is not supported");
		return;
	}
	if (*p != '[')
		return;
	const char *end = strchr(p, ']');
	if (end == NULL)
		return; /* inih reports the syntax error */
	char *name = strndup(p + 1, (size_t)(end - p - 1));
	const struct section_def *s = name ? section_find(name) : NULL;
	if (name != NULL && s == NULL)
		config_warn("%s:%d: unknown section [%s], its keys are ignored", ctx->cfg->path,
			    ctx->line, name);
	if (s != NULL && s->handle == on_global)
		ctx->seen_global = true;
	if (s != NULL && s->handle == on_database)
		ctx->seen_databases = true;
	free(name);
}

/*
 * inih reader: one whole line per call, so ctx->line is inih's line number.
 * A NUL byte is an error: inih would see the line cut short there, and a
 * file holding one is not the text file it looks like.
 */
static char *read_line(char *buf, int size, void *arg)
{
	struct parse_ctx *ctx = arg;
	int len = 0, c = EOF;
	bool nul = false;

	if (ctx->failed)
		return NULL; /* stop inih after the first error */
	while (len < size - 1 && (c = getc(ctx->fp)) != EOF) {
		buf[len++] = (char)c;
		nul |= c == '\0';
		if (c == '\n')
			break;
	}
	if (len == 0)
		return NULL;
	buf[len] = '\0';
	ctx->line++;
	if (c != '\n' && c != EOF) {
		while ((c = getc(ctx->fp)) != EOF && c != '\n')
			;
		fail(ctx, "line longer than %d bytes", CONFIG_MAX_LINE - 3);
		return NULL;
	}
	if (nul) {
		fail(ctx, "NUL byte in line");
		return NULL;
	}
	inspect_line(ctx, buf);
	return buf;
}

/* inih's behaviour is process-global; set it to PgBouncer's rules for one parse. */
struct ini_options {
	bool multiline, inline_comments, stop_on_first_error, use_stack;
	int max_line;
};

static struct ini_options ini_options_swap(struct ini_options o)
{
	struct ini_options old = { ini_allow_multiline, ini_allow_inline_comments,
				   ini_stop_on_first_error, ini_use_stack, ini_max_line };

	ini_allow_multiline = o.multiline;
	ini_allow_inline_comments = o.inline_comments;
	ini_stop_on_first_error = o.stop_on_first_error;
	ini_use_stack = o.use_stack;
	ini_max_line = o.max_line;
	return old;
}

/*
 * A file without the global section or without [databases] is refused even
 * though every key has a default: an empty, truncated or wrong file would
 * otherwise load as "no databases, no auth_file" and, on a reload, lock
 * every new client out. An empty [databases] section is fine (Debian's
 * stock pgbouncer.ini has one).
 */
static bool has_sections(struct parse_ctx *ctx)
{
	const char *path = ctx->cfg->path;

	if (!ctx->seen_global && !ctx->seen_databases)
		snprintf(ctx->err, ctx->errlen,
			 "%s: no [databases] section and no [sluice] (or [pgbouncer]) section",
			 path);
	else if (!ctx->seen_global)
		snprintf(ctx->err, ctx->errlen, "%s: no [sluice] (or [pgbouncer]) section", path);
	else if (!ctx->seen_databases)
		snprintf(ctx->err, ctx->errlen, "%s: no [databases] section", path);
	return ctx->seen_global && ctx->seen_databases;
}

/*
 * What no single key's validator can see: a combination of keys that
 * cannot work. NULL when the keys agree, else the reason (a static string).
 */
static const char *keys_conflict(const struct config *cfg)
{
	if (cfg->auth_type == AUTH_TYPE_HBA && cfg->auth_hba_file == NULL)
		return "auth_type: hba needs auth_hba_file";
	return NULL;
}

/* keys_conflict for a whole file, reported at the line of the key that asks. */
static bool keys_agree(struct parse_ctx *ctx)
{
	const char *why = keys_conflict(ctx->cfg);

	if (why == NULL)
		return true;
	ctx->line = ctx->auth_type_line;
	fail(ctx, "%s", why);
	return false;
}

static bool parse_file(struct parse_ctx *ctx)
{
	/* No continuation lines and no inline ';' comments: PgBouncer has neither,
	 * and a connect_query may well contain " ;". */
	struct ini_options ours = { false, false, true, true, CONFIG_MAX_LINE };
	struct ini_options saved = ini_options_swap(ours);
	int rc = ini_parse_stream(read_line, ctx, on_key, ctx);

	ini_options_swap(saved);
	if (!ctx->failed && ferror(ctx->fp)) {
		snprintf(ctx->err, ctx->errlen, "%s: read error", ctx->cfg->path);
		return false;
	}
	if (!ctx->failed && rc > 0) {
		ctx->line = rc;
		fail(ctx, "syntax error (expected [section] or key = value)");
	} else if (!ctx->failed && rc < 0) {
		snprintf(ctx->err, ctx->errlen, "%s: out of memory", ctx->cfg->path);
		return false;
	}
	return !ctx->failed && has_sections(ctx) && keys_agree(ctx);
}

/* Contract in config.h. */
struct config *config_new(const char *path)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	char why[CONFIGKEY_WHY_LEN];

	if (cfg == NULL)
		return NULL;
	cfg->path = strdup(path);
	cfg->sources = calloc(N_ELEMS(global_keys), sizeof(cfg->sources[0]));
	bool ok = cfg->path != NULL && cfg->sources != NULL;
	for (size_t i = 0; ok && i < N_ELEMS(global_keys); i++) {
		ok = configkey_assign(cfg, &global_keys[i], global_keys[i].def, why, sizeof(why));
		assert(ok || strcmp(why, "out of memory") == 0);
	}
	if (!ok) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

/*
 * Contract in config.h. Loading stops at the first bad value; the partial
 * config is freed. Not thread-safe: inih's options are process-wide and are
 * set for the duration of the parse.
 */
struct config *config_load(const char *path, char *err, size_t errlen)
{
	struct parse_ctx ctx = { .err = err, .errlen = errlen };

	ctx.cfg = config_new(path);
	if (ctx.cfg == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	ctx.fp = fopen(path, "r");
	if (ctx.fp == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		config_free(ctx.cfg);
		return NULL;
	}
	bool ok = parse_file(&ctx);
	fclose(ctx.fp);
	if (!ok) {
		config_free(ctx.cfg);
		return NULL;
	}
	return ctx.cfg;
}

/* Frees the config, every string and list in it and its db/user arrays. */
void config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n_dbs; i++)
		db_release(&cfg->dbs[i]);
	free(cfg->dbs);
	for (size_t i = 0; i < cfg->n_users; i++)
		free(cfg->users[i].name);
	free(cfg->users);
	for (size_t i = 0; i < cfg->n_peers; i++)
		configkey_release(&cfg->peers[i], peer_fields, N_ELEMS(peer_fields));
	free(cfg->peers);
	configkey_release(cfg, global_keys, N_ELEMS(global_keys));
	for (size_t i = 0; cfg->sources != NULL && i < N_ELEMS(global_keys); i++)
		free(cfg->sources[i]);
	free(cfg->sources);
	if (cfg->url_password != NULL)
		OPENSSL_cleanse(cfg->url_password, strlen(cfg->url_password));
	free(cfg->url_user);
	free(cfg->url_password);
	free(cfg->path);
	free(cfg);
}

/* ------------------------------------------------------------------------ */
/* Look-ups                                                                   */
/* ------------------------------------------------------------------------ */

/* Exact (case-sensitive) name first, then "*"; the result lives as long as cfg. */
const struct config_db *config_find_db(const struct config *cfg, const char *name)
{
	const struct config_db *fallback = NULL;

	for (size_t i = 0; i < cfg->n_dbs; i++) {
		if (strcmp(cfg->dbs[i].name, name) == 0)
			return &cfg->dbs[i];
		if (strcmp(cfg->dbs[i].name, "*") == 0)
			fallback = &cfg->dbs[i];
	}
	return fallback;
}

/* Case-sensitive; the result lives as long as cfg. */
const char *config_sslmode_str(enum tls_sslmode m)
{
	for (const struct enum_word *w = sslmode_words; w->word; w++)
		if (w->value == (int)m)
			return w->word;
	return "?";
}

const struct config_peer *config_find_peer(const struct config *cfg, int id)
{
	for (size_t i = 0; i < cfg->n_peers; i++)
		if (cfg->peers[i].id == id)
			return &cfg->peers[i];
	return NULL;
}

const struct config_user *config_find_user(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_users; i++)
		if (strcmp(cfg->users[i].name, name) == 0)
			return &cfg->users[i];
	return NULL;
}

/* An entry's own keys win over the global ones, each on its own. */
bool config_auth_lookup(const struct config *cfg, const struct config_db *db,
			struct config_auth_lookup *out)
{
	const char *user = db->auth_user ? db->auth_user : cfg->auth_user;
	const char *query = db->auth_query ? db->auth_query : cfg->auth_query;

	if (user == NULL || query == NULL || query[0] == '\0')
		return false;
	out->user = user;
	out->query = query;
	out->dbname = db->auth_dbname ? db->auth_dbname : cfg->auth_dbname;
	return true;
}

/* Case-sensitive, as user names are; a NULL list holds nothing. */
bool config_list_has(char *const *list, const char *name)
{
	for (; list != NULL && *list != NULL; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
}

/* Case-insensitive word; POOL_MODE_UNSET for anything else. */
enum pool_mode config_parse_pool_mode(const char *s)
{
	const struct enum_word *w = configkey_word_find(pool_mode_words, s);
	return w ? (enum pool_mode)w->value : POOL_MODE_UNSET;
}

/* A static word; "" for POOL_MODE_UNSET (never NULL). */
const char *config_pool_mode_str(enum pool_mode m)
{
	for (const struct enum_word *w = pool_mode_words; w->word != NULL; w++)
		if (w->value == (int)m)
			return w->word;
	return "";
}

/* ------------------------------------------------------------------------ */
/* SHOW CONFIG, SET, reload                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Values are rendered as they would be written in the file (durations in
 * seconds, lists comma-joined, bools 0/1, unset strings ""); the strings
 * passed to fn are valid only during the call.
 */
void config_foreach_key(const struct config *cfg, config_key_fn fn, void *arg)
{
	for (size_t i = 0; i < N_ELEMS(global_keys); i++) {
		const struct key_def *k = &global_keys[i];
		char *value = configkey_render(cfg, k);
		fn(k->name, value ? value : "", k->def, k->reloadable, arg);
		free(value);
	}
}

/* The global key `key`, or NULL with "key: unknown key" (or "not supported") in err. */
static const struct key_def *global_key(const char *key, char *err, size_t errlen)
{
	const struct key_def *k = configkey_find(global_keys, N_ELEMS(global_keys), key);

	if (k == NULL)
		snprintf(err, errlen, "%s: %s", key,
			 key_is_ignored(key) ? "not supported" : "unknown key");
	return k;
}

/*
 * `value` is taken as written (no trimming or unquoting: the caller strips
 * SQL quotes). On failure cfg is unchanged and err reads "key: reason".
 */
bool config_set_key(struct config *cfg, const char *key, const char *value, char *err,
		    size_t errlen)
{
	const struct key_def *k = global_key(key, err, errlen);
	char why[CONFIGKEY_WHY_LEN];

	if (k == NULL)
		return false;
	if (!k->reloadable) {
		snprintf(err, errlen, "%s: cannot be changed at run time (needs a restart)",
			 k->name);
		return false;
	}
	char *old = configkey_render(cfg, k);
	if (old == NULL || value == NULL || !configkey_assign(cfg, k, value, why, sizeof(why))) {
		snprintf(err, errlen, "%s: %s", k->name,
			 old == NULL ? "out of memory"
			 : value     ? why
				     : "missing value");
		free(old);
		return false;
	}
	const char *conflict = keys_conflict(cfg);
	if (conflict != NULL) {
		/* the old value was valid text for this key: it goes back as it was */
		bool restored = configkey_assign(cfg, k, old, why, sizeof(why));
		assert(restored);
		(void)restored;
		snprintf(err, errlen, "%s", conflict);
	} else if (!set_source(cfg, k, "SET")) {
		log_warn("SET %s: out of memory recording the value's source", k->name);
	}
	free(old);
	return conflict == NULL;
}

/*
 * Any key, reloadable or not: the config is still being built. The value is
 * never echoed in err (it may be a secret read from a file).
 */
bool config_put_key(struct config *cfg, const char *key, const char *value, const char *source,
		    char *err, size_t errlen)
{
	const struct key_def *k = global_key(key, err, errlen);
	char why[CONFIGKEY_WHY_LEN];

	if (k == NULL)
		return false;
	if (!configkey_assign(cfg, k, value, why, sizeof(why))) {
		snprintf(err, errlen, "%s: %s", k->name, why);
		return false;
	}
	if (!set_source(cfg, k, source)) {
		snprintf(err, errlen, "%s: out of memory", k->name);
		return false;
	}
	return true;
}

/* NULL when the keys agree; the same check a file load makes. */
const char *config_conflict(const struct config *cfg)
{
	return keys_conflict(cfg);
}

/* Case-insensitive key; "default" for a key never set, NULL for an unknown key. */
const char *config_key_source(const struct config *cfg, const char *key)
{
	const struct key_def *k = configkey_find(global_keys, N_ELEMS(global_keys), key);

	if (k == NULL)
		return NULL;
	const char *s = cfg->sources[k - global_keys];
	return s ? s : "default";
}

/* Contract in config.h: a fresh entry that replaces one of the same name. */
struct config_db *config_add_db(struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_dbs; i++) {
		if (strcmp(cfg->dbs[i].name, name) != 0)
			continue;
		db_release(&cfg->dbs[i]);
		return db_init(&cfg->dbs[i], name, 0) ? &cfg->dbs[i] : NULL;
	}
	struct config_db *dbs = realloc(cfg->dbs, (cfg->n_dbs + 1) * sizeof(*dbs));
	if (dbs == NULL)
		return NULL;
	cfg->dbs = dbs;
	if (!db_init(&dbs[cfg->n_dbs], name, 0)) {
		free(dbs[cfg->n_dbs].name);
		return NULL;
	}
	return &dbs[cfg->n_dbs++];
}

/* Compares rendered text, in table order; only keys marked RESTART. */
void config_diff_restart_keys(const struct config *old_cfg, const struct config *new_cfg,
			      config_diff_fn fn, void *arg)
{
	for (size_t i = 0; i < N_ELEMS(global_keys); i++) {
		const struct key_def *k = &global_keys[i];
		if (k->reloadable)
			continue;
		char *a = configkey_render(old_cfg, k), *b = configkey_render(new_cfg, k);
		if (a == NULL || b == NULL || strcmp(a, b) != 0)
			fn(k->name, arg);
		free(a);
		free(b);
	}
}
