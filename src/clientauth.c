/*
 * clientauth: the authentication exchange with a client. The method is
 * auth_type's, or under auth_type = hba the first matching rule's of
 * auth_hba_file; each method is a small begin function in one table. Owns
 * the client's copy of its stored secret, its SCRAM server state and its
 * auth_query look-up while CL_LOGIN lasts; all are dropped as soon as the
 * exchange ends. A user missing from auth_file whose database has an
 * auth_query is looked up first (LOGIN_LOOKUP), and the exchange then runs
 * against that secret as if it came from auth_file. A client that cannot log
 * in with a password (unknown user, empty or expired password, a secret the
 * method cannot use) goes through the same steps against a mock secret and
 * fails where a wrong password fails, with the same message, in the same
 * time. A look-up that cannot be done lets nobody in.
 */
#include "sluice/clientauth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sluice/auth.h"
#include "sluice/authquery.h"
#include "sluice/client.h"
#include "sluice/hba.h"
#include "sluice/ident.h"
#include "sluice/log.h"
#include "sluice/proto.h"
#include "sluice/runtime.h"
#include "sluice/scram.h"
#include "sluice/tls.h"
#include "sluice/util.h"

#define AUTH_OK            0
#define AUTH_CLEARTEXT     3
#define AUTH_MD5           5
#define AUTH_SASL          10
#define AUTH_SASL_CONTINUE 11
#define AUTH_SASL_FINAL    12

