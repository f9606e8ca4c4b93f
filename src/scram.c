/*
 * scram: SCRAM-SHA-256 exchanges on both sides, as PostgreSQL speaks them.
 * Owns the message parsing (bounded by length, never NUL-terminated input),
 * the key derivations and the proof checks. The AuthMessage is never built
 * in a buffer: its pieces are fed to HMAC one after the other.
 */
#include "sluice/scram.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define SECRET_PREFIX "SCRAM-SHA-256$"
#define RAW_NONCE_LEN 18 /* as PostgreSQL and libpq */
#define B64_LEN(n)    (((n) + 2) / 3 * 4)
#define OUR_NONCE_LEN B64_LEN(RAW_NONCE_LEN)

enum server_state { SRV_NONE = 0, SRV_INIT, SRV_FIRST_SENT, SRV_DONE };
enum client_state { CLI_NONE = 0, CLI_FIRST_SENT, CLI_FINAL_SENT, CLI_DONE };

/* ---- base64 (RFC 4648, padded, no line breaks) ---- */

static const char b64_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* dst must hold B64_LEN(len) + 1 bytes; returns the length written before the NUL. */
static size_t b64_encode(const uint8_t *src, size_t len, char *dst)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)src[i] << 16;
		size_t n = len - i < 3 ? len - i : 3;

		if (n > 1)
			v |= (uint32_t)src[i + 1] << 8;
		if (n > 2)
			v |= src[i + 2];
		dst[o++] = b64_chars[(v >> 18) & 63];
		dst[o++] = b64_chars[(v >> 12) & 63];
		dst[o++] = n > 1 ? b64_chars[(v >> 6) & 63] : '=';
		dst[o++] = n > 2 ? b64_chars[v & 63] : '=';
	}
	dst[o] = '\0';
	return o;
}

static int b64_value(char c)
{
	const char *p = c ? strchr(b64_chars, c) : NULL;

	return p ? (int)(p - b64_chars) : -1;
}

/*
 * Decode one 4-character group; the last may end in "=" or "==". Bits that
 * padding leaves unused must be zero, so each byte string has one encoding.
 * Returns the number of bytes or -1.
 */
static int b64_group(const char *g, bool last, uint8_t out[3])
{
	int pad = last && g[3] == '=' ? (g[2] == '=' ? 2 : 1) : 0;
	int v[4] = { 0 };

	for (int i = 0; i < 4 - pad; i++)
		if ((v[i] = b64_value(g[i])) < 0)
			return -1;
	if ((pad == 1 && (v[2] & 3)) || (pad == 2 && (v[1] & 15)))
		return -1;
	out[0] = (uint8_t)(v[0] << 2 | v[1] >> 4);
	out[1] = (uint8_t)(v[1] << 4 | v[2] >> 2);
	out[2] = (uint8_t)(v[2] << 6 | v[3]);
	return 3 - pad;
}

/* Strict decode of exactly `len` characters into at most `cap` bytes. */
static bool b64_decode(const char *src, size_t len, uint8_t *dst, size_t cap, size_t *outlen)
{
	size_t o = 0;

	if (len == 0 || len % 4 != 0)
		return false;
	for (size_t i = 0; i < len; i += 4) {
		uint8_t group[3];
		int n = b64_group(src + i, i + 4 == len, group);

		if (n < 0 || o + (size_t)n > cap)
			return false;
		memcpy(dst + o, group, (size_t)n);
		o += (size_t)n;
	}
	*outlen = o;
	return true;
}

/* Decode into exactly SCRAM_KEY_LEN bytes. */
static bool b64_decode_key(const char *src, size_t len, uint8_t key[SCRAM_KEY_LEN])
{
	size_t n = 0;

	return b64_decode(src, len, key, SCRAM_KEY_LEN, &n) && n == SCRAM_KEY_LEN;
}

/* ---- hashing ---- */

struct span {
	const void *p;
	size_t len;
};

