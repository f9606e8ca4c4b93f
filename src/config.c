/*
 * config: reads the PgBouncer-compatible INI file into a struct config.
 * One table describes every global key (name, type, default text, whether a
 * reload or admin SET may change it, where it lives, its allowed range);
 * parsing, SHOW CONFIG rendering, SET and the reload diff all walk that table.
 * [databases] and [users] values are libpq-style "key=value ..." strings whose
 * keys are described by two more tables of the same shape.
 */
#include "sluice/config.h"

#include "sluice/log.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest accepted line: long enough for any sane connect_query. */
#define CONFIG_MAX_LINE 16384
#define WHY_LEN         256
#define USEC_PER_SEC    INT64_C(1000000)

/* ------------------------------------------------------------------------ */
/* Key descriptions                                                           */
/* ------------------------------------------------------------------------ */

enum key_type {
	T_INT,      /* int, decimal, within [min, max] */
	T_MODE,     /* int, octal file mode, within [min, max] */
	T_BOOL,     /* bool: 0/1, on/off, true/false, yes/no */
	T_STR,      /* char *, never NULL; "" is a value */
	T_OPTSTR,   /* char *, NULL when empty */
	T_DURATION, /* usec_t; text in seconds (fractions allowed) or with a unit */
	T_ENUM,     /* an int-sized enum, one of `words` */
	T_LIST,     /* char **, NULL-terminated, never NULL; text is comma-separated */
};

/* A word of an enum key. value < 0: a PgBouncer word sluice refuses. */
struct enum_word {
	const char *word;
	int value;
};

#define WORD_UNSUPPORTED (-1)

/*
 * One key. `offset` is into the struct its table describes (struct config,
 * struct config_db or struct config_user); `size` is the size of that member,
 * checked against the type so a table typo cannot write past a field.
 */
struct key_def {
	const char *name;
	enum key_type type;
	const char *def; /* default as text; NULL in the db/user tables */
	bool reloadable;
	size_t offset;
	size_t size;
	int64_t min, max; /* T_INT, T_MODE; T_DURATION in usec */
	const struct enum_word *words;
};

#define UNUSED             __attribute__((unused))
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
	{ "any", WORD_UNSUPPORTED },  { "cert", WORD_UNSUPPORTED },
	{ "hba", WORD_UNSUPPORTED },  { "pam", WORD_UNSUPPORTED },
	{ "ldap", WORD_UNSUPPORTED }, { NULL, 0 },
};

/* The global keys, in the order SHOW CONFIG lists them. */
static const struct key_def global_keys[] = {
	K_STR(listen_addr, "127.0.0.1", RESTART),
	K_INT(listen_port, "6432", RESTART, 1, 65535),
	K_STR(unix_socket_dir, "/tmp", RESTART),
	GKEY(unix_socket_mode, T_MODE, "0777", RESTART, 0, 0777, NULL),
	K_INT(listen_backlog, "128", RESTART, 1, INT_MAX),

	K_ENUM(auth_type, "md5", RELOAD, auth_type_words),
	K_OPTSTR(auth_file, RELOAD),

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
	K_DUR(server_connect_timeout, "15", RELOAD),
	K_DUR(server_login_retry, "15", RELOAD),
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

	K_BOOL(log_connections, "1", RELOAD),
	K_BOOL(log_disconnections, "1", RELOAD),
	K_BOOL(log_pooler_errors, "1", RELOAD),
	K_BOOL(log_stats, "1", RELOAD),
	K_OPTSTR(logfile, RELOAD),
	K_OPTSTR(pidfile, RESTART),
	K_INT(verbose, "0", RELOAD, 0, INT_MAX),
	K_BOOL(tcp_keepalive, "1", RELOAD),

	K_OPTSTR(admin_listen_addr, RESTART),
	K_INT(admin_port, "6433", RESTART, 0, 65535),
	K_LIST(admin_users, RELOAD),
	K_LIST(stats_users, RELOAD),
	K_INT(warn_waiting_clients, "10", RELOAD, 0, INT_MAX),
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
};

/* Keys of a [users] entry. */
static const struct key_def user_fields[] = {
	FIELD(config_user, "pool_mode", pool_mode, T_ENUM, 0, 0, pool_mode_words),
	FIELD(config_user, "pool_size", pool_size, T_INT, 0, INT_MAX, NULL),
	FIELD(config_user, "max_user_connections", max_user_connections, T_INT, 0, INT_MAX, NULL),
};

