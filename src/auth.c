/*
 * auth: classifies password secrets, computes PostgreSQL's md5 secrets and
 * responses, makes the mock secrets unknown users are failed with, and loads
 * the auth_file into a sorted array that is searched on every login. Owns the
 * loaded entries and the SCRAM secrets derived for them; both are wiped when
 * freed. Owns the process-wide mock key.
 */
#include "sluice/auth.h"

#include "sluice/scram.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define MD5_HEX_LEN    32
#define MD5_SECRET_LEN (3 + MD5_HEX_LEN)

/* ---- secrets ---- */

static bool is_md5_secret(const char *s)
{
	if (strlen(s) != MD5_SECRET_LEN || strncmp(s, "md5", 3) != 0)
		return false;
	for (const char *p = s + 3; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

enum secret_kind auth_secret_kind(const char *secret)
{
	struct scram_secret parsed;

	if (secret == NULL)
		return SECRET_PLAIN;
	if (is_md5_secret(secret))
		return SECRET_MD5;
	if (strncmp(secret, "SCRAM-SHA-256$", 14) == 0 && scram_parse_secret(secret, &parsed))
		return SECRET_SCRAM;
	return SECRET_PLAIN;
}

/* out = "md5" + hex(md5(a + b)); "" when MD5 is unavailable (FIPS providers). */
static void md5_hex(const void *a, size_t alen, const void *b, size_t blen, char out[36])
{
	static const char hex[] = "0123456789abcdef";
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_md5(), NULL) &&
		  EVP_DigestUpdate(ctx, a, alen) && EVP_DigestUpdate(ctx, b, blen) &&
		  EVP_DigestFinal_ex(ctx, digest, &dlen) && dlen == 16;

	EVP_MD_CTX_free(ctx);
	out[0] = '\0';
	if (!ok)
		return;
	memcpy(out, "md5", 3);
	for (unsigned int i = 0; i < 16; i++) {
		out[3 + 2 * i] = hex[digest[i] >> 4];
		out[4 + 2 * i] = hex[digest[i] & 15];
	}
	out[MD5_SECRET_LEN] = '\0';
}

void auth_md5_secret(const char *user, const char *password, char out[36])
{
	md5_hex(password, strlen(password), user, strlen(user), out);
}

void auth_md5_response(const char *user, const char *secret, const uint8_t salt[4], char out[36])
{
	char derived[36];
	const char *md5 = secret;

	out[0] = '\0';
	switch (auth_secret_kind(secret)) {
	case SECRET_SCRAM:
		return; /* an md5 secret cannot be derived from a SCRAM one */
	case SECRET_PLAIN:
		auth_md5_secret(user, secret, derived);
		if (derived[0] == '\0')
			return;
		md5 = derived;
		break;
	case SECRET_MD5:
		break;
	}
	md5_hex(md5 + 3, MD5_HEX_LEN, salt, 4, out);
	OPENSSL_cleanse(derived, sizeof(derived));
}

bool auth_secure_equal(const char *a, const char *b)
{
	size_t len;

	if (a == NULL || b == NULL || (len = strlen(a)) != strlen(b))
		return false;
	return CRYPTO_memcmp(a, b, len) == 0;
}

bool auth_secret_usable(const char *user, const char *secret)
{
	char empty[36];
	bool usable;

	if (secret == NULL || secret[0] == '\0')
		return false;
	if (!is_md5_secret(secret))
		return true;
	auth_md5_secret(user, "", empty);
	usable = !auth_secure_equal(secret, empty);
	OPENSSL_cleanse(empty, sizeof(empty));
	return usable;
}

/* ---- mock secrets ---- */

/*
 * The key behind every mock salt. Process-wide on purpose: it has to outlive
 * each auth_file load, so that a name's salt never changes while sluice runs
 * (PostgreSQL keeps its mock nonce in pg_control for the same reason).
 */
static struct {
	pthread_once_t once;
	bool ok;
	uint8_t key[32];
} mock = { .once = PTHREAD_ONCE_INIT };

static void mock_key_init(void)
{
	mock.ok = RAND_bytes(mock.key, sizeof(mock.key)) == 1;
}

bool auth_mock_salt(const char *user, uint8_t salt[AUTH_SCRAM_SALT_LEN])
{
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	bool ok;

	if (pthread_once(&mock.once, mock_key_init) != 0 || !mock.ok || user == NULL)
		return false;
	ok = HMAC(EVP_sha256(), mock.key, sizeof(mock.key), (const unsigned char *)user,
		  strlen(user), digest, &dlen) != NULL &&
	     dlen >= AUTH_SCRAM_SALT_LEN;
	if (ok)
		memcpy(salt, digest, AUTH_SCRAM_SALT_LEN);
	OPENSSL_cleanse(digest, sizeof(digest));
	return ok;
}

bool auth_mock_scram_secret(const char *user, struct scram_secret *out)
{
	struct scram_secret sec = { .iterations = AUTH_SCRAM_ITERATIONS,
				    .salt_len = AUTH_SCRAM_SALT_LEN };

	if (!auth_mock_salt(user, sec.salt))
		return false;
	*out = sec; /* zero keys: no ClientKey hashes to an all-zero StoredKey */
	return true;
}

void auth_mock_md5_secret(const char *user, char out[36])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t salt[AUTH_SCRAM_SALT_LEN];

	out[0] = '\0';
	if (!auth_mock_salt(user, salt))
		return;
	memcpy(out, "md5", 3);
	for (size_t i = 0; i < sizeof(salt); i++) {
		out[3 + 2 * i] = hex[salt[i] >> 4];
		out[4 + 2 * i] = hex[salt[i] & 15];
	}
	out[MD5_SECRET_LEN] = '\0';
}