/* HMAC-SHA-256 of the concatenation of `parts`. */
static bool hmac_sha256(const uint8_t *key, size_t keylen, const struct span *parts, size_t n,
			uint8_t out[SCRAM_KEY_LEN])
{
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
	size_t outl = 0;
	bool ok = ctx && EVP_MAC_init(ctx, key, keylen, params);

	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_MAC_update(ctx, parts[i].p, parts[i].len);
	ok = ok && EVP_MAC_final(ctx, out, &outl, SCRAM_KEY_LEN) && outl == SCRAM_KEY_LEN;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return ok;
}

static bool hmac_str(const uint8_t key[SCRAM_KEY_LEN], const char *str, uint8_t out[SCRAM_KEY_LEN])
{
	struct span part = { str, strlen(str) };

	return hmac_sha256(key, SCRAM_KEY_LEN, &part, 1, out);
}

static bool sha256(const uint8_t *in, size_t len, uint8_t out[SCRAM_KEY_LEN])
{
	unsigned int outl = 0;

	return EVP_Digest(in, len, out, &outl, EVP_sha256(), NULL) && outl == SCRAM_KEY_LEN;
}

/* HMAC(key, client-first-bare "," server-first "," client-final-without-proof). */
static bool auth_message_hmac(const uint8_t key[SCRAM_KEY_LEN], const char *bare,
			      const char *sfirst, size_t sfirst_len, const char *cfinal,
			      size_t cfinal_len, uint8_t out[SCRAM_KEY_LEN])
{
	const struct span parts[] = {
		{ bare, strlen(bare) }, { ",", 1 }, { sfirst, sfirst_len }, { ",", 1 },
		{ cfinal, cfinal_len },
	};

	return hmac_sha256(key, SCRAM_KEY_LEN, parts, sizeof(parts) / sizeof(parts[0]), out);
}

static void xor_key(const uint8_t a[SCRAM_KEY_LEN], const uint8_t b[SCRAM_KEY_LEN],
		    uint8_t out[SCRAM_KEY_LEN])
{
	for (int i = 0; i < SCRAM_KEY_LEN; i++)
		out[i] = a[i] ^ b[i];
}

/* ---- message parsing: a cursor over `len` bytes ---- */

struct cursor {
	const char *p;
	const char *end;
};

static bool cur_at_end(const struct cursor *c)
{
	return c->p == c->end;
}

static bool cur_lit(struct cursor *c, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
		return false;
	c->p += n;
	return true;
}

/* Any attribute "<letter>=<value up to ',' or end>". */
static bool cur_any_attr(struct cursor *c, char *name, const char **val, size_t *vlen)
{
	const char *comma;
	char ch;

	if (c->end - c->p < 2 || c->p[1] != '=')
		return false;
	ch = c->p[0];
	if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
		return false;
	*name = ch;
	c->p += 2;
	comma = memchr(c->p, ',', (size_t)(c->end - c->p));
	*val = c->p;
	*vlen = (size_t)((comma ? comma : c->end) - c->p);
	c->p += *vlen;
	return true;
}

/* The attribute `want` must come next. */
static bool cur_attr(struct cursor *c, char want, const char **val, size_t *vlen)
{
	char name;

	return cur_any_attr(c, &name, val, vlen) && name == want;
}

/* RFC 5802 "printable": %x21-2B / %x2D-7E. */
static bool nonce_valid(const char *p, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x21 || p[i] > 0x7e || p[i] == ',')
			return false;
	return true;
}

/* A positive decimal int, digits only. */
static bool parse_pos_int(const char *p, size_t len, int *out)
{
	int64_t v = 0;

	if (len == 0 || len > 10)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	if (v <= 0 || v > INT_MAX)
		return false;
	*out = (int)v;
	return true;
}

/* Copy `len` bytes plus a NUL into out if they fit. */
static bool emit(char *out, size_t outcap, size_t *outlen, const char *s, size_t len)
{
	if (out == NULL || len >= outcap)
		return false;
	memcpy(out, s, len);
	out[len] = '\0';
	if (outlen)
		*outlen = len;
	return true;
}

/* The message as a cursor, refusing embedded NULs (they would cut stored copies short). */
static bool cur_init(struct cursor *c, const char *msg, size_t len)
{
	if (msg == NULL || memchr(msg, '\0', len) != NULL)
		return false;
	c->p = msg;
	c->end = msg + len;
	return true;
}

