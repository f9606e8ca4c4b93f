/*
 * configkey: parse, store, render and release typed config values through
 * key tables, and apply libpq-style connection strings (see configkey.h).
 */
#include "sluice/configkey.h"

#include "sluice/config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define UNUSED     __attribute__((unused))
#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

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

const struct enum_word *configkey_word_find(const struct enum_word *words, const char *text)
{
	for (; words->word != NULL; words++)
		if (strcasecmp(words->word, text) == 0)
			return words;
	return NULL;
}

static bool parse_bool(UNUSED const struct key_def *k, const char *text, union value *out,
		       char *why, size_t whylen)
{
	const struct enum_word *w = configkey_word_find(bool_words, text);

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
	const struct enum_word *w = configkey_word_find(k->words, text);
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
bool configkey_assign(void *obj, const struct key_def *k, const char *text, char *why,
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

char *configkey_render(const void *obj, const struct key_def *k)
{
	return type_ops[k->type].render(k, (const char *)obj + k->offset);
}

/* Free what the keys of `table` own inside obj. */
void configkey_release(void *obj, const struct key_def *table, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (type_ops[table[i].type].release != NULL)
			type_ops[table[i].type].release((char *)obj + table[i].offset);
}

const struct key_def *configkey_find(const struct key_def *table, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(table[i].name, name) == 0)
			return &table[i];
	return NULL;
}

/* ------------------------------------------------------------------------ */
/* Connection strings: "host=x port=5432 connect_query='SELECT ''a'''"        */
/* ------------------------------------------------------------------------ */

enum pair_result { PAIR_END, PAIR_OK, PAIR_ERROR };

const char *configkey_skip_space(const char *p)
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
	const char *p = configkey_skip_space(*pp);
	size_t n = 0;

	if (*p == '\0')
		return PAIR_END;
	while (isalnum((unsigned char)*p) || *p == '_')
		key[n++] = *p++;
	key[n] = '\0';
	p = configkey_skip_space(p);
	if (n == 0 || *p != '=') {
		if (prev != NULL)
			snprintf(why, whylen, "expected key=value after the value of '%s'", prev);
		else
			snprintf(why, whylen, "expected key=value");
		return PAIR_ERROR;
	}
	p = read_value(configkey_skip_space(p + 1), val, key, why, whylen);
	if (p == NULL)
		return PAIR_ERROR;
	*pp = p;
	return PAIR_OK;
}

/* Apply every key=value of `text` to obj using the field table. */
bool configkey_apply_connstr(void *obj, const struct key_def *fields, size_t n, const char *text,
			     char *why, size_t whylen)
{
	size_t len = strlen(text) + 1;
	char *key = malloc(len), *val = malloc(len);
	enum pair_result r = PAIR_ERROR;
	const char *prev = NULL;
	char sub[CONFIGKEY_WHY_LEN / 2];

	if (key == NULL || val == NULL)
		snprintf(why, whylen, "out of memory");
	while (key && val && (r = next_pair(&text, prev, key, val, why, whylen)) == PAIR_OK) {
		const struct key_def *f = configkey_find(fields, n, key);
		if (f == NULL) {
			snprintf(why, whylen, "unknown parameter '%s'", key);
			r = PAIR_ERROR;
			break;
		}
		if (!configkey_assign(obj, f, val, sub, sizeof(sub))) {
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
