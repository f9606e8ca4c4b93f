/*
 * dburl: libpq's connection URI, parsed into struct dburl (see dburl.h).
 * The grammar is libpq's: scheme "://" [user [":" password] "@"] [host]
 * [":" port] ["/" dbname] ["?" key "=" value {"&" key "=" value}], every
 * part percent-encoded. Messages never quote the URL: it may hold a password.
 */
#include "sluice/dburl.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A parameter of the query string and the member it fills. */
static const struct param {
	const char *name;
	size_t offset;
} params[] = {
	{ "user", offsetof(struct dburl, user) },
	{ "password", offsetof(struct dburl, password) },
	{ "host", offsetof(struct dburl, host) },
	{ "dbname", offsetof(struct dburl, dbname) },
	{ "sslmode", offsetof(struct dburl, sslmode) },
	{ "sslrootcert", offsetof(struct dburl, sslrootcert) },
	{ "sslcert", offsetof(struct dburl, sslcert) },
	{ "sslkey", offsetof(struct dburl, sslkey) },
	{ "connect_timeout", offsetof(struct dburl, connect_timeout) },
};

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decode [s, s+len) into a new string. NULL with *why set on a bad
 * escape or an encoded NUL; NULL with *why NULL when out of memory.
 */
static char *decode(const char *s, size_t len, const char **why)
{
	char *out = malloc(len + 1), *o = out;

	*why = NULL;
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		int hi = i + 2 < len ? hex_value(s[i + 1]) : -1;
		int lo = hi >= 0 ? hex_value(s[i + 2]) : -1;
		if (lo < 0 || (hi == 0 && lo == 0)) {
			*why = lo < 0 ? "invalid percent-encoding" : "%00 is not allowed";
			OPENSSL_cleanse(out, len + 1);
			free(out);
			return NULL;
		}
		*o++ = (char)(hi * 16 + lo);
		i += 2;
	}
	*o = '\0';
	return out;
}

/* Replace *slot with the decoding of [s, s+len); false with *why on failure. */
static bool set_part(char **slot, const char *s, size_t len, const char **why)
{
	char *v = decode(s, len, why);

	if (v == NULL) {
		if (*why == NULL)
			*why = "out of memory";
		return false;
	}
	if (*slot != NULL) {
		OPENSSL_cleanse(*slot, strlen(*slot));
		free(*slot);
	}
	*slot = v;
	return true;
}

/* A port number: 1..65535, digits only. */
static bool parse_port(const char *s, int *out)
{
	long v = 0;

	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (*s - '0');
		if (v > 65535)
			return false;
	}
	*out = (int)v;
	return v > 0;
}

/* user[:password], before the last '@' of the authority. */
static bool parse_userinfo(struct dburl *u, const char *s, size_t len, const char **why)
{
	const char *colon = memchr(s, ':', len);

	if (colon == NULL)
		return set_part(&u->user, s, len, why);
	return set_part(&u->user, s, (size_t)(colon - s), why) &&
	       set_part(&u->password, colon + 1, len - (size_t)(colon - s) - 1, why);
}

/* host[:port] or [v6-address][:port]; an empty host leaves host NULL. */
static bool parse_hostport(struct dburl *u, const char *s, size_t len, const char **why)
{
	const char *host = s, *port = NULL;
	size_t hlen = len;

	if (memchr(s, ',', len) != NULL) {
		*why = "several hosts are not supported: give one";
		return false;
	}
	if (len > 0 && s[0] == '[') {
		const char *end = memchr(s, ']', len);
		if (end == NULL || (end + 1 < s + len && end[1] != ':')) {
			*why = "an IPv6 address must be written [address] or [address]:port";
			return false;
		}
		host = s + 1;
		hlen = (size_t)(end - host);
		port = end + 1 < s + len ? end + 2 : NULL;
	} else {
		const char *colon = memchr(s, ':', len);
		if (colon != NULL) {
			hlen = (size_t)(colon - s);
			port = colon + 1;
		}
	}
	if (hlen > 0 && !set_part(&u->host, host, hlen, why))
		return false;
	if (port == NULL)
		return true;
	char *p = decode(port, len - (size_t)(port - s), why);
	bool ok = p != NULL && parse_port(p, &u->port);
	free(p);
	if (!ok && *why == NULL)
		*why = "the port must be a number from 1 to 65535";
	return ok;
}