static bool random_nonce(char out[OUR_NONCE_LEN + 1])
{
	uint8_t raw[RAW_NONCE_LEN];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return false;
	b64_encode(raw, sizeof(raw), out);
	return true;
}

/* ---- secrets ---- */

static bool secret_valid(const struct scram_secret *s)
{
	return s->iterations > 0 && s->salt_len > 0 && s->salt_len <= SCRAM_SALT_MAX;
}

/* Split "A<sep>B" at the first `sep` within [p, end). */
static const char *find_sep(const char *p, const char *end, char sep)
{
	return memchr(p, sep, (size_t)(end - p));
}

bool scram_parse_secret(const char *s, struct scram_secret *out)
{
	const char *p, *end, *colon1, *dollar, *colon2;
	struct scram_secret sec = { 0 };

	if (s == NULL || strncmp(s, SECRET_PREFIX, strlen(SECRET_PREFIX)) != 0)
		return false;
	p = s + strlen(SECRET_PREFIX);
	end = p + strlen(p);
	if (!(colon1 = find_sep(p, end, ':')) || !(dollar = find_sep(colon1, end, '$')) ||
	    !(colon2 = find_sep(dollar, end, ':')))
		return false;
	if (!parse_pos_int(p, (size_t)(colon1 - p), &sec.iterations) ||
	    !b64_decode(colon1 + 1, (size_t)(dollar - colon1 - 1), sec.salt, SCRAM_SALT_MAX,
			&sec.salt_len) ||
	    !b64_decode_key(dollar + 1, (size_t)(colon2 - dollar - 1), sec.stored_key) ||
	    !b64_decode_key(colon2 + 1, (size_t)(end - colon2 - 1), sec.server_key))
		return false;
	*out = sec;
	return true;
}

/* The three keys from a password; salted password and ClientKey are wiped. */
static bool derive_keys(const char *password, const uint8_t *salt, size_t salt_len, int iterations,
			uint8_t client_key[SCRAM_KEY_LEN], uint8_t stored_key[SCRAM_KEY_LEN],
			uint8_t server_key[SCRAM_KEY_LEN])
{
	uint8_t salted[SCRAM_KEY_LEN];
	size_t pwlen = strlen(password);
	bool ok;

	if (pwlen > INT_MAX || salt_len > INT_MAX || iterations <= 0)
		return false;
	ok = PKCS5_PBKDF2_HMAC(password, (int)pwlen, salt, (int)salt_len, iterations, EVP_sha256(),
			       SCRAM_KEY_LEN, salted) == 1 &&
	     hmac_str(salted, "Client Key", client_key) &&
	     sha256(client_key, SCRAM_KEY_LEN, stored_key) &&
	     hmac_str(salted, "Server Key", server_key);
	OPENSSL_cleanse(salted, sizeof(salted));
	return ok;
}

bool scram_secret_from_password(const char *password, const uint8_t *salt, size_t salt_len,
				int iterations, struct scram_secret *out)
{
	struct scram_secret sec = { .iterations = iterations, .salt_len = salt_len };
	uint8_t client_key[SCRAM_KEY_LEN];
	bool ok;

	if (password == NULL || salt == NULL || !secret_valid(&sec))
		return false;
	memcpy(sec.salt, salt, salt_len);
	ok = derive_keys(password, salt, salt_len, iterations, client_key, sec.stored_key,
			 sec.server_key);
	OPENSSL_cleanse(client_key, sizeof(client_key));
	if (ok)
		*out = sec;
	return ok;
}

bool scram_secret_format(const struct scram_secret *secret, char *out, size_t outcap)
{
	char salt[B64_LEN(SCRAM_SALT_MAX) + 1];
	char stored[B64_LEN(SCRAM_KEY_LEN) + 1];
	char server[B64_LEN(SCRAM_KEY_LEN) + 1];
	int n;

	if (secret == NULL || out == NULL || !secret_valid(secret))
		return false;
	b64_encode(secret->salt, secret->salt_len, salt);
	b64_encode(secret->stored_key, SCRAM_KEY_LEN, stored);
	b64_encode(secret->server_key, SCRAM_KEY_LEN, server);
	n = snprintf(out, outcap, SECRET_PREFIX "%d:%s$%s:%s", secret->iterations, salt, stored,
		     server);
	return n >= 0 && (size_t)n < outcap;
}

