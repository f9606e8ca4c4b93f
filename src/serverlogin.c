/*
 * serverlogin: the start-up and authentication exchange with PostgreSQL.
 * Which credential is used: the [databases] entry's password, else the
 * auth_file secret of the login user, else the secret auth_query gave for
 * it, else SCRAM keys a client proved.
 */
#include "sluice/serverlogin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/auth.h"
#include "sluice/log.h"
#include "sluice/pool.h"
#include "sluice/proto.h"
#include "sluice/runtime.h"
#include "sluice/scram.h"
#include "sluice/server.h"
#include "sluice/util.h"

/* The stored secret for logging in as the pool's user, or NULL: the
 * database entry's password, the auth_file's, else auth_query's. */
static const char *login_secret(struct server *s)
{
	struct pool *p = s->pool;
	const char *secret = p->password;
	if (secret == NULL)
		secret = authfile_lookup(s->rt->auth.users, p->user);
	return secret ? secret : p->lookup_secret;
}

static bool send_out(struct server *s)
{
	enum conn_io r = conn_flush_out(&s->conn);
	if (r == CONN_IO_AGAIN)
		conn_write_start(&s->conn);
	return r == CONN_IO_OK || r == CONN_IO_AGAIN;
}

bool serverlogin_start(struct server *s)
{
	struct pool *p = s->pool;
	const char *keys[2 + POOL_STARTUP_PARAMS] = { "user", "database" };
	const char *values[2 + POOL_STARTUP_PARAMS] = { p->user, p->dbname };
	int n = 2;
	for (int i = 0; i < POOL_STARTUP_PARAMS; i++) {
		if (p->startup[i] == NULL)
			continue;
		keys[n] = pool_startup_names[i];
		values[n++] = p->startup[i];
	}
	proto_build_startup(conn_out_buf(&s->conn), keys, values, n);
	return send_out(s);
}

void serverlogin_free(struct server *s)
{
	if (s->scram) {
		explicit_bzero(s->scram, sizeof(*s->scram));
		free(s->scram);
		s->scram = NULL;
	}
	param_kv_free(&s->login_params, &s->n_login_params);
}

static void login_fail(struct server *s, const char *why)
{
	log_at(LOG_WARNING, server_log_ctx(s, "server_login_failed", "08P01"),
	       "server login failed: %s", why);
	pool_login_failed(s->pool, "08P01", why);
	server_close(s, why);
}

static void answer_cleartext(struct server *s)
{
	const char *secret = login_secret(s);
	if (secret == NULL || auth_secret_kind(secret) != SECRET_PLAIN) {
		login_fail(s, "server asked for a cleartext password but no plain password is "
			      "configured");
		return;
	}
	proto_build_password(conn_out_buf(&s->conn), secret);
	if (!send_out(s))
		server_close(s, "could not send password");
}

static void answer_md5(struct server *s, const uint8_t *body, uint32_t len)
{
	const char *secret = login_secret(s);
	if (len < 8) {
		login_fail(s, "malformed MD5 authentication request");
		return;
	}
	if (secret == NULL || auth_secret_kind(secret) == SECRET_SCRAM) {
		login_fail(s, "server asked for md5 but no plain or md5 password is configured");
		return;
	}
	char resp[36];
	auth_md5_response(s->pool->user, secret, body + 4, resp);
	proto_build_password(conn_out_buf(&s->conn), resp);
	explicit_bzero(resp, sizeof(resp));
	if (!send_out(s))
		server_close(s, "could not send password");
}

static bool offers_scram(const uint8_t *body, uint32_t len)
{
	struct proto_reader r;
	proto_reader_init(&r, body + 4, len - 4);
	const char *mech;
	while ((mech = proto_get_str(&r)) != NULL && mech[0] != '\0')
		if (strcmp(mech, "SCRAM-SHA-256") == 0)
			return true;
	return false;
}

static void answer_sasl(struct server *s, const uint8_t *body, uint32_t len)
{
	if (!offers_scram(body, len)) {
		login_fail(s, "server offers no supported SASL mechanism");
		return;
	}
	char msg[SCRAM_MSG_MAX];
	size_t n;
	s->scram = xcalloc(1, sizeof(*s->scram));
	if (!scram_client_first(s->scram, NULL, msg, sizeof(msg), &n)) {
		login_fail(s, "could not start SCRAM exchange");
		return;
	}
	proto_build_sasl_initial(conn_out_buf(&s->conn), "SCRAM-SHA-256", msg, n);
	if (!send_out(s))
		server_close(s, "could not send SASL message");
}

