/*
 * params: tracked and extra session parameters, parsing of the `options`
 * start-up parameter, and the SET/RESET text that moves a server to a
 * client's settings. Values are always sent as quoted literals.
 */
#include "sluice/params.h"

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sluice/util.h"

static const char *const tracked_names[PARAM_TRACKED] = {
	[PARAM_CLIENT_ENCODING] = "client_encoding",
	[PARAM_DATESTYLE] = "DateStyle",
	[PARAM_TIMEZONE] = "TimeZone",
	[PARAM_INTERVALSTYLE] = "IntervalStyle",
	[PARAM_STANDARD_CONFORMING_STRINGS] = "standard_conforming_strings",
	[PARAM_APPLICATION_NAME] = "application_name",
};

const char *param_tracked_name(int idx)
{
	return tracked_names[idx];
}

int param_tracked_index(const char *name)
{
	for (int i = 0; i < PARAM_TRACKED; i++)
		if (strcasecmp(name, tracked_names[i]) == 0)
			return i;
	return -1;
}

/*
 * Tracked values are interned: equal values are one shared, reference-counted
 * string, so checking whether a server matches a client is a pointer
 * comparison per parameter. Interning happens only when a value changes.
 */
struct interned {
	struct interned *next;
	uint32_t refs;
	uint32_t hash;
	char s[];
};

#define INTERN_BUCKETS 256
static struct interned *intern_table[INTERN_BUCKETS];

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static struct interned *interned_of(const char *s)
{
	return (struct interned *)(void *)((uintptr_t)s - offsetof(struct interned, s));
}

static char *intern(const char *s)
{
	uint32_t h = hash_str(s);
	struct interned **head = &intern_table[h % INTERN_BUCKETS];
	for (struct interned *it = *head; it; it = it->next) {
		if (it->hash == h && strcmp(it->s, s) == 0) {
			it->refs++;
			return it->s;
		}
	}
	size_t len = strlen(s);
	struct interned *it = xmalloc(sizeof(*it) + len + 1);
	memcpy(it->s, s, len + 1);
	it->hash = h;
	it->refs = 1;
	it->next = *head;
	*head = it;
	return it->s;
}

static void intern_release(char *s)
{
	if (s == NULL)
		return;
	struct interned *it = interned_of(s);
	if (--it->refs > 0)
		return;
	struct interned **pp = &intern_table[it->hash % INTERN_BUCKETS];
	while (*pp != it)
		pp = &(*pp)->next;
	*pp = it->next;
	free(it);
}

char *param_value_hold(char *value)
{
	if (value != NULL)
		interned_of(value)->refs++;
	return value;
}

void param_value_drop(char *value)
{
	intern_release(value);
}

void param_kv_free(struct param_kv **kv, int *n)
{
	for (int i = 0; i < *n; i++) {
		free((*kv)[i].key);
		free((*kv)[i].value);
	}
	free(*kv);
	*kv = NULL;
	*n = 0;
}

void param_set_free(struct param_set *ps)
{
	for (int i = 0; i < PARAM_TRACKED; i++)
		intern_release(ps->tracked[i]);
	param_clear_extra(ps);
	free(ps->extra);
	memset(ps, 0, sizeof(*ps));
}

void param_set_tracked(struct param_set *ps, int idx, const char *value)
{
	if (ps->tracked[idx] == value || str_eq(ps->tracked[idx], value))
		return;
	char *v = value ? intern(value) : NULL;
	intern_release(ps->tracked[idx]);
	ps->tracked[idx] = v;
}

static int extra_index(const struct param_set *ps, const char *key)
{
	for (int i = 0; i < ps->n_extra; i++)
		if (strcasecmp(ps->extra[i].key, key) == 0)
			return i;
	return -1;
}

const char *param_get_extra(const struct param_set *ps, const char *key)
{
	int i = extra_index(ps, key);
	return i < 0 ? NULL : ps->extra[i].value;
}