/*
 * PgBouncer keys sluice accepts and ignores with a warning, so an existing
 * pgbouncer.ini loads. A trailing '*' matches any suffix.
 */
static const char *const ignored_keys[] = {
	"application_name_add_host",
	"auth_dbname",
	"auth_hba_file",
	"auth_ident_file",
	"auth_query",
	"auth_user",
	"autodb_idle_timeout",
	"cancel_wait_timeout",
	"client_tls*",
	"conffile",
	"disable_pqexec",
	"dns_*",
	"job_name",
	"max_db_client_connections",
	"max_prepared_statements",
	"max_user_client_connections",
	"peer_id",
	"query_wait_notify",
	"resolv_conf",
	"sbuf_loopcnt",
	"scram_iterations",
	"server_fast_close",
	"server_round_robin",
	"server_tls*",
	"service_name",
	"so_reuseport",
	"syslog",
	"syslog_facility",
	"syslog_ident",
	"tcp_defer_accept",
	"tcp_keepcnt",
	"tcp_keepidle",
	"tcp_keepintvl",
	"tcp_socket_buffer",
	"tcp_user_timeout",
	"track_extra_parameters",
	"transaction_timeout",
	"unix_socket_group",
	"user",
};

/* ------------------------------------------------------------------------ */
/* Value types: parse text, store, render, release                            */
/* ------------------------------------------------------------------------ */

union value {
	int64_t num;
	bool b;
	char *s;
	char **list;
};

static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static void list_free(char **list)
{
	if (list == NULL)
		return;
	for (char **p = list; *p != NULL; p++)
		free(*p);
	free(list);
}

static bool parse_int64(const char *text, int base, int64_t *out)
{
	char *end;

	if (!isdigit((unsigned char)text[0]) && text[0] != '-')
		return false;
	errno = 0;
	long long v = strtoll(text, &end, base);
	if (errno != 0 || *end != '\0')
		return false;
	*out = v;
	return true;
}

/* Seconds as PgBouncer's SHOW CONFIG shows them: "120", "0.5". */
static char *format_seconds(int64_t usec)
{
	char *s = str_printf("%lld.%06lld", (long long)(usec / USEC_PER_SEC),
			     (long long)(usec % USEC_PER_SEC));
	if (s == NULL)
		return NULL;
	char *end = s + strlen(s) - 1;
	while (*end == '0')
		*end-- = '\0';
	if (*end == '.')
		*end = '\0';
	return s;
}

static bool check_range(const struct key_def *k, int64_t v, char *why, size_t whylen)
{
	if (v >= k->min && v <= k->max)
		return true;
	if (k->type == T_DURATION) {
		char *lo = format_seconds(k->min);
		snprintf(why, whylen, "must be at least %s s", lo ? lo : "?");
		free(lo);
	} else if (k->type == T_MODE) {
		snprintf(why, whylen, "mode %llo out of range %04llo..%04llo",
			 (unsigned long long)v, (unsigned long long)k->min,
			 (unsigned long long)k->max);
	} else if (k->max == INT_MAX) {
		snprintf(why, whylen, "%lld is too small, minimum %lld", (long long)v,
			 (long long)k->min);
	} else {
		snprintf(why, whylen, "%lld out of range %lld..%lld", (long long)v,
			 (long long)k->min, (long long)k->max);
	}
	return false;
}

static bool parse_int(const struct key_def *k, const char *text, union value *out, char *why,
		      size_t whylen)
{
	if (!parse_int64(text, 10, &out->num) || out->num < INT_MIN || out->num > INT_MAX) {
		snprintf(why, whylen, "invalid integer '%s'", text);
		return false;
	}
	return check_range(k, out->num, why, whylen);
}

static bool parse_mode(const struct key_def *k, const char *text, union value *out, char *why,
		       size_t whylen)
{
	if (!parse_int64(text, 8, &out->num) || text[0] == '-') {
		snprintf(why, whylen, "invalid octal mode '%s'", text);
		return false;
	}
	return check_range(k, out->num, why, whylen);
}

static const struct enum_word bool_words[] = {
	{ "1", 1 },     { "0", 0 },   { "on", 1 }, { "off", 0 }, { "true", 1 },
	{ "false", 0 }, { "yes", 1 }, { "no", 0 }, { NULL, 0 },
};