void clientauth_reset(struct client *c)
{
	if (c->lookup) {
		authquery_cancel(c->lookup);
		c->lookup = NULL;
	}
	str_wipe_free(c->secret);
	c->secret = NULL;
	c->secret_looked_up = false;
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

/* Over TLS, SCRAM-SHA-256-PLUS (channel binding) is offered first, as PostgreSQL does. */
static void begin_scram(struct client *c)
{
	static const char mechs[] = "SCRAM-SHA-256\0";
	static const char mechs_tls[] = "SCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0";
	if (conn_is_tls(&c->conn))
		send_request(c, AUTH_SASL, mechs_tls, sizeof(mechs_tls), LOGIN_SASL_INIT);
	else
		send_request(c, AUTH_SASL, mechs, sizeof(mechs), LOGIN_SASL_INIT);
}

/* Channel binding data for a TLS client: the hash of sluice's certificate. */
static bool setup_binding(struct client *c, bool selected)
{
	uint8_t cb[EVP_MAX_MD_SIZE];
	size_t len;
	if (!conn_is_tls(&c->conn))
		return !selected;
	return tls_server_end_point(&c->conn, cb, &len) && len <= SCRAM_CBIND_MAX &&
	       scram_server_set_binding(c->scram, cb, len, selected);
}

/*
 * Take the user's secret from the auth_file as it is now. Called at the start
 * and again before each check: a reload in between replaces the file, and
 * the check must agree with the file it runs against. A secret auth_query
 * gave stands for the whole exchange.
 */
static void take_secret(struct client *c)
{
	if (c->secret_looked_up)
		return;
	const char *secret = authfile_lookup(c->rt->auth.users, c->user);
	str_wipe_free(c->secret);
	c->user_known = secret != NULL;
	c->secret = xstrdup_null(secret);
}

/* Authentication succeeded: pass on what logging in to PostgreSQL as this
 * user needs (SCRAM keys from the proof, the secret auth_query gave). */
static void succeed(struct client *c, const struct scram_secret *keys, const uint8_t *client_key)
{
	char *looked_up = c->secret_looked_up ? c->secret : NULL;
	struct auth_proof proof = { keys, client_key, looked_up };

	if (looked_up != NULL)
		c->secret = NULL; /* kept past the reset, for the pool */
	clientauth_reset(c);
	client_authenticated(c, &proof);
	str_wipe_free(looked_up);
}

/* Whether c's connection is encrypted: hostssl and hostnossl rules, cert, the refusal text. */
static bool client_tls(const struct client *c)
{
	return conn_is_tls(&c->conn);
}

/* May c log in without a password? With an auth_file or auth_query, only as a user
 * one of them knows. */
static bool user_listed(const struct client *c)
{
	return (c->rt->auth.users == NULL && !c->secret_looked_up) || c->user_known;
}

/* PostgreSQL's refusal of a connection by pg_hba.conf (28000), `what` first. */
static void hba_refuse(struct client *c, const char *what)
{
	char msg[512];
	snprintf(msg, sizeof(msg), "%s for host \"%s\", user \"%s\", database \"%s\", %s", what,
		 c->family == AF_UNIX ? "[local]" : client_addr(c), c->user, c->dbname,
		 client_tls(c) ? "SSL encryption" : "no encryption");
	clientauth_reset(c);
	client_close(c, CLOSE_ERROR, "28000", msg);
}

/* A method that checks no password failed: 28000 with the message. */
static void method_failed(struct client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void method_failed(struct client *c, const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clientauth_reset(c);
	client_close(c, CLOSE_ERROR, "28000", msg);
}

static void begin_trust(struct client *c, const struct hba_verdict *v)
{
	if (!user_listed(c)) {
		auth_failed(c);
		return;
	}
	succeed(c, NULL, NULL);
}

static void begin_reject(struct client *c, const struct hba_verdict *v)
{
	hba_refuse(c, "pg_hba.conf rejects connection");
}

static void begin_cleartext(struct client *c, const struct hba_verdict *v)
{
	send_request(c, AUTH_CLEARTEXT, NULL, 0, LOGIN_CLEARTEXT);
}

static void begin_md5(struct client *c, const struct hba_verdict *v)
{
	if (c->user_known && auth_secret_kind(c->secret) == SECRET_SCRAM) {
		begin_scram(c);
		return;
	}
	if (!util_random_bytes(c->md5_salt, sizeof(c->md5_salt))) {
		client_close(c, CLOSE_ERROR, "XX000", "could not generate random salt");
		return;
	}
	send_request(c, AUTH_MD5, c->md5_salt, sizeof(c->md5_salt), LOGIN_MD5);
}

static void begin_scram_sha_256(struct client *c, const struct hba_verdict *v)
{
	begin_scram(c);
}

/*
 * cert (a hostssl rule, or auth_type = cert): the common name of a client
 * certificate verified against client_tls_ca_file is the user, or map v->map
 * lets it log in as the user. As with trust, a user an auth_file does not
 * list is refused.
 */
static void begin_cert(struct client *c, const struct hba_verdict *v)
{
	char cn[256];
	if (!client_tls(c)) {
		method_failed(c,
			      "certificate authentication failed: the connection does not use TLS");
		return;
	}
	if (!tls_peer_cn(&c->conn, cn, sizeof(cn))) {
		method_failed(c, "connection requires a valid client certificate");
		return;
	}
	bool allowed = v->map ? ident_map_allows(c->rt->auth.ident, v->map, cn, c->user)
			      : strcmp(cn, c->user) == 0;
	if (!allowed)
		client_log(c, LOG_INFO, "client_auth",
			   "cert: the certificate's name \"%s\" may not log in as \"%s\"", cn,
			   c->user);
	if (!allowed || !user_listed(c)) {
		method_failed(c, "certificate authentication failed for user \"%s\"", c->user);
		return;
	}
	succeed(c, NULL, NULL);
}

/*
 * The name of the user at the other end of a unix socket, from SO_PEERCRED
 * and the password database. getpwuid_r may ask NSS and block the loop for
 * that while; PostgreSQL's backend does the same look-up.
 */
static bool peer_user(int fd, char *name, size_t len)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct passwd pw, *found = NULL;
	char buf[4096];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) != 0 || clen != sizeof(cred))
		return false;
	if (getpwuid_r(cred.uid, &pw, buf, sizeof(buf), &found) != 0 || found == NULL)
		return false;
	return (size_t)snprintf(name, len, "%s", pw.pw_name) < len;
}

/* peer: the socket's owner is the user, or map v->map lets it log in as the user. */
static void begin_peer(struct client *c, const struct hba_verdict *v)
{
	char sys[256];
	bool known = c->family == AF_UNIX && peer_user(c->conn.fd, sys, sizeof(sys));
	bool allowed = known && (v->map ? ident_map_allows(c->rt->auth.ident, v->map, sys, c->user)
					: strcmp(sys, c->user) == 0);

	if (!known)
		client_log(c, LOG_INFO, "client_auth", "peer: could not find the peer's user name");
	else if (!allowed && v->map)
		client_log(c, LOG_INFO, "client_auth",
			   "peer: no line of map \"%s\" lets \"%s\" log in", v->map, sys);
	else if (!allowed)
		client_log(c, LOG_INFO, "client_auth", "peer: the peer is \"%s\", not the user",
			   sys);
	if (!allowed || !user_listed(c)) {
		method_failed(c, "Peer authentication failed for user \"%s\"", c->user);
		return;
	}
	succeed(c, NULL, NULL);
}