/* ---- server side ---- */

bool scram_server_init(struct scram_server *s, const struct scram_secret *secret)
{
	if (s == NULL || secret == NULL || !secret_valid(secret))
		return false;
	memset(s, 0, sizeof(*s));
	s->secret = *secret;
	s->state = SRV_INIT;
	return true;
}

bool scram_server_set_binding(struct scram_server *s, const uint8_t *data, size_t len,
			      bool selected)
{
	if (s == NULL || s->state != SRV_INIT || data == NULL || len == 0 || len > SCRAM_CBIND_MAX)
		return false;
	memcpy(s->cbind_data, data, len);
	s->cbind_len = len;
	s->cbind_offered = true;
	s->cbind_selected = selected;
	return true;
}

bool scram_server_set_nonce(struct scram_server *s, const char *nonce)
{
	size_t len = nonce ? strlen(nonce) : 0;

	if (s == NULL || s->state != SRV_INIT || !nonce_valid(nonce, len) ||
	    len >= sizeof(s->server_nonce))
		return false;
	memcpy(s->server_nonce, nonce, len + 1);
	return true;
}

#define GS2_PLUS "p=tls-server-end-point,,"

/*
 * gs2-header, as PostgreSQL reads it: with SCRAM-SHA-256-PLUS selected only
 * "p=tls-server-end-point,,"; else "n,," or "y,," (the client can bind but
 * believes we cannot: true unless PLUS was offered, then a downgrade). An
 * authzid is refused.
 */
static bool server_read_gs2(struct scram_server *s, struct cursor *c)
{
	if (s->cbind_selected) {
		s->cbind_flag = 'p';
		return cur_lit(c, GS2_PLUS);
	}
	if (cur_lit(c, "n,,"))
		s->cbind_flag = 'n';
	else if (cur_lit(c, "y,,") && !s->cbind_offered)
		s->cbind_flag = 'y';
	else
		return false;
	return true;
}

/* client-first-bare: "n=<ignored>,r=<nonce>[,ext=...]*"; mandatory extensions ("m=") refused. */
static bool server_read_bare(struct scram_server *s, struct cursor *c)
{
	const char *bare = c->p, *user, *nonce, *val;
	size_t ulen, nlen, vlen;
	char name;

	if (!cur_attr(c, 'n', &user, &ulen) || !cur_lit(c, ",") || !cur_attr(c, 'r', &nonce, &nlen))
		return false;
	if (!nonce_valid(nonce, nlen) || nlen > SCRAM_NONCE_MAX - OUR_NONCE_LEN)
		return false;
	while (!cur_at_end(c))
		if (!cur_lit(c, ",") || !cur_any_attr(c, &name, &val, &vlen))
			return false;
	if ((size_t)(c->end - bare) >= sizeof(s->client_first_bare))
		return false;
	memcpy(s->client_nonce, nonce, nlen);
	s->client_nonce[nlen] = '\0';
	memcpy(s->client_first_bare, bare, (size_t)(c->end - bare));
	s->client_first_bare[c->end - bare] = '\0';
	return true;
}

/* server_nonce = client nonce + ours (preset by scram_server_set_nonce, or random). */
static bool server_make_nonce(struct scram_server *s)
{
	char ours[sizeof(s->server_nonce)];
	int n;

	if (s->server_nonce[0])
		memcpy(ours, s->server_nonce, sizeof(ours));
	else if (!random_nonce(ours))
		return false;
	n = snprintf(s->server_nonce, sizeof(s->server_nonce), "%s%s", s->client_nonce, ours);
	return n >= 0 && (size_t)n < sizeof(s->server_nonce);
}