/* ---- auth_file ---- */

/* One user; `user` and `secret` share one allocation. */
struct authentry {
	char *user;
	char *secret;
	size_t line;                /* where it was read: a later line wins over an earlier one */
	struct scram_secret *scram; /* NULL until a SCRAM exchange first needs it */
};

struct authfile {
	struct authentry *entries; /* sorted by user, unique */
	size_t count;
	size_t cap;
};

/*
 * Read a quoted string at *p ('"' already checked), "" standing for '"'.
 * Unescapes in place into the line buffer; *p moves past the closing quote.
 */
static char *read_quoted(char **p)
{
	char *src = *p + 1, *dst = src, *start = src;

	for (;;) {
		if (*src == '\0' || *src == '\n')
			return NULL;
		if (*src == '"' && src[1] != '"')
			break;
		if (*src == '"')
			src++;
		*dst++ = *src++;
	}
	*dst = '\0';
	*p = src + 1;
	return start;
}

static char *skip_space(char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

static bool authfile_add(struct authfile *af, const char *user, const char *secret, size_t line)
{
	size_t ulen = strlen(user), slen = strlen(secret);
	char *mem;

	if (af->count == af->cap) {
		size_t ncap = af->cap ? af->cap * 2 : 64;
		struct authentry *n = realloc(af->entries, ncap * sizeof(*n));

		if (n == NULL)
			return false;
		af->entries = n;
		af->cap = ncap;
	}
	if ((mem = malloc(ulen + slen + 2)) == NULL)
		return false;
	memcpy(mem, user, ulen + 1);
	memcpy(mem + ulen + 1, secret, slen + 1);
	af->entries[af->count++] = (struct authentry){ mem, mem + ulen + 1, line, NULL };
	return true;
}

/* Parse one line; NULL on success, else the reason. Comments and blank lines add nothing. */
static const char *parse_line(struct authfile *af, char *line, size_t len, size_t lineno)
{
	char *p = line, *user, *secret;

	if (memchr(line, '\0', len) != NULL)
		return "NUL byte in line";
	while (*p && isspace((unsigned char)*p))
		p++;
	if (*p == '\0' || *p == ';' || *p == '#')
		return NULL;
	if (*p != '"')
		return "expected a quoted user name";
	if ((user = read_quoted(&p)) == NULL)
		return "unterminated user name";
	if (*user == '\0')
		return "empty user name";
	p = skip_space(p);
	if (*p != '"')
		return "expected a quoted secret after the user name";
	if ((secret = read_quoted(&p)) == NULL)
		return "unterminated secret";
	return authfile_add(af, user, secret, lineno) ? NULL : "out of memory";
}

static int entry_cmp(const void *a, const void *b)
{
	const struct authentry *x = a, *y = b;
	int c = strcmp(x->user, y->user);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* Free one entry's memory, wiping the secret and the derived keys. */
static void entry_wipe(struct authentry *e)
{
	OPENSSL_cleanse(e->secret, strlen(e->secret));
	free(e->user);
	if (e->scram) {
		OPENSSL_cleanse(e->scram, sizeof(*e->scram));
		free(e->scram);
	}
}

/* Sort by user and keep only the last line of each user. */
static void authfile_finish(struct authfile *af)
{
	size_t out = 0;

	if (af->count == 0)
		return;
	qsort(af->entries, af->count, sizeof(af->entries[0]), entry_cmp);
	for (size_t i = 0; i < af->count; i++) {
		if (i + 1 < af->count && strcmp(af->entries[i].user, af->entries[i + 1].user) == 0)
			entry_wipe(&af->entries[i]);
		else
			af->entries[out++] = af->entries[i];
	}
	af->count = out;
}

/* Read every line of f into af; false with err filled on the first bad line. */
static bool authfile_read(struct authfile *af, FILE *f, const char *path, char *err, size_t errlen)
{
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	const char *reason = NULL;
	ssize_t n;

	while (reason == NULL && (n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		reason = parse_line(af, line, (size_t)n, lineno);
	}
	if (reason == NULL && ferror(f))
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	else if (reason != NULL)
		snprintf(err, errlen, "%s:%zu: %s", path, lineno, reason);
	if (line)
		OPENSSL_cleanse(line, cap);
	free(line);
	return reason == NULL && !ferror(f);
}

struct authfile *authfile_load(const char *path, char *err, size_t errlen)
{
	struct authfile *af;
	FILE *f;
	bool ok;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if ((af = calloc(1, sizeof(*af))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		fclose(f);
		return NULL;
	}
	ok = authfile_read(af, f, path, err, errlen);
	fclose(f);
	if (!ok) {
		authfile_free(af);
		return NULL;
	}
	authfile_finish(af);
	return af;
}

struct authfile *authfile_of(const char *user, const char *secret)
{
	struct authfile *af = calloc(1, sizeof(*af));

	if (af != NULL && !authfile_add(af, user, secret, 1)) {
		authfile_free(af);
		return NULL;
	}
	return af;
}

static int key_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct authentry *)elem)->user);
}