static const struct enum_word *word_find(const struct enum_word *words, const char *text)
{
	for (; words->word != NULL; words++)
		if (strcasecmp(words->word, text) == 0)
			return words;
	return NULL;
}

static bool parse_bool(UNUSED const struct key_def *k, const char *text, union value *out,
		       char *why, size_t whylen)
{
	const struct enum_word *w = word_find(bool_words, text);

	if (w == NULL) {
		snprintf(why, whylen, "invalid boolean '%s' (use 0/1, on/off, true/false, yes/no)",
			 text);
		return false;
	}
	out->b = w->value != 0;
	return true;
}

/* Writes the supported words of an enum as "a, b, c" into buf. */
static void words_list(const struct enum_word *words, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (; words->word != NULL && used < len; words++) {
		if (words->value == WORD_UNSUPPORTED)
			continue;
		int n = snprintf(buf + used, len - used, "%s%s", used ? ", " : "", words->word);
		if (n > 0)
			used += (size_t)n;
	}
}

static bool parse_enum(const struct key_def *k, const char *text, union value *out, char *why,
		       size_t whylen)
{
	const struct enum_word *w = word_find(k->words, text);
	char choices[128];

	words_list(k->words, choices, sizeof(choices));
	if (w == NULL) {
		snprintf(why, whylen, "invalid value '%s' (one of: %s)", text, choices);
		return false;
	}
	if (w->value == WORD_UNSUPPORTED) {
		snprintf(why, whylen, "'%s' is not supported (one of: %s)", text, choices);
		return false;
	}
	out->num = w->value;
	return true;
}

static bool parse_str(const struct key_def *k, const char *text, union value *out, char *why,
		      size_t whylen)
{
	out->s = NULL;
	if (k->type == T_OPTSTR && text[0] == '\0')
		return true;
	out->s = strdup(text);
	if (out->s == NULL)
		snprintf(why, whylen, "out of memory");
	return out->s != NULL;
}

static const struct {
	const char *suffix;
	int64_t usec;
} duration_units[] = {
	{ "", USEC_PER_SEC },         { "s", USEC_PER_SEC },        { "ms", 1000 },
	{ "min", 60 * USEC_PER_SEC }, { "h", 3600 * USEC_PER_SEC }, { "d", 86400 * USEC_PER_SEC },
};

/* "1.5" (seconds), "250ms", "2 min", "1h", "1d" into microseconds. */
static bool duration_from_text(const char *p, int64_t *out)
{
	int64_t whole = 0, frac = 0, scale = 1;

	if (!isdigit((unsigned char)p[0]) && !(p[0] == '.' && isdigit((unsigned char)p[1])))
		return false;
	for (; isdigit((unsigned char)*p); p++) {
		if (whole > (INT64_MAX - 9) / 10)
			return false;
		whole = whole * 10 + (*p - '0');
	}
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			if (scale < USEC_PER_SEC) {
				frac = frac * 10 + (*p - '0');
				scale *= 10;
			}
	while (*p == ' ' || *p == '\t')
		p++;
	for (size_t i = 0; i < N_ELEMS(duration_units); i++) {
		int64_t unit = duration_units[i].usec;
		if (strcmp(p, duration_units[i].suffix) != 0)
			continue;
		if (whole > (INT64_MAX - unit) / unit)
			return false;
		*out = whole * unit + frac * unit / scale;
		return true;
	}
	return false;
}

static bool parse_duration(const struct key_def *k, const char *text, union value *out, char *why,
			   size_t whylen)
{
	if (!duration_from_text(text, &out->num)) {
		snprintf(why, whylen,
			 "invalid duration '%s' (seconds, or a number with ms, s, min, h or d)",
			 text);
		return false;
	}
	return check_range(k, out->num, why, whylen);
}

/* "a, b,,c " into {"a", "b", "c", NULL}; empty items are dropped. */
static bool parse_list(UNUSED const struct key_def *k, const char *text, union value *out,
		       char *why, size_t whylen)
{
	size_t n = 0, cap = 1;

	for (const char *p = text; *p; p++)
		cap += *p == ',';
	out->list = calloc(cap + 1, sizeof(char *));
	while (out->list != NULL && *text != '\0') {
		const char *end = strchrnul(text, ',');
		const char *a = text, *b = end;
		while (a < b && isspace((unsigned char)*a))
			a++;
		while (b > a && isspace((unsigned char)b[-1]))
			b--;
		if (b > a && (out->list[n++] = strndup(a, (size_t)(b - a))) == NULL) {
			list_free(out->list);
			out->list = NULL;
		}
		text = *end ? end + 1 : end;
	}
	if (out->list == NULL)
		snprintf(why, whylen, "out of memory");
	return out->list != NULL;
}