void param_set_extra(struct param_set *ps, const char *key, const char *value)
{
	int i = extra_index(ps, key);
	if (i >= 0 && value == NULL) {
		free(ps->extra[i].key);
		free(ps->extra[i].value);
		ps->extra[i] = ps->extra[--ps->n_extra];
		return;
	}
	if (i >= 0) {
		str_replace(&ps->extra[i].value, value);
		return;
	}
	if (value == NULL)
		return;
	if (ps->n_extra == ps->cap_extra) {
		ps->cap_extra = ps->cap_extra ? ps->cap_extra * 2 : 4;
		ps->extra = xrealloc(ps->extra, (size_t)ps->cap_extra * sizeof(*ps->extra));
	}
	char *k = xstrdup(key);
	for (char *p = k; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	ps->extra[ps->n_extra].key = k;
	ps->extra[ps->n_extra].value = xstrdup(value);
	ps->n_extra++;
}

void param_clear_extra(struct param_set *ps)
{
	for (int i = 0; i < ps->n_extra; i++) {
		free(ps->extra[i].key);
		free(ps->extra[i].value);
	}
	ps->n_extra = 0;
}

bool param_name_valid(const char *name)
{
	if (name[0] == '\0' || strlen(name) > 63)
		return false;
	for (const char *p = name; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.')
			return false;
	return true;
}

/*
 * PostgreSQL's names for encodings, and the spellings it accepts for them
 * (compared after dropping everything but letters and digits, lower-cased,
 * as PostgreSQL compares them). Sorted by alias.
 */
static const struct encoding_alias {
	const char *alias;
	const char *name;
} encoding_aliases[] = {
	{ "abc", "WIN1258" },
	{ "alt", "WIN866" },
	{ "big5", "BIG5" },
	{ "euccn", "EUC_CN" },
	{ "eucjis2004", "EUC_JIS_2004" },
	{ "eucjp", "EUC_JP" },
	{ "euckr", "EUC_KR" },
	{ "euctw", "EUC_TW" },
	{ "gb18030", "GB18030" },
	{ "gbk", "GBK" },
	{ "iso88591", "LATIN1" },
	{ "iso885910", "LATIN6" },
	{ "iso885913", "LATIN7" },
	{ "iso885914", "LATIN8" },
	{ "iso885915", "LATIN9" },
	{ "iso885916", "LATIN10" },
	{ "iso88592", "LATIN2" },
	{ "iso88593", "LATIN3" },
	{ "iso88594", "LATIN4" },
	{ "iso88595", "ISO_8859_5" },
	{ "iso88596", "ISO_8859_6" },
	{ "iso88597", "ISO_8859_7" },
	{ "iso88598", "ISO_8859_8" },
	{ "iso88599", "LATIN5" },
	{ "johab", "JOHAB" },
	{ "koi8", "KOI8R" },
	{ "koi8r", "KOI8R" },
	{ "koi8u", "KOI8U" },
	{ "latin1", "LATIN1" },
	{ "latin10", "LATIN10" },
	{ "latin2", "LATIN2" },
	{ "latin3", "LATIN3" },
	{ "latin4", "LATIN4" },
	{ "latin5", "LATIN5" },
	{ "latin6", "LATIN6" },
	{ "latin7", "LATIN7" },
	{ "latin8", "LATIN8" },
	{ "latin9", "LATIN9" },
	{ "mskanji", "SJIS" },
	{ "muleinternal", "MULE_INTERNAL" },
	{ "shiftjis", "SJIS" },
	{ "shiftjis2004", "SHIFT_JIS_2004" },
	{ "sjis", "SJIS" },
	{ "sqlascii", "SQL_ASCII" },
	{ "tcvn", "WIN1258" },
	{ "tcvn5712", "WIN1258" },
	{ "uhc", "UHC" },
	{ "unicode", "UTF8" },
	{ "utf8", "UTF8" },
	{ "vscii", "WIN1258" },
	{ "win", "WIN1251" },
	{ "win1250", "WIN1250" },
	{ "win1251", "WIN1251" },
	{ "win1252", "WIN1252" },
	{ "win1253", "WIN1253" },
	{ "win1254", "WIN1254" },
	{ "win1255", "WIN1255" },
	{ "win1256", "WIN1256" },
	{ "win1257", "WIN1257" },
	{ "win1258", "WIN1258" },
	{ "win866", "WIN866" },
	{ "win874", "WIN874" },
	{ "win932", "SJIS" },
	{ "win936", "GBK" },
	{ "win949", "UHC" },
	{ "win950", "BIG5" },
	{ "windows1250", "WIN1250" },
	{ "windows1251", "WIN1251" },
	{ "windows1252", "WIN1252" },
	{ "windows1253", "WIN1253" },
	{ "windows1254", "WIN1254" },
	{ "windows1255", "WIN1255" },
	{ "windows1256", "WIN1256" },
	{ "windows1257", "WIN1257" },
	{ "windows1258", "WIN1258" },
	{ "windows866", "WIN866" },
	{ "windows874", "WIN874" },
	{ "windows932", "SJIS" },
	{ "windows936", "GBK" },
	{ "windows949", "UHC" },
	{ "windows950", "BIG5" },
};

static int alias_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct encoding_alias *)elem)->alias);
}

const char *param_encoding_name(const char *value)
{
	char clean[32];
	size_t n = 0;
	for (const char *p = value; *p; p++) {
		if (!isalnum((unsigned char)*p))
			continue;
		if (n + 1 == sizeof(clean))
			return value;
		clean[n++] = (char)tolower((unsigned char)*p);
	}
	clean[n] = '\0';
	const struct encoding_alias *a = bsearch(
		clean, encoding_aliases, sizeof(encoding_aliases) / sizeof(encoding_aliases[0]),
		sizeof(encoding_aliases[0]), alias_cmp);
	return a ? a->name : value;
}