bool scram_server_first(struct scram_server *s, const char *msg, size_t len, char *out,
			size_t outcap, size_t *outlen)
{
	char salt[B64_LEN(SCRAM_SALT_MAX) + 1];
	struct cursor c;
	int n;

	if (s == NULL || s->state != SRV_INIT)
		return false;
	s->state = SRV_DONE; /* until this message is accepted */
	if (!cur_init(&c, msg, len) || !server_read_gs2(s, &c) || !server_read_bare(s, &c) ||
	    !server_make_nonce(s))
		return false;
	b64_encode(s->secret.salt, s->secret.salt_len, salt);
	n = snprintf(s->server_first, sizeof(s->server_first), "r=%s,s=%s,i=%d", s->server_nonce,
		     salt, s->secret.iterations);
	if (n < 0 || (size_t)n >= sizeof(s->server_first) ||
	    !emit(out, outcap, outlen, s->server_first, (size_t)n))
		return false;
	s->state = SRV_FIRST_SENT;
	return true;
}

/* "c=" must be base64 of the gs2 header this client sent, with the binding data for "p". */
static bool server_check_binding(const struct scram_server *s, const char *val, size_t vlen)
{
	uint8_t input[sizeof(GS2_PLUS) + SCRAM_CBIND_MAX];
	char expect[B64_LEN(sizeof(input)) + 1];
	size_t len = 3;

	if (s->cbind_flag == 'p') {
		memcpy(input, GS2_PLUS, sizeof(GS2_PLUS) - 1);
		memcpy(input + sizeof(GS2_PLUS) - 1, s->cbind_data, s->cbind_len);
		len = sizeof(GS2_PLUS) - 1 + s->cbind_len;
	} else {
		input[0] = (uint8_t)s->cbind_flag;
		input[1] = input[2] = ',';
	}
	size_t n = b64_encode(input, len, expect);
	return vlen == n && CRYPTO_memcmp(val, expect, n) == 0;
}

/*
 * client-final: "c=..,r=..[,ext=..]*,p=<proof>" with the proof last.
 * Sets *without_proof_len to the length before ",p=".
 */
static bool server_read_final(const struct scram_server *s, struct cursor *c,
			      size_t *without_proof_len, uint8_t proof[SCRAM_KEY_LEN])
{
	const char *start = c->p, *val;
	size_t vlen;
	char name = 0;

	if (!cur_attr(c, 'c', &val, &vlen) || !server_check_binding(s, val, vlen))
		return false;
	if (!cur_lit(c, ",") || !cur_attr(c, 'r', &val, &vlen) || vlen != strlen(s->server_nonce) ||
	    memcmp(val, s->server_nonce, vlen) != 0)
		return false;
	while (name != 'p') {
		*without_proof_len = (size_t)(c->p - start);
		if (!cur_lit(c, ",") || !cur_any_attr(c, &name, &val, &vlen))
			return false;
	}
	return cur_at_end(c) && b64_decode_key(val, vlen, proof);
}

/* ClientKey = proof XOR HMAC(StoredKey, AuthMessage); it must hash to StoredKey. */
static bool server_verify_proof(struct scram_server *s, const char *cfinal, size_t cfinal_len,
				const uint8_t proof[SCRAM_KEY_LEN])
{
	uint8_t sig[SCRAM_KEY_LEN], key[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN];
	bool ok;

	if (!auth_message_hmac(s->secret.stored_key, s->client_first_bare, s->server_first,
			       strlen(s->server_first), cfinal, cfinal_len, sig))
		return false;
	xor_key(proof, sig, key);
	ok = sha256(key, SCRAM_KEY_LEN, stored) &&
	     CRYPTO_memcmp(stored, s->secret.stored_key, SCRAM_KEY_LEN) == 0;
	if (ok)
		memcpy(s->client_key, key, SCRAM_KEY_LEN);
	OPENSSL_cleanse(key, sizeof(key));
	return ok;
}