static struct authentry *entry_find(const struct authfile *af, const char *user)
{
	if (af == NULL || user == NULL || af->count == 0)
		return NULL;
	return bsearch(user, af->entries, af->count, sizeof(af->entries[0]), key_cmp);
}

const char *authfile_lookup(const struct authfile *af, const char *user)
{
	const struct authentry *e = entry_find(af, user);

	return e ? e->secret : NULL;
}

bool auth_scram_secret_of(const char *user, const char *secret, struct scram_secret *out)
{
	uint8_t salt[AUTH_SCRAM_SALT_LEN];
	struct scram_secret sec;
	bool ok = false;

	switch (auth_secret_kind(secret)) {
	case SECRET_SCRAM:
		ok = scram_parse_secret(secret, &sec);
		break;
	case SECRET_PLAIN:
		ok = auth_secret_usable(user, secret) && auth_mock_salt(user, salt) &&
		     scram_secret_from_password(secret, salt, sizeof(salt), AUTH_SCRAM_ITERATIONS,
						&sec);
		break;
	case SECRET_MD5:
		break;
	}
	if (ok)
		*out = sec;
	OPENSSL_cleanse(&sec, sizeof(sec));
	return ok;
}

/* The entry's SCRAM secret into a new allocation, or NULL (md5, empty, no memory). */
static struct scram_secret *entry_derive(const struct authentry *e)
{
	struct scram_secret *sec = calloc(1, sizeof(*sec));

	if (sec != NULL && !auth_scram_secret_of(e->user, e->secret, sec)) {
		free(sec); /* untouched: nothing to wipe */
		return NULL;
	}
	return sec;
}

bool authfile_scram_secret(struct authfile *af, const char *user, struct scram_secret *out)
{
	struct authentry *e = entry_find(af, user);

	if (e == NULL)
		return false;
	if (e->scram == NULL)
		e->scram = entry_derive(e);
	if (e->scram == NULL)
		return false;
	*out = *e->scram;
	return true;
}

void authfile_keep_derived(struct authfile *af, struct authfile *old)
{
	if (af == NULL || old == NULL)
		return;
	for (size_t i = 0; i < af->count; i++) {
		struct authentry *e = &af->entries[i];
		struct authentry *prev = entry_find(old, e->user);

		if (e->scram || prev == NULL || prev->scram == NULL ||
		    strcmp(prev->secret, e->secret) != 0)
			continue;
		e->scram = prev->scram;
		prev->scram = NULL;
	}
}

size_t authfile_count(const struct authfile *af)
{
	return af ? af->count : 0;
}

void authfile_free(struct authfile *af)
{
	if (af == NULL)
		return;
	for (size_t i = 0; i < af->count; i++)
		entry_wipe(&af->entries[i]);
	free(af->entries);
	free(af);
}