typedef void method_fn(struct client *c, const struct hba_verdict *v);

static method_fn *const method_begin[] = {
	[HBA_TRUST] = begin_trust,         [HBA_REJECT] = begin_reject,
	[HBA_PASSWORD] = begin_cleartext,  [HBA_MD5] = begin_md5,
	[HBA_SCRAM] = begin_scram_sha_256, [HBA_CERT] = begin_cert,
	[HBA_PEER] = begin_peer,
};

/* The method of every client when auth_type is not hba. */
static const struct hba_verdict global_verdict[] = {
	[AUTH_TYPE_TRUST] = { .method = HBA_TRUST }, [AUTH_TYPE_PLAIN] = { .method = HBA_PASSWORD },
	[AUTH_TYPE_MD5] = { .method = HBA_MD5 },     [AUTH_TYPE_SCRAM] = { .method = HBA_SCRAM },
	[AUTH_TYPE_CERT] = { .method = HBA_CERT },
};

/* How c is connected, for the rule types; its address into *ss. */
static enum hba_conn client_conn(const struct client *c, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (c->family == AF_UNIX)
		return HBA_LOCAL;
	if (c->family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, c->addr, 4);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, c->addr, 16);
	}
	return client_tls(c) ? HBA_HOST_TLS : HBA_HOST_PLAIN;
}

/* The method for c: auth_type's, or the first matching hba rule's (NULL: none matches). */
static const struct hba_verdict *pick_method(const struct client *c)
{
	enum auth_type type = c->rt->cfg->auth_type;
	struct sockaddr_storage ss;

	if (type != AUTH_TYPE_HBA)
		return &global_verdict[type];
	if (c->rt->auth.hba == NULL) /* admin SET auth_type = hba: RELOAD reads the file */
		client_log(c, LOG_WARNING, "client_auth",
			   "auth_type = hba but no auth_hba_file is loaded");
	enum hba_conn conn = client_conn(c, &ss);
	const struct hba_verdict *v =
		hba_match(c->rt->auth.hba, conn, (struct sockaddr *)&ss, c->dbname, c->user);
	if (v != NULL)
		client_log(c, LOG_DEBUG, "client_hba", "auth_hba_file line %d: %s", v->line,
			   hba_method_str(v->method));
	return v;
}

/* Run the method auth_type or the first matching hba rule gives. */
static void begin_method(struct client *c)
{
	const struct hba_verdict *v = pick_method(c);
	if (v == NULL) {
		hba_refuse(c, "no pg_hba.conf entry");
		return;
	}
	method_begin[v->method](c, v);
}

/* authquery_done_fn: the look-up answered. No such user, or no usable
 * secret, goes on against the mock secret and fails as a wrong password. */
static void lookup_done(void *arg, enum authquery_result r, const char *secret)
{
	struct client *c = arg;

	c->lookup = NULL;
	if (c->state != CL_LOGIN)
		return; /* cannot happen: closing a client cancels its look-up */
	if (r == AUTHQUERY_FAILED) {
		client_close(c, CLOSE_ERROR, "08006", "authentication lookup failed");
		return;
	}
	c->secret_looked_up = true;
	c->user_known = r == AUTHQUERY_FOUND;
	c->secret = xstrdup_null(secret);
	begin_method(c);
	if (c->state == CL_LOGIN && c->step != LOGIN_LOOKUP)
		client_login_resume(c);
}

/*
 * A user missing from auth_file is looked up when its database has an
 * auth_query (and an auth_user); console logins never are. The client
 * waits in LOGIN_LOOKUP; client_login_timeout still applies.
 */
static bool begin_lookup(struct client *c)
{
	struct authquery_target t;

	if (client_wants_console(c) ||
	    !authquery_target_for(c->rt->cfg, c->rt->auth.users, c->dbname, &t))
		return false;
	c->step = LOGIN_LOOKUP;
	c->lookup = authquery_lookup(c->rt->authq, &t, c->user, lookup_done, c);
	return true;
}

/* A user no file knows is looked up first, unless the rule refuses it anyway. */
void clientauth_begin(struct client *c)
{
	take_secret(c);
	const struct hba_verdict *v = pick_method(c);
	if (v != NULL && v->method != HBA_REJECT && !c->user_known && begin_lookup(c))
		return;
	begin_method(c);
}