bool scram_server_final(struct scram_server *s, const char *msg, size_t len, char *out,
			size_t outcap, size_t *outlen)
{
	uint8_t proof[SCRAM_KEY_LEN], sig[SCRAM_KEY_LEN];
	char reply[2 + B64_LEN(SCRAM_KEY_LEN) + 1] = "v=";
	size_t wplen = 0;
	struct cursor c;

	if (s == NULL || s->state != SRV_FIRST_SENT)
		return false;
	s->state = SRV_DONE;
	if (!cur_init(&c, msg, len) || !server_read_final(s, &c, &wplen, proof) ||
	    !server_verify_proof(s, msg, wplen, proof))
		return false;
	if (!auth_message_hmac(s->secret.server_key, s->client_first_bare, s->server_first,
			       strlen(s->server_first), msg, wplen, sig))
		return false;
	b64_encode(sig, SCRAM_KEY_LEN, reply + 2);
	return emit(out, outcap, outlen, reply, strlen(reply));
}

/* ---- client side ---- */

/* RFC 5802 saslname: ',' and '=' escaped. */
static bool escape_user(const char *user, char *out, size_t outcap)
{
	size_t o = 0;

	for (const char *p = user; *p; p++) {
		const char *rep = *p == ',' ? "=2C" : *p == '=' ? "=3D" : NULL;
		size_t n = rep ? 3 : 1;

		if (o + n >= outcap)
			return false;
		memcpy(out + o, rep ? rep : p, n);
		o += n;
	}
	out[o] = '\0';
	return true;
}

bool scram_client_first_user(struct scram_client *c, const char *user, const char *nonce, char *out,
			     size_t outcap, size_t *outlen)
{
	char euser[SCRAM_MSG_MAX], msg[3 + SCRAM_MSG_MAX];
	int n;

	if (c == NULL || user == NULL)
		return false;
	memset(c, 0, sizeof(*c));
	if (nonce != NULL &&
	    (!nonce_valid(nonce, strlen(nonce)) || strlen(nonce) > SCRAM_NONCE_MAX))
		return false;
	if (nonce != NULL)
		strcpy(c->client_nonce, nonce);
	else if (!random_nonce(c->client_nonce))
		return false;
	if (!escape_user(user, euser, sizeof(euser)))
		return false;
	n = snprintf(c->client_first_bare, sizeof(c->client_first_bare), "n=%s,r=%s", euser,
		     c->client_nonce);
	if (n < 0 || (size_t)n >= sizeof(c->client_first_bare))
		return false;
	n = snprintf(msg, sizeof(msg), "n,,%s", c->client_first_bare);
	if (!emit(out, outcap, outlen, msg, (size_t)n))
		return false;
	c->state = CLI_FIRST_SENT;
	return true;
}

bool scram_client_first(struct scram_client *c, const char *nonce, char *out, size_t outcap,
			size_t *outlen)
{
	return scram_client_first_user(c, "", nonce, out, outcap, outlen);
}

/* The parsed server-first-message; `msg` points into the caller's buffer. */
struct server_first {
	const char *msg;
	size_t len;
	const char *nonce;
	size_t nonce_len;
	uint8_t salt[SCRAM_SALT_MAX];
	size_t salt_len;
	int iterations;
};

/* What scram_client_final was given to prove itself with. */
struct credential {
	const char *password;
	const struct scram_secret *keys;
	const uint8_t *client_key;
};

/* "r=<our nonce + theirs>,s=<salt>,i=<iterations>", nothing after (as libpq). */
static bool client_read_first(const struct scram_client *c, struct cursor *cur,
			      struct server_first *sf)
{
	size_t ours = strlen(c->client_nonce), vlen;
	const char *val;

	if (!cur_attr(cur, 'r', &sf->nonce, &sf->nonce_len) ||
	    !nonce_valid(sf->nonce, sf->nonce_len) || sf->nonce_len <= ours ||
	    sf->nonce_len > SCRAM_NONCE_MAX || memcmp(sf->nonce, c->client_nonce, ours) != 0)
		return false;
	if (!cur_lit(cur, ",") || !cur_attr(cur, 's', &val, &vlen) ||
	    !b64_decode(val, vlen, sf->salt, sizeof(sf->salt), &sf->salt_len))
		return false;
	return cur_lit(cur, ",") && cur_attr(cur, 'i', &val, &vlen) &&
	       parse_pos_int(val, vlen, &sf->iterations) && cur_at_end(cur);
}

