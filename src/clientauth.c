/*
 * clientauth: the authentication exchange with a client. Owns the client's
 * copy of its stored secret and its SCRAM server state while CL_LOGIN lasts;
 * both are dropped as soon as the exchange ends.
 */
#include "sluice/clientauth.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/auth.h"
#include "sluice/client.h"
#include "sluice/log.h"
#include "sluice/proto.h"
#include "sluice/runtime.h"
#include "sluice/scram.h"
#include "sluice/util.h"

#define AUTH_OK            0
#define AUTH_CLEARTEXT     3
#define AUTH_MD5           5
#define AUTH_SASL          10
#define AUTH_SASL_CONTINUE 11
#define AUTH_SASL_FINAL    12

#define SCRAM_DEFAULT_ITERATIONS 4096

void clientauth_reset(struct client *c)
{
	if (c->secret) {
		explicit_bzero(c->secret, strlen(c->secret));
		free(c->secret);
		c->secret = NULL;
	}
	if (c->scram) {
		explicit_bzero(c->scram, sizeof(*c->scram));
		free(c->scram);
		c->scram = NULL;
	}
}

static void auth_failed(struct client *c)
{
	char msg[256];
	snprintf(msg, sizeof(msg), "password authentication failed for user \"%s\"", c->user);
	clientauth_reset(c);
	client_close(c, CLOSE_ERROR, "28P01", msg);
}

/* Send an Authentication message; false after closing the client. */
static bool send_auth(struct client *c, uint32_t code, const void *data, size_t len)
{
	struct pktbuf *b = &c->rt->scratch;
	pktbuf_reset(b);
	proto_build_auth(b, code, data, len);
	if (!client_send_scratch(c)) {
		client_close(c, CLOSE_SILENT, NULL, "could not send authentication request");
		return false;
	}
	return true;
}

/* Ask the client for its next authentication message, expected at step `next`. */
static void send_request(struct client *c, uint32_t code, const void *data, size_t len,
			 enum login_step next)
{
	if (send_auth(c, code, data, len))
		c->step = next;
}

static void begin_scram(struct client *c)
{
	static const char mechs[] = "SCRAM-SHA-256\0";
	send_request(c, AUTH_SASL, mechs, sizeof(mechs), LOGIN_SASL_INIT);
}

void clientauth_begin(struct client *c)
{
	const struct config *cfg = c->rt->cfg;
	const char *secret = c->rt->authfile ? authfile_lookup(c->rt->authfile, c->user) : NULL;
	c->user_known = secret != NULL;
	c->secret = xstrdup_null(secret);

	switch (cfg->auth_type) {
	case AUTH_TYPE_TRUST:
		if (c->rt->authfile && !c->user_known) {
			auth_failed(c);
			return;
		}
		clientauth_reset(c);
		client_authenticated(c, NULL, NULL);
		return;
	case AUTH_TYPE_PLAIN:
		send_request(c, AUTH_CLEARTEXT, NULL, 0, LOGIN_PASSWORD);
		return;
	case AUTH_TYPE_MD5:
		if (c->user_known && auth_secret_kind(c->secret) == SECRET_SCRAM) {
			begin_scram(c);
			return;
		}
		if (!util_random_bytes(c->md5_salt, sizeof(c->md5_salt))) {
			client_close(c, CLOSE_ERROR, "XX000", "could not generate random salt");
			return;
		}
		send_request(c, AUTH_MD5, c->md5_salt, sizeof(c->md5_salt), LOGIN_PASSWORD);
		return;
	case AUTH_TYPE_SCRAM:
		begin_scram(c);
		return;
	}
}

/* A cleartext password checked against any kind of stored secret. */
static bool check_cleartext(struct client *c, const char *password)
{
	switch (auth_secret_kind(c->secret)) {
	case SECRET_PLAIN:
		return auth_secure_equal(c->secret, password);
	case SECRET_MD5: {
		char md5[36];
		auth_md5_secret(c->user, password, md5);
		return auth_secure_equal(c->secret, md5);
	}
	case SECRET_SCRAM: {
		struct scram_secret stored, derived;
		if (!scram_parse_secret(c->secret, &stored) ||
		    !scram_secret_from_password(password, stored.salt, stored.salt_len,
						stored.iterations, &derived))
			return false;
		return CRYPTO_memcmp(stored.stored_key, derived.stored_key, SCRAM_KEY_LEN) == 0 &&
		       CRYPTO_memcmp(stored.server_key, derived.server_key, SCRAM_KEY_LEN) == 0;
	}
	}
	return false;
}