static void answer_sasl_continue(struct server *s, const uint8_t *body, uint32_t len)
{
	const char *secret = login_secret(s);
	struct pool *p = s->pool;
	char msg[SCRAM_MSG_MAX];
	size_t n;
	bool ok = false;
	if (s->scram == NULL) {
		login_fail(s, "unexpected SASL continue message");
		return;
	}
	if (secret && auth_secret_kind(secret) == SECRET_PLAIN)
		ok = scram_client_final(s->scram, (const char *)body + 4, len - 4, secret, NULL,
					NULL, msg, sizeof(msg), &n);
	else if (p->have_scram_keys)
		ok = scram_client_final(s->scram, (const char *)body + 4, len - 4, NULL,
					&p->scram_keys, p->scram_client_key, msg, sizeof(msg), &n);
	else {
		login_fail(
			s,
			"server asked for SCRAM but no plain password or SCRAM keys are available");
		return;
	}
	if (!ok) {
		login_fail(s, "SCRAM exchange with server failed");
		return;
	}
	proto_build_sasl_response(conn_out_buf(&s->conn), msg, n);
	if (!send_out(s))
		server_close(s, "could not send SASL message");
}

static void auth_request(struct server *s, const uint8_t *body, uint32_t len)
{
	struct proto_reader r;
	proto_reader_init(&r, body, len);
	uint32_t code = proto_get_u32(&r);
	if (r.bad) {
		login_fail(s, "malformed authentication request");
		return;
	}
	switch (code) {
	case 0:
		return;
	case 3:
		answer_cleartext(s);
		return;
	case 5:
		answer_md5(s, body, len);
		return;
	case 10:
		answer_sasl(s, body, len);
		return;
	case 11:
		answer_sasl_continue(s, body, len);
		return;
	case 12:
		if (s->scram == NULL ||
		    !scram_client_verify(s->scram, (const char *)body + 4, len - 4))
			login_fail(s, "server's SCRAM signature is invalid");
		return;
	default: {
		char msg[128];
		snprintf(msg, sizeof(msg), "server requested unsupported authentication method %u",
			 code);
		login_fail(s, msg);
	}
	}
}

static void remember_param(struct server *s, const uint8_t *body, uint32_t len)
{
	const char *key, *value;
	if (!proto_parse_param_status(body, len, &key, &value))
		return;
	s->login_params = xrealloc(s->login_params,
				   (size_t)(s->n_login_params + 1) * sizeof(*s->login_params));
	s->login_params[s->n_login_params].key = xstrdup(key);
	s->login_params[s->n_login_params].value = xstrdup(value);
	s->n_login_params++;
	server_param_status(s, body, len, false);
}

static void server_error(struct server *s, const uint8_t *body, uint32_t len)
{
	struct proto_error_fields f;
	if (!proto_parse_error(body, len, &f) || f.message == NULL) {
		login_fail(s, "malformed error from server");
		return;
	}
	log_at(LOG_WARNING, server_log_ctx(s, "server_login_failed", f.sqlstate),
	       "server login failed: %s %s", f.sqlstate ? f.sqlstate : "", f.message);
	pool_login_failed(s->pool, f.sqlstate ? f.sqlstate : "08P01", f.message);
	server_close(s, "login failed");
}

void serverlogin_message(struct server *s, uint8_t type, const uint8_t *body, uint32_t len)
{
	switch (type) {
	case 'R':
		auth_request(s, body, len);
		return;
	case 'S':
		remember_param(s, body, len);
		return;
	case 'K': {
		struct proto_reader r;
		proto_reader_init(&r, body, len);
		s->be_pid = proto_get_u32(&r);
		s->be_key = proto_get_u32(&r);
		return;
	}
	case 'E':
		server_error(s, body, len);
		return;
	case 'N':
	case 'v':
		return;
	case 'Z':
		s->relay.tx_status = len ? (char)body[0] : 'I';
		if (s->scram) {
			explicit_bzero(s->scram, sizeof(*s->scram));
			free(s->scram);
			s->scram = NULL;
		}
		server_login_done(s);
		return;
	default:
		login_fail(s, "unexpected message from server during login");
	}
}