static void store_int(void *field, union value *v)
{
	*(int *)field = (int)v->num;
}
static void store_bool(void *field, union value *v)
{
	*(bool *)field = v->b;
}
static void store_usec(void *field, union value *v)
{
	*(usec_t *)field = v->num;
}

static void store_str(void *field, union value *v)
{
	free(*(char **)field);
	*(char **)field = v->s;
}

static void store_list(void *field, union value *v)
{
	list_free(*(char ***)field);
	*(char ***)field = v->list;
}

static void release_str(void *field)
{
	free(*(char **)field);
	*(char **)field = NULL;
}

static void release_list(void *field)
{
	list_free(*(char ***)field);
	*(char ***)field = NULL;
}

static char *render_int(UNUSED const struct key_def *k, const void *field)
{
	return str_printf("%d", *(const int *)field);
}

static char *render_mode(UNUSED const struct key_def *k, const void *field)
{
	return str_printf("%04o", (unsigned)*(const int *)field);
}

static char *render_bool(UNUSED const struct key_def *k, const void *field)
{
	return strdup(*(const bool *)field ? "1" : "0");
}

static char *render_str(UNUSED const struct key_def *k, const void *field)
{
	const char *s = *(char *const *)field;
	return strdup(s ? s : "");
}

static char *render_duration(UNUSED const struct key_def *k, const void *field)
{
	return format_seconds(*(const usec_t *)field);
}

static char *render_enum(const struct key_def *k, const void *field)
{
	int v = *(const int *)field;

	for (const struct enum_word *w = k->words; w->word != NULL; w++)
		if (w->value == v)
			return strdup(w->word);
	return strdup("");
}

static char *render_list(UNUSED const struct key_def *k, const void *field)
{
	char *const *list = *(char **const *)field;
	size_t len = 1;

	for (char *const *p = list; p && *p; p++)
		len += strlen(*p) + 1;
	char *s = malloc(len);
	if (s == NULL)
		return NULL;
	s[0] = '\0';
	for (char *const *p = list; p && *p; p++) {
		if (p != list)
			strcat(s, ",");
		strcat(s, *p);
	}
	return s;
}

typedef bool parse_fn(const struct key_def *k, const char *text, union value *out, char *why,
		      size_t whylen);

static const struct type_ops {
	size_t size; /* of the struct member */
	parse_fn *parse;
	void (*store)(void *field, union value *v);                  /* frees the old value */
	char *(*render)(const struct key_def *k, const void *field); /* malloc'd */
	void (*release)(void *field);                                /* NULL: nothing owned */
} type_ops[] = {
	[T_INT] = { sizeof(int), parse_int, store_int, render_int, NULL },
	[T_MODE] = { sizeof(int), parse_mode, store_int, render_mode, NULL },
	[T_BOOL] = { sizeof(bool), parse_bool, store_bool, render_bool, NULL },
	[T_STR] = { sizeof(char *), parse_str, store_str, render_str, release_str },
	[T_OPTSTR] = { sizeof(char *), parse_str, store_str, render_str, release_str },
	[T_DURATION] = { sizeof(usec_t), parse_duration, store_usec, render_duration, NULL },
	[T_ENUM] = { sizeof(int), parse_enum, store_int, render_enum, NULL },
	[T_LIST] = { sizeof(char **), parse_list, store_list, render_list, release_list },
};

/* Parse `text` for key k and store it into the object the key's table describes. */
static bool key_assign(void *obj, const struct key_def *k, const char *text, char *why,
		       size_t whylen)
{
	const struct type_ops *ops = &type_ops[k->type];
	union value v;

	assert(k->size == ops->size);
	if (!ops->parse(k, text, &v, why, whylen))
		return false;
	ops->store((char *)obj + k->offset, &v);
	return true;
}

static char *key_render(const void *obj, const struct key_def *k)
{
	return type_ops[k->type].render(k, (const char *)obj + k->offset);
}

/* Free what the keys of `table` own inside obj. */
static void keys_release(void *obj, const struct key_def *table, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (type_ops[table[i].type].release != NULL)
			type_ops[table[i].type].release((char *)obj + table[i].offset);
}