/* One key=value of the query string. */
static bool parse_param(struct dburl *u, const char *s, size_t len, char *err, size_t errlen)
{
	const char *eq = memchr(s, '=', len), *why = NULL;

	if (eq == NULL) {
		snprintf(err, errlen, "DATABASE_URL: a parameter without '='");
		return false;
	}
	size_t klen = (size_t)(eq - s), vlen = len - klen - 1;
	if (klen == 4 && memcmp(s, "port", 4) == 0) {
		char *p = decode(eq + 1, vlen, &why);
		bool ok = p != NULL && parse_port(p, &u->port);
		free(p);
		if (!ok)
			snprintf(err, errlen, "DATABASE_URL: port: %s",
				 why ? why : "must be a number from 1 to 65535");
		return ok;
	}
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		if (strlen(params[i].name) != klen || memcmp(params[i].name, s, klen) != 0)
			continue;
		char **slot = (char **)(void *)((char *)u + params[i].offset);
		if (set_part(slot, eq + 1, vlen, &why))
			return true;
		snprintf(err, errlen, "DATABASE_URL: %s: %s", params[i].name, why);
		return false;
	}
	snprintf(err, errlen, "DATABASE_URL: unknown parameter \"%.*s\"",
		 klen > 64 ? 64 : (int)klen, s);
	return false;
}

static bool parse_query(struct dburl *u, const char *q, char *err, size_t errlen)
{
	while (*q) {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		if (len > 0 && !parse_param(u, q, len, err, errlen))
			return false;
		q += len + (amp != NULL);
	}
	return true;
}

/* The authority and path: [userinfo@]hostport[/dbname]. */
static bool parse_location(struct dburl *u, const char *s, size_t len, const char **why)
{
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	const char *at = NULL;

	for (size_t i = 0; i < alen; i++)
		if (s[i] == '@')
			at = s + i; /* the last one: an unencoded '@' in a password still works */
	if (at != NULL && !parse_userinfo(u, s, (size_t)(at - s), why))
		return false;
	const char *hp = at ? at + 1 : s;
	if (!parse_hostport(u, hp, alen - (size_t)(hp - s), why))
		return false;
	if (slash == NULL || slash + 1 == s + len)
		return true;
	return set_part(&u->dbname, slash + 1, len - alen - 1, why);
}

bool dburl_parse(const char *url, struct dburl *out, char *err, size_t errlen)
{
	static const char *const schemes[] = { "postgresql://", "postgres://" };
	const char *rest = NULL, *why = NULL;

	*out = (struct dburl){ 0 };
	for (size_t i = 0; i < 2 && rest == NULL; i++)
		if (strncmp(url, schemes[i], strlen(schemes[i])) == 0)
			rest = url + strlen(schemes[i]);
	if (rest == NULL) {
		snprintf(err, errlen, "DATABASE_URL: must begin with postgresql:// or postgres://");
		return false;
	}
	const char *q = strchr(rest, '?');
	size_t len = q ? (size_t)(q - rest) : strlen(rest);
	if (!parse_location(out, rest, len, &why)) {
		snprintf(err, errlen, "DATABASE_URL: %s", why);
		dburl_free(out);
		return false;
	}
	if (q != NULL && !parse_query(out, q + 1, err, errlen)) {
		dburl_free(out);
		return false;
	}
	return true;
}

void dburl_free(struct dburl *u)
{
	if (u->password != NULL)
		OPENSSL_cleanse(u->password, strlen(u->password));
	char **members[] = { &u->user,    &u->password, &u->host,
			     &u->dbname,  &u->sslmode,  &u->sslrootcert,
			     &u->sslcert, &u->sslkey,   &u->connect_timeout };
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
		free(*members[i]);
	*u = (struct dburl){ 0 };
}