static bool apply_setting(struct param_set *ps, const char *key, const char *value, char *err,
			  size_t errlen)
{
	if (!param_name_valid(key)) {
		snprintf(err, errlen, "invalid parameter name \"%s\"", key);
		return false;
	}
	int idx = param_tracked_index(key);
	if (idx == PARAM_CLIENT_ENCODING)
		value = param_encoding_name(value);
	if (idx >= 0)
		param_set_tracked(ps, idx, value);
	else
		param_set_extra(ps, key, value);
	return true;
}

/* Next whitespace-separated word of an options string, honouring backslash escapes. */
static const char *next_option_word(const char *p, char *word, size_t cap)
{
	size_t n = 0;
	while (*p && isspace((unsigned char)*p))
		p++;
	if (*p == '\0')
		return NULL;
	while (*p && !isspace((unsigned char)*p)) {
		if (*p == '\\' && p[1])
			p++;
		if (n + 1 < cap)
			word[n++] = *p;
		p++;
	}
	word[n] = '\0';
	return p;
}

static bool apply_assignment(struct param_set *ps, char *assign, char *err, size_t errlen)
{
	char *eq = strchr(assign, '=');
	if (eq == NULL) {
		snprintf(err, errlen, "invalid command-line argument \"%s\" in options", assign);
		return false;
	}
	*eq = '\0';
	for (char *p = assign; *p; p++)
		if (*p == '-')
			*p = '_';
	return apply_setting(ps, assign, eq + 1, err, errlen);
}

static bool apply_options(struct param_set *ps, const char *options, char *err, size_t errlen)
{
	char word[1024];
	const char *p = options;
	while ((p = next_option_word(p, word, sizeof(word))) != NULL) {
		if (strcmp(word, "-c") == 0) {
			p = next_option_word(p, word, sizeof(word));
			if (p == NULL) {
				snprintf(err, errlen, "-c without a setting in options");
				return false;
			}
			if (!apply_assignment(ps, word, err, errlen))
				return false;
		} else if (strncmp(word, "-c", 2) == 0) {
			if (!apply_assignment(ps, word + 2, err, errlen))
				return false;
		} else if (strncmp(word, "--", 2) == 0) {
			if (!apply_assignment(ps, word + 2, err, errlen))
				return false;
		} else {
			snprintf(err, errlen, "unsupported command-line argument \"%s\" in options",
				 word);
			return false;
		}
	}
	return true;
}

bool param_apply_startup(struct param_set *ps, const char *key, const char *value, char *err,
			 size_t errlen)
{
	if (strcmp(key, "options") == 0)
		return apply_options(ps, value, err, errlen);
	return apply_setting(ps, key, value, err, errlen);
}

static void sql_append(struct pktbuf *sql, const char *s)
{
	if (sql->len > 0 && sql->data[sql->len - 1] == '\0')
		sql->len--;
	pkt_put_str(sql, s);
}

/* An E'' literal: backslashes and quotes doubled, independent of standard_conforming_strings. */
static void sql_append_literal(struct pktbuf *sql, const char *value)
{
	sql_append(sql, "E'");
	for (const char *p = value; *p; p++) {
		bool twice = *p == '\'' || *p == '\\';
		char c[3] = { *p, twice ? *p : '\0', '\0' };
		sql_append(sql, c);
	}
	sql_append(sql, "'");
}

/* set_config applies the text as PostgreSQL applies a start-up value (lists stay lists). */
static void sql_append_set(struct pktbuf *sql, const char *key, const char *value)
{
	sql_append(sql, "SELECT pg_catalog.set_config(");
	sql_append_literal(sql, key);
	sql_append(sql, ", ");
	sql_append_literal(sql, value);
	sql_append(sql, ", false);");
}

bool param_build_sync(const struct param_set *want, const struct param_set *defaults,
		      struct param_set *have, struct pktbuf *sql)
{
	bool any = false;
	if (want->n_extra == 0 && have->n_extra == 0) {
		int i = 0;
		while (i < PARAM_TRACKED &&
		       (want->tracked[i] ? want->tracked[i] : defaults->tracked[i]) ==
			       have->tracked[i])
			i++;
		if (i == PARAM_TRACKED)
			return false; /* the common case: nothing to do */
	}
	for (int i = 0; i < PARAM_TRACKED; i++) {
		const char *w = want->tracked[i] ? want->tracked[i] : defaults->tracked[i];
		if (w == NULL || w == have->tracked[i]) /* interned: equal values share a pointer */
			continue;
		sql_append_set(sql, tracked_names[i], w);
		any = true;
	}
	for (int i = 0; i < want->n_extra; i++) {
		const struct param_kv *kv = &want->extra[i];
		if (str_eq(kv->value, param_get_extra(have, kv->key)))
			continue;
		sql_append_set(sql, kv->key, kv->value);
		param_set_extra(have, kv->key, kv->value);
		any = true;
	}
	for (int i = have->n_extra - 1; i >= 0; i--) {
		if (param_get_extra(want, have->extra[i].key) != NULL)
			continue;
		sql_append(sql, "RESET ");
		sql_append(sql, have->extra[i].key);
		sql_append(sql, ";");
		param_set_extra(have, have->extra[i].key, NULL);
		any = true;
	}
	return any;
}