static const struct key_def *key_find(const struct key_def *table, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(table[i].name, name) == 0)
			return &table[i];
	return NULL;
}

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
/* Connection strings: "host=x port=5432 connect_query='SELECT ''a'''"        */
/* ------------------------------------------------------------------------ */

enum pair_result { PAIR_END, PAIR_OK, PAIR_ERROR };

static const char *skip_space(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

/* Copy a value at p into val (quoted with '' as an escaped quote, or up to a space). */
static const char *read_value(const char *p, char *val, const char *key, char *why, size_t whylen)
{
	if (*p != '\'') {
		while (*p && !isspace((unsigned char)*p))
			*val++ = *p++;
		*val = '\0';
		return p;
	}
	for (p++;; p++) {
		if (*p == '\0') {
			snprintf(why, whylen, "unterminated quoted value for '%s'", key);
			return NULL;
		}
		if (*p == '\'' && p[1] != '\'')
			break;
		if (*p == '\'')
			p++;
		*val++ = *p;
	}
	*val = '\0';
	p++;
	if (*p && !isspace((unsigned char)*p)) {
		snprintf(why, whylen, "unexpected text after the quoted value of '%s'", key);
		return NULL;
	}
	return p;
}

/*
 * Read the next key=value at *pp into key and val, each at least
 * strlen(*pp) + 1 bytes; `prev` is the key before it (NULL at the start).
 * Messages quote only known key names, never text that may be a password.
 */
static enum pair_result next_pair(const char **pp, const char *prev, char *key, char *val,
				  char *why, size_t whylen)
{
	const char *p = skip_space(*pp);
	size_t n = 0;

	if (*p == '\0')
		return PAIR_END;
	while (isalnum((unsigned char)*p) || *p == '_')
		key[n++] = *p++;
	key[n] = '\0';
	p = skip_space(p);
	if (n == 0 || *p != '=') {
		if (prev != NULL)
			snprintf(why, whylen, "expected key=value after the value of '%s'", prev);
		else
			snprintf(why, whylen, "expected key=value");
		return PAIR_ERROR;
	}
	p = read_value(skip_space(p + 1), val, key, why, whylen);
	if (p == NULL)
		return PAIR_ERROR;
	*pp = p;
	return PAIR_OK;
}

/* Apply every key=value of `text` to obj using the field table. */
static bool connstr_apply(void *obj, const struct key_def *fields, size_t n, const char *text,
			  char *why, size_t whylen)
{
	size_t len = strlen(text) + 1;
	char *key = malloc(len), *val = malloc(len);
	enum pair_result r = PAIR_ERROR;
	const char *prev = NULL;
	char sub[WHY_LEN / 2];

	if (key == NULL || val == NULL)
		snprintf(why, whylen, "out of memory");
	while (key && val && (r = next_pair(&text, prev, key, val, why, whylen)) == PAIR_OK) {
		const struct key_def *f = key_find(fields, n, key);
		if (f == NULL) {
			snprintf(why, whylen, "unknown parameter '%s'", key);
			r = PAIR_ERROR;
			break;
		}
		if (!key_assign(obj, f, val, sub, sizeof(sub))) {
			snprintf(why, whylen, "%s: %s", f->name, sub);
			r = PAIR_ERROR;
			break;
		}
		prev = f->name;
	}
	free(key);
	free(val);
	return r == PAIR_END;
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                    */
/* ------------------------------------------------------------------------ */

struct parse_ctx {
	struct config *cfg;
	FILE *fp;
	int line;    /* the line inih is working on: our reader counts them */
	bool failed; /* err holds the first error; later keys are refused */
	char *err;
	size_t errlen;
	size_t cap_dbs, cap_users;
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

static int on_global(struct parse_ctx *ctx, const char *name, const char *value)
{
	const struct key_def *k = key_find(global_keys, N_ELEMS(global_keys), name);
	char why[WHY_LEN];

	if (k == NULL && key_is_ignored(name)) {
		log_warn("%s:%d: %s is not supported, ignored", ctx->cfg->path, ctx->line, name);
		return 1;
	}
	if (k == NULL) {
		log_warn("%s:%d: unknown key %s, ignored", ctx->cfg->path, ctx->line, name);
		return 1;
	}
	if (!key_assign(ctx->cfg, k, value, why, sizeof(why)))
		return fail(ctx, "%s: %s", k->name, why);
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
	keys_release(db, db_fields, N_ELEMS(db_fields));
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
		log_warn(
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
	char why[WHY_LEN];

	if (name[0] == '\0')
		return fail(ctx, "empty database name");
	struct config_db *db = db_slot(ctx, name);
	if (db == NULL)
		return fail(ctx, "%s: out of memory", name);
	if (!connstr_apply(db, db_fields, N_ELEMS(db_fields), value, why, sizeof(why)))
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
		log_warn("%s:%d: user %s was already defined on line %d; this entry replaces it",
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
	char why[WHY_LEN];

	if (name[0] == '\0')
		return fail(ctx, "empty user name");
	struct config_user *u = user_slot(ctx, name);
	if (u == NULL)
		return fail(ctx, "%s: out of memory", name);
	if (!connstr_apply(u, user_fields, N_ELEMS(user_fields), value, why, sizeof(why)))
		return fail(ctx, "%s: %s", name, why);
	return 1;
}

static const struct section_def {
	const char *name;
	int (*handle)(struct parse_ctx *ctx, const char *name, const char *value);
} sections[] = {
	{ "sluice", on_global },
	{ "pgbouncer", on_global },
	{ "databases", on_database },
	{ "users", on_user },
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

/* The reader sees every line before inih: warn about unknown sections here. */
static void inspect_line(struct parse_ctx *ctx, const char *line)
{
	const char *p = skip_space(line);

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
	if (name != NULL && section_find(name) == NULL)
		log_warn("%s:%d: unknown section [%s], its keys are ignored", ctx->cfg->path,
			 ctx->line, name);
	free(name);
}

/* inih reader: one whole line per call, so ctx->line is inih's line number. */
static char *read_line(char *buf, int size, void *arg)
{
	struct parse_ctx *ctx = arg;
	int len = 0, c = EOF;

	if (ctx->failed)
		return NULL; /* stop inih after the first error */
	while (len < size - 1 && (c = getc(ctx->fp)) != EOF) {
		buf[len++] = (char)c;
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
	return !ctx->failed;
}

/* A config holding every default, or NULL when out of memory. */
static struct config *config_new(const char *path)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	char why[WHY_LEN];

	if (cfg == NULL)
		return NULL;
	cfg->path = strdup(path);
	bool ok = cfg->path != NULL;
	for (size_t i = 0; ok && i < N_ELEMS(global_keys); i++) {
		ok = key_assign(cfg, &global_keys[i], global_keys[i].def, why, sizeof(why));
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
	keys_release(cfg, global_keys, N_ELEMS(global_keys));
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
const struct config_user *config_find_user(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_users; i++)
		if (strcmp(cfg->users[i].name, name) == 0)
			return &cfg->users[i];
	return NULL;
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
	const struct enum_word *w = word_find(pool_mode_words, s);
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
		char *value = key_render(cfg, k);
		fn(k->name, value ? value : "", k->def, k->reloadable, arg);
		free(value);
	}
}

/*
 * `value` is taken as written (no trimming or unquoting: the caller strips
 * SQL quotes). On failure cfg is unchanged and err reads "key: reason".
 */
bool config_set_key(struct config *cfg, const char *key, const char *value, char *err,
		    size_t errlen)
{
	const struct key_def *k = key_find(global_keys, N_ELEMS(global_keys), key);
	char why[WHY_LEN];

	if (k == NULL) {
		snprintf(err, errlen, "%s: %s", key,
			 key_is_ignored(key) ? "not supported" : "unknown key");
		return false;
	}
	if (!k->reloadable) {
		snprintf(err, errlen, "%s: cannot be changed at run time (needs a restart)",
			 k->name);
		return false;
	}
	if (value == NULL || !key_assign(cfg, k, value, why, sizeof(why))) {
		snprintf(err, errlen, "%s: %s", k->name, value ? why : "missing value");
		return false;
	}
	return true;
}

/* Compares rendered text, in table order; only keys marked RESTART. */
void config_diff_restart_keys(const struct config *old_cfg, const struct config *new_cfg,
			      config_diff_fn fn, void *arg)
{
	for (size_t i = 0; i < N_ELEMS(global_keys); i++) {
		const struct key_def *k = &global_keys[i];
		if (k->reloadable)
			continue;
		char *a = key_render(old_cfg, k), *b = key_render(new_cfg, k);
		if (a == NULL || b == NULL || strcmp(a, b) != 0)
			fn(k->name, arg);
		free(a);
		free(b);
	}
}