/*
 * ClientKey, StoredKey and ServerKey from whichever credential was given.
 * With `keys`, the server must use the same salt and iteration count (else
 * our StoredKey is not its StoredKey) and client_key must hash to StoredKey.
 */
static bool client_keys(const struct server_first *sf, const struct credential *cr,
			uint8_t ck[SCRAM_KEY_LEN], uint8_t sk[SCRAM_KEY_LEN],
			uint8_t svk[SCRAM_KEY_LEN])
{
	const struct scram_secret *keys = cr->keys;

	if (cr->password != NULL)
		return keys == NULL && cr->client_key == NULL &&
		       derive_keys(cr->password, sf->salt, sf->salt_len, sf->iterations, ck, sk,
				   svk);
	if (keys == NULL || cr->client_key == NULL || keys->iterations != sf->iterations ||
	    keys->salt_len != sf->salt_len || memcmp(keys->salt, sf->salt, sf->salt_len) != 0)
		return false;
	memcpy(ck, cr->client_key, SCRAM_KEY_LEN);
	memcpy(svk, keys->server_key, SCRAM_KEY_LEN);
	return sha256(ck, SCRAM_KEY_LEN, sk) &&
	       CRYPTO_memcmp(sk, keys->stored_key, SCRAM_KEY_LEN) == 0;
}

/*
 * Proof for the client-final-without-proof `wp` into `proof`, and the server
 * signature to expect into c. The ClientKey is wiped.
 */
static bool client_sign(struct scram_client *c, const struct server_first *sf,
			const struct credential *cr, const char *wp, size_t wplen,
			uint8_t proof[SCRAM_KEY_LEN])
{
	uint8_t ck[SCRAM_KEY_LEN], sk[SCRAM_KEY_LEN], sig[SCRAM_KEY_LEN];
	const char *bare = c->client_first_bare;
	bool ok = client_keys(sf, cr, ck, sk, c->server_key) &&
		  auth_message_hmac(sk, bare, sf->msg, sf->len, wp, wplen, sig) &&
		  auth_message_hmac(c->server_key, bare, sf->msg, sf->len, wp, wplen,
				    c->server_signature);

	if (ok)
		xor_key(ck, sig, proof);
	OPENSSL_cleanse(ck, sizeof(ck));
	return ok;
}

bool scram_client_final(struct scram_client *c, const char *server_first, size_t len,
			const char *password, const struct scram_secret *keys,
			const uint8_t *client_key, char *out, size_t outcap, size_t *outlen)
{
	const struct credential cr = { password, keys, client_key };
	struct server_first sf = { .msg = server_first, .len = len };
	char msg[SCRAM_NONCE_MAX + 64 + B64_LEN(SCRAM_KEY_LEN)];
	uint8_t proof[SCRAM_KEY_LEN];
	struct cursor cur;
	int wplen;

	if (c == NULL || c->state != CLI_FIRST_SENT)
		return false;
	c->state = CLI_DONE;
	if (!cur_init(&cur, server_first, len) || !client_read_first(c, &cur, &sf))
		return false;
	wplen = snprintf(msg, sizeof(msg), "c=biws,r=%.*s", (int)sf.nonce_len, sf.nonce);
	if (wplen < 0 || !client_sign(c, &sf, &cr, msg, (size_t)wplen, proof))
		return false;
	memcpy(msg + wplen, ",p=", 3);
	b64_encode(proof, SCRAM_KEY_LEN, msg + wplen + 3);
	if (!emit(out, outcap, outlen, msg, strlen(msg)))
		return false;
	c->state = CLI_FINAL_SENT;
	return true;
}

bool scram_client_verify(struct scram_client *c, const char *server_final, size_t len)
{
	uint8_t sig[SCRAM_KEY_LEN];
	struct cursor cur;
	const char *val;
	size_t vlen;

	if (c == NULL || c->state != CLI_FINAL_SENT)
		return false;
	c->state = CLI_DONE;
	return cur_init(&cur, server_final, len) && cur_attr(&cur, 'v', &val, &vlen) &&
	       cur_at_end(&cur) && b64_decode_key(val, vlen, sig) &&
	       CRYPTO_memcmp(sig, c->server_signature, SCRAM_KEY_LEN) == 0;
}