/* A cleartext password checked against any kind of stored secret. */
static bool check_cleartext(const char *user, const char *secret, const char *password)
{
	switch (auth_secret_kind(secret)) {
	case SECRET_PLAIN:
		return auth_secure_equal(secret, password);
	case SECRET_MD5: {
		char md5[36];
		auth_md5_secret(user, password, md5);
		return auth_secure_equal(secret, md5);
	}
	case SECRET_SCRAM: {
		struct scram_secret stored, derived;
		if (password[0] == '\0' || !scram_parse_secret(secret, &stored) ||
		    !scram_secret_from_password(password, stored.salt, stored.salt_len,
						stored.iterations, &derived))
			return false;
		return CRYPTO_memcmp(stored.stored_key, derived.stored_key, SCRAM_KEY_LEN) == 0 &&
		       CRYPTO_memcmp(stored.server_key, derived.server_key, SCRAM_KEY_LEN) == 0;
	}
	}
	return false;
}

/* A PasswordMessage after AuthenticationCleartextPassword (cleartext) or MD5Password. */
static void password_message(struct client *c, const uint8_t *body, uint32_t len, bool cleartext)
{
	if (len == 0 || body[len - 1] != '\0' || memchr(body, 0, len) != body + len - 1) {
		client_close(c, CLOSE_ERROR, "08P01", "invalid password packet");
		return;
	}
	const char *password = (const char *)body;
	char mock[36];
	take_secret(c);
	/* a client that cannot log in is checked against a mock md5 secret all the same */
	auth_mock_md5_secret(c->user, mock);
	bool usable = c->user_known && auth_secret_usable(c->user, c->secret);
	const char *secret = usable ? c->secret : mock;
	bool ok;
	if (cleartext) {
		ok = check_cleartext(c->user, secret, password);
	} else {
		char expected[36]; /* "" for a SCRAM secret: matches nothing */
		auth_md5_response(c->user, secret, c->md5_salt, expected);
		ok = auth_secure_equal(expected, password);
		explicit_bzero(expected, sizeof(expected));
	}
	explicit_bzero(mock, sizeof(mock));
	if (!ok || !usable || password[0] == '\0') {
		auth_failed(c);
		return;
	}
	succeed(c, NULL, NULL);
}

/*
 * The secret the SCRAM exchange runs against: the user's SCRAM secret from
 * the auth_file (stored, or derived once from a cleartext password), or
 * PostgreSQL's mock for anyone who cannot log in (unknown user, md5 secret,
 * empty password): the salt this name always gets, keys no proof matches.
 * The mock is made on both paths, so both cost the same. *real tells
 * whether the exchange can succeed.
 */
static bool scram_secret_for(struct client *c, struct scram_secret *out, bool *real)
{
	struct scram_secret mock;
	take_secret(c);
	if (!auth_mock_scram_secret(c->user, &mock))
		return false;
	if (c->secret_looked_up)
		*real = c->user_known && auth_scram_secret_of(c->user, c->secret, out);
	else
		*real = c->user_known && authfile_scram_secret(c->rt->auth.users, c->user, out);
	if (!*real)
		*out = mock;
	explicit_bzero(&mock, sizeof(mock));
	return true;
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
	bool plus = strcmp(mech, "SCRAM-SHA-256-PLUS") == 0 && conn_is_tls(&c->conn);
	if (strcmp(mech, "SCRAM-SHA-256") != 0 && !plus) {
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
	    !setup_binding(c, plus) ||
	    !scram_server_first(c->scram, (const char *)data, n, out, sizeof(out), &outlen)) {
		explicit_bzero(&secret, sizeof(secret));
		client_close(c, CLOSE_ERROR, "08P01", "malformed SCRAM message");
		return;
	}
	explicit_bzero(&secret, sizeof(secret));
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
	succeed(c, stored_scram ? &keys : NULL, stored_scram ? client_key : NULL);
	explicit_bzero(client_key, sizeof(client_key));
	explicit_bzero(&keys, sizeof(keys));
}

void clientauth_message(struct client *c, const uint8_t *body, uint32_t len)
{
	switch (c->step) {
	case LOGIN_CLEARTEXT:
	case LOGIN_MD5:
		password_message(c, body, len, c->step == LOGIN_CLEARTEXT);
		return;
	case LOGIN_SASL_INIT:
		sasl_initial(c, body, len);
		return;
	case LOGIN_SASL_FINAL:
		sasl_final(c, body, len);
		return;
	case LOGIN_STARTUP:
	case LOGIN_TLS:
	case LOGIN_LOOKUP:
		break;
	}
	client_close(c, CLOSE_ERROR, "08P01", "unexpected authentication message");
}