static void password_message(struct client *c, const uint8_t *body, uint32_t len)
{
	if (len == 0 || body[len - 1] != '\0' || memchr(body, 0, len) != body + len - 1) {
		client_close(c, CLOSE_ERROR, "08P01", "invalid password packet");
		return;
	}
	const char *password = (const char *)body;
	bool ok = false;
	if (c->user_known && c->rt->cfg->auth_type == AUTH_TYPE_PLAIN) {
		ok = check_cleartext(c, password);
	} else if (c->user_known) {
		char expected[36];
		ok = auth_secret_kind(c->secret) != SECRET_SCRAM;
		if (ok) {
			auth_md5_response(c->user, c->secret, c->md5_salt, expected);
			ok = auth_secure_equal(expected, password);
		}
	}
	if (!ok) {
		auth_failed(c);
		return;
	}
	clientauth_reset(c);
	client_authenticated(c, NULL, NULL);
}

/*
 * The secret the SCRAM exchange runs against: the stored SCRAM secret, one
 * derived from a plain password, or (unknown user, md5 secret) a random one
 * that no proof can match. *real tells whether it can succeed.
 */
static bool scram_secret_for(struct client *c, struct scram_secret *out, bool *real)
{
	uint8_t salt[16];
	*real = false;
	if (c->user_known) {
		switch (auth_secret_kind(c->secret)) {
		case SECRET_SCRAM:
			*real = scram_parse_secret(c->secret, out);
			if (*real)
				return true;
			break;
		case SECRET_PLAIN:
			*real = util_random_bytes(salt, sizeof(salt)) &&
				scram_secret_from_password(c->secret, salt, sizeof(salt),
							   SCRAM_DEFAULT_ITERATIONS, out);
			if (*real)
				return true;
			break;
		case SECRET_MD5:
			break;
		}
	}
	memset(out, 0, sizeof(*out));
	out->iterations = SCRAM_DEFAULT_ITERATIONS;
	out->salt_len = sizeof(salt);
	return util_random_bytes(out->salt, out->salt_len) &&
	       util_random_bytes(out->stored_key, SCRAM_KEY_LEN) &&
	       util_random_bytes(out->server_key, SCRAM_KEY_LEN);
}

static void sasl_initial(struct client *c, const uint8_t *body, uint32_t len)
{
	struct proto_reader r;
	proto_reader_init(&r, body, len);
	const char *mech = proto_get_str(&r);
	uint32_t n = proto_get_u32(&r);
	const uint8_t *data = r.bad || n > proto_remaining(&r) ? NULL : proto_get_bytes(&r, n);
	if (mech == NULL || data == NULL) {
		client_close(c, CLOSE_ERROR, "08P01", "malformed SASLInitialResponse");
		return;
	}
	if (strcmp(mech, "SCRAM-SHA-256") != 0) {
		client_close(c, CLOSE_ERROR, "28000",
			     "client selected an invalid SASL authentication mechanism");
		return;
	}
	struct scram_secret secret;
	bool real;
	char out[SCRAM_MSG_MAX];
	size_t outlen;
	c->scram = xcalloc(1, sizeof(*c->scram));
	if (!scram_secret_for(c, &secret, &real) || !scram_server_init(c->scram, &secret) ||
	    !scram_server_first(c->scram, (const char *)data, n, out, sizeof(out), &outlen)) {
		client_close(c, CLOSE_ERROR, "08P01", "malformed SCRAM message");
		return;
	}
	c->user_known = real;
	send_request(c, AUTH_SASL_CONTINUE, out, outlen, LOGIN_SASL_FINAL);
}

static void sasl_final(struct client *c, const uint8_t *body, uint32_t len)
{
	char out[SCRAM_MSG_MAX];
	size_t outlen;
	if (!scram_server_final(c->scram, (const char *)body, len, out, sizeof(out), &outlen) ||
	    !c->user_known) {
		auth_failed(c);
		return;
	}
	if (!send_auth(c, AUTH_SASL_FINAL, out, outlen))
		return;
	/* keys for logging in to PostgreSQL as this user, when the secret was stored as SCRAM */
	bool stored_scram = auth_secret_kind(c->secret) == SECRET_SCRAM;
	struct scram_secret keys = c->scram->secret;
	uint8_t client_key[SCRAM_KEY_LEN];
	memcpy(client_key, c->scram->client_key, sizeof(client_key));
	clientauth_reset(c);
	client_authenticated(c, stored_scram ? &keys : NULL, stored_scram ? client_key : NULL);
	explicit_bzero(client_key, sizeof(client_key));
	explicit_bzero(&keys, sizeof(keys));
}

void clientauth_message(struct client *c, const uint8_t *body, uint32_t len)
{
	switch (c->step) {
	case LOGIN_PASSWORD:
		password_message(c, body, len);
		return;
	case LOGIN_SASL_INIT:
		sasl_initial(c, body, len);
		return;
	case LOGIN_SASL_FINAL:
		sasl_final(c, body, len);
		return;
	case LOGIN_STARTUP:
		break;
	}
	client_close(c, CLOSE_ERROR, "08P01", "unexpected authentication message");
}
