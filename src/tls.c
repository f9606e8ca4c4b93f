/*
 * tls: OpenSSL contexts from the config and the TLS transport for conn.
 * Contract in tls.h. Every OpenSSL call of the transport is here; a failed
 * call leaves the thread's error queue empty (what it said is kept in the
 * session's err text), so SSL_get_error always reads the right error.
 */
#include "sluice/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sluice/util.h"

/* ALPN protocol list (length-prefixed) PostgreSQL 17 defines. */
static const unsigned char alpn_postgresql[] = "\x0apostgresql";
#define ALPN_LEN (sizeof(alpn_postgresql) - 1)

struct tls_ctx {
	SSL_CTX *ssl;
	enum tls_sslmode mode;
};

struct tls_conn {
	SSL *ssl;
	bool direct;        /* accepted without SSLRequest: ALPN required */
	bool failed;        /* no close_notify after an error */
	uint32_t stash_len; /* bytes of `stash` OpenSSL must be handed again */
	uint8_t *stash;     /* TLS_RECORD_MAX bytes, allocated at first need */
	char err[192];
};

/* ------------------------------------------------------------------------ */
/* Errors                                                                     */
/* ------------------------------------------------------------------------ */

/* OpenSSL's reason for the last failure (else errno's, else `fallback`); empties the queue. */
static const char *ssl_reason(const char *fallback)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e ? ERR_reason_error_string(e) : NULL; /* static text */
	if (reason == NULL)
		reason = errno ? strerror(errno) : fallback;
	ERR_clear_error();
	return reason;
}

/* Record why a session failed: a certificate that did not verify says which check. */
static void session_error(struct tls_conn *t, const char *what)
{
	long v = SSL_get_verify_result(t->ssl);
	unsigned long e = ERR_peek_last_error();
	t->failed = true;
	if (v != X509_V_OK && ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
		snprintf(t->err, sizeof(t->err), "%s: certificate verify failed: %s", what,
			 X509_verify_cert_error_string(v));
		ERR_clear_error();
		return;
	}
	snprintf(t->err, sizeof(t->err), "%s: %s", what, ssl_reason("connection closed"));
}

/* ------------------------------------------------------------------------ */
/* Contexts                                                                   */
/* ------------------------------------------------------------------------ */

static bool fail(char *err, size_t errlen, const char *key, const char *value, const char *why)
{
	snprintf(err, errlen, "%s: %s: %s", key, value, why);
	ERR_clear_error();
	return false;
}

static bool ssl_fail(char *err, size_t errlen, const char *key, const char *value)
{
	return fail(err, errlen, key, value, ssl_reason("failed"));
}

static const struct {
	const char *word;
	unsigned bits; /* 1 << (minor version): tlsv1.0 = 1, ..., tlsv1.3 = 8 */
} protocol_words[] = {
	{ "tlsv1.0", 1 },     { "tlsv1", 1 },   { "tlsv1.1", 2 },
	{ "tlsv1.2", 4 },     { "tlsv1.3", 8 }, { "secure", 4 | 8 },
	{ "default", 4 | 8 }, { "all", 15 },    { "legacy", 15 },
};

/* PgBouncer's protocol list: words separated by commas, colons or blanks. */
static bool parse_protocols(const char *value, unsigned *bits)
{
	char *copy = xstrdup(value), *save = NULL;
	bool ok = true;
	*bits = 0;
	for (char *w = strtok_r(copy, ",: \t", &save); w && ok;
	     w = strtok_r(NULL, ",: \t", &save)) {
		ok = false;
		for (size_t i = 0; i < sizeof(protocol_words) / sizeof(protocol_words[0]); i++)
			if (strcasecmp(w, protocol_words[i].word) == 0) {
				*bits |= protocol_words[i].bits;
				ok = true;
			}
	}
	free(copy);
	return ok && *bits != 0;
}

static bool set_protocols(SSL_CTX *ssl, const char *key, const char *value, char *err,
			  size_t errlen)
{
	static const int versions[4] = { TLS1_VERSION, TLS1_1_VERSION, TLS1_2_VERSION,
					 TLS1_3_VERSION };
	static const long no_opts[4] = { SSL_OP_NO_TLSv1, SSL_OP_NO_TLSv1_1, SSL_OP_NO_TLSv1_2,
					 SSL_OP_NO_TLSv1_3 };
	unsigned bits;
	if (!parse_protocols(value, &bits))
		return fail(err, errlen, key, value,
			    "expected tlsv1.0, tlsv1.1, tlsv1.2, tlsv1.3, secure, all or legacy");
	int lo = 0, hi = 3;
	while (!(bits & (1u << lo)))
		lo++;
	while (!(bits & (1u << hi)))
		hi--;
	if (!SSL_CTX_set_min_proto_version(ssl, versions[lo]) ||
	    !SSL_CTX_set_max_proto_version(ssl, versions[hi]))
		return ssl_fail(err, errlen, key, value);
	for (int v = lo; v <= hi; v++) /* a gap in the list */
		if (!(bits & (1u << v)))
			SSL_CTX_set_options(ssl, (uint64_t)no_opts[v]);
	return true;
}

/* PgBouncer's shortcuts mean OpenSSL's defaults; anything else is an OpenSSL cipher list. */
static bool set_ciphers(SSL_CTX *ssl, const char *key, const char *value, const char *key13,
			const char *value13, char *err, size_t errlen)
{
	static const char *const defaults[] = { "default", "secure", "fast", "normal" };
	bool is_default = false;
	for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
		is_default |= strcasecmp(value, defaults[i]) == 0;
	const char *list = strcasecmp(value, "all") == 0 ? "ALL:!aNULL:!eNULL" : value;
	if (!is_default && !SSL_CTX_set_cipher_list(ssl, list))
		return ssl_fail(err, errlen, key, value);
	if (value13 && value13[0] && !SSL_CTX_set_ciphersuites(ssl, value13))
		return ssl_fail(err, errlen, key13, value13);
	return true;
}

static bool set_key_exchange(SSL_CTX *ssl, const struct config *cfg, char *err, size_t errlen)
{
	const char *curve = cfg->client_tls_ecdhcurve, *dh = cfg->client_tls_dheparams;
	if (strcasecmp(curve, "none") == 0)
		return fail(
			err, errlen, "client_tls_ecdhcurve", curve,
			"not supported: TLS 1.3 needs a key exchange group (auto or a curve name)");
	if (strcasecmp(curve, "auto") != 0 && !SSL_CTX_set1_groups_list(ssl, curve))
		return fail(err, errlen, "client_tls_ecdhcurve", curve, "unknown curve");
	if (strcasecmp(dh, "none") == 0)
		return true;
	if (strcasecmp(dh, "auto") != 0 && strcasecmp(dh, "legacy") != 0)
		return fail(err, errlen, "client_tls_dheparams", dh,
			    "expected none, auto or legacy");
	/* legacy (1024-bit) is below OpenSSL 3's security level: auto's sizes are used */
	SSL_CTX_set_dh_auto(ssl, 1);
	return true;
}

/* A file that cannot be opened says why in errno's words (OpenSSL would say "system lib"). */
static bool readable(const char *key, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return fail(err, errlen, key, path, strerror(errno));
	fclose(f);
	return true;
}

/* Certificate chain and key: both or neither. */
static bool set_identity(SSL_CTX *ssl, const char *cert_key, const char *cert, const char *key_key,
			 const char *key, char *err, size_t errlen)
{
	if (cert == NULL && key == NULL)
		return true;
	if (cert == NULL)
		return fail(err, errlen, key_key, key, "set without a certificate file");
	if (key == NULL)
		return fail(err, errlen, cert_key, cert, "set without a key file");
	if (!readable(cert_key, cert, err, errlen) || !readable(key_key, key, err, errlen))
		return false;
	if (SSL_CTX_use_certificate_chain_file(ssl, cert) != 1)
		return ssl_fail(err, errlen, cert_key, cert);
	if (SSL_CTX_use_PrivateKey_file(ssl, key, SSL_FILETYPE_PEM) != 1) {
		if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
			return fail(err, errlen, key_key, key, "does not match the certificate");
		return ssl_fail(err, errlen, key_key, key);
	}
	if (SSL_CTX_check_private_key(ssl) != 1)
		return fail(err, errlen, key_key, key, "does not match the certificate");
	return true;
}

/* ALPN on accepted connections: "postgresql" or nothing, as PostgreSQL 17. */
static int select_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned inlen, void *arg)
{
	unsigned char *sel;
	if (SSL_select_next_proto(&sel, outlen, alpn_postgresql, ALPN_LEN, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL; /* no_application_protocol */
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

/* What both sides share: modes, options, protocols. */
static SSL_CTX *new_ssl_ctx(const SSL_METHOD *method, const char *proto_key, const char *protos,
			    char *err, size_t errlen)
{
	SSL_CTX *ssl = SSL_CTX_new(method);
	if (ssl == NULL) {
		ssl_fail(err, errlen, "TLS", "context");
		return NULL;
	}
	SSL_CTX_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					 SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ssl, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_read_ahead(ssl, 1); /* one read per burst of records, not two per record */
	if (!set_protocols(ssl, proto_key, protos, err, errlen)) {
		SSL_CTX_free(ssl);
		return NULL;
	}
	return ssl;
}

static bool setup_accept(SSL_CTX *ssl, const struct config *cfg, char *err, size_t errlen)
{
	enum tls_sslmode mode = cfg->client_tls_sslmode;
	if (cfg->client_tls_cert_file == NULL || cfg->client_tls_key_file == NULL)
		return fail(err, errlen, "client_tls_sslmode", config_sslmode_str(mode),
			    "needs client_tls_cert_file and client_tls_key_file");
	if (mode >= SSLMODE_VERIFY_CA && cfg->client_tls_ca_file == NULL)
		return fail(err, errlen, "client_tls_sslmode", config_sslmode_str(mode),
			    "needs client_tls_ca_file to verify client certificates");
	if (!set_identity(ssl, "client_tls_cert_file", cfg->client_tls_cert_file,
			  "client_tls_key_file", cfg->client_tls_key_file, err, errlen) ||
	    !set_ciphers(ssl, "client_tls_ciphers", cfg->client_tls_ciphers, "client_tls13_ciphers",
			 cfg->client_tls13_ciphers, err, errlen) ||
	    !set_key_exchange(ssl, cfg, err, errlen))
		return false;
	SSL_CTX_set_options(ssl, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_num_tickets(ssl, 0);
	SSL_CTX_set_alpn_select_cb(ssl, select_alpn, NULL);
	if (cfg->client_tls_ca_file) {
		/* as PostgreSQL with ssl_ca_file: ask for a certificate, verify one that comes */
		const char *ca = cfg->client_tls_ca_file;
		if (!readable("client_tls_ca_file", ca, err, errlen))
			return false;
		STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
		if (names == NULL || SSL_CTX_load_verify_locations(ssl, ca, NULL) != 1) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			return ssl_fail(err, errlen, "client_tls_ca_file", ca);
		}
		SSL_CTX_set_client_CA_list(ssl, names);
		int verify = SSL_VERIFY_PEER;
		if (mode >= SSLMODE_VERIFY_CA)
			verify |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		SSL_CTX_set_verify(ssl, verify, NULL);
	}
	return true;
}

static bool setup_connect(SSL_CTX *ssl, const struct config *cfg, char *err, size_t errlen)
{
	if (!set_identity(ssl, "server_tls_cert_file", cfg->server_tls_cert_file,
			  "server_tls_key_file", cfg->server_tls_key_file, err, errlen) ||
	    !set_ciphers(ssl, "server_tls_ciphers", cfg->server_tls_ciphers, "server_tls13_ciphers",
			 cfg->server_tls13_ciphers, err, errlen))
		return false;
	if (SSL_CTX_set_alpn_protos(ssl, alpn_postgresql, ALPN_LEN) != 0)
		return ssl_fail(err, errlen, "TLS", "ALPN");
	if (cfg->server_tls_sslmode < SSLMODE_VERIFY_CA) {
		SSL_CTX_set_verify(ssl, SSL_VERIFY_NONE, NULL); /* libpq's prefer and require */
		return true;
	}
	const char *ca = cfg->server_tls_ca_file;
	if (ca && !readable("server_tls_ca_file", ca, err, errlen))
		return false;
	if (ca ? SSL_CTX_load_verify_locations(ssl, ca, NULL) != 1
	       : SSL_CTX_set_default_verify_paths(ssl) != 1)
		return ssl_fail(err, errlen, "server_tls_ca_file", ca ? ca : "(system default)");
	SSL_CTX_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	return true;
}

static struct tls_ctx *make_ctx(bool accept, const struct config *cfg, char *err, size_t errlen)
{
	SSL_CTX *ssl = accept ? new_ssl_ctx(TLS_server_method(), "client_tls_protocols",
					    cfg->client_tls_protocols, err, errlen)
			      : new_ssl_ctx(TLS_client_method(), "server_tls_protocols",
					    cfg->server_tls_protocols, err, errlen);
	if (ssl == NULL)
		return NULL;
	if (!(accept ? setup_accept(ssl, cfg, err, errlen)
		     : setup_connect(ssl, cfg, err, errlen))) {
		SSL_CTX_free(ssl);
		return NULL;
	}
	struct tls_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->ssl = ssl;
	ctx->mode = accept ? cfg->client_tls_sslmode : cfg->server_tls_sslmode;
	return ctx;
}

bool tls_ctx_load(const struct config *cfg, struct tls_ctx **accept, struct tls_ctx **connect,
		  char *err, size_t errlen)
{
	*accept = *connect = NULL;
	if (cfg->client_tls_sslmode != SSLMODE_DISABLE &&
	    (*accept = make_ctx(true, cfg, err, errlen)) == NULL)
		return false;
	if (cfg->server_tls_sslmode != SSLMODE_DISABLE &&
	    (*connect = make_ctx(false, cfg, err, errlen)) == NULL) {
		tls_ctx_free(*accept);
		*accept = NULL;
		return false;
	}
	return true;
}

void tls_ctx_free(struct tls_ctx *ctx)
{
	if (ctx == NULL)
		return;
	SSL_CTX_free(ctx->ssl); /* sessions made with it hold their own reference */
	free(ctx);
}

/* ------------------------------------------------------------------------ */
/* The transport                                                              */
/* ------------------------------------------------------------------------ */

/* The wait bits after an SSL call wanted readiness, for the direction it served. */
static void set_want(struct conn *c, int ssl_error, bool sending)
{
	if (sending) {
		c->wait &= (uint8_t)~CONN_WAIT_SEND_READ;
		if (ssl_error == SSL_ERROR_WANT_READ)
			c->wait |= CONN_WAIT_SEND_READ;
	} else {
		c->wait &= (uint8_t)~CONN_WAIT_RECV_WRITE;
		if (ssl_error == SSL_ERROR_WANT_WRITE)
			c->wait |= CONN_WAIT_RECV_WRITE;
	}
}

static ssize_t tls_recv(struct conn *c, void *buf, size_t cap)
{
	struct tls_conn *t = c->tls;
	size_t got = 0;
	c->wait &= (uint8_t) ~(CONN_WAIT_PENDING | CONN_WAIT_RECV_WRITE);
	if (cap > INT32_MAX)
		cap = INT32_MAX;
	while (got < cap) {
		int n = SSL_read(t->ssl, (uint8_t *)buf + got, (int)(cap - got));
		if (n > 0) {
			got += (size_t)n;
			if (!SSL_has_pending(t->ssl))
				break; /* the next read would be a syscall that finds nothing */
			continue;
		}
		int e = SSL_get_error(t->ssl, n);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			set_want(c, e, false);
			break;
		}
		if (e == SSL_ERROR_ZERO_RETURN) /* close_notify, or EOF (IGNORE_UNEXPECTED_EOF) */
			return got > 0 ? (ssize_t)got : 0;
		session_error(t, "TLS read failed");
		errno = EPROTO;
		return got > 0 ? (ssize_t)got : -1;
	}
	if (got == cap && SSL_has_pending(t->ssl))
		c->wait |= CONN_WAIT_PENDING; /* the buffer is full; the rest is OpenSSL's */
	if (got == 0) {
		errno = EAGAIN;
		return -1;
	}
	return (ssize_t)got;
}

/* Write the stashed record. CONN_IO_OK when it is out. */
static int tls_flush(struct conn *c)
{
	struct tls_conn *t = c->tls;
	if (t->stash_len == 0)
		return CONN_IO_OK;
	int n = SSL_write(t->ssl, t->stash, (int)t->stash_len);
	if (n > 0) {
		t->stash_len = 0;
		c->wait &= (uint8_t) ~(CONN_WAIT_STASHED | CONN_WAIT_SEND_READ);
		return CONN_IO_OK;
	}
	int e = SSL_get_error(t->ssl, n);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		set_want(c, e, true);
		return CONN_IO_AGAIN;
	}
	session_error(t, "TLS write failed");
	errno = EPROTO;
	return CONN_IO_ERROR;
}

/* OpenSSL holds a record made of these bytes: keep them to hand over again. */
static void stash(struct conn *c, const uint8_t *p, size_t len, int ssl_error)
{
	struct tls_conn *t = c->tls;
	if (t->stash == NULL)
		t->stash = xmalloc(TLS_RECORD_MAX);
	memcpy(t->stash, p, len);
	t->stash_len = (uint32_t)len;
	c->wait |= CONN_WAIT_STASHED;
	set_want(c, ssl_error, true);
}

static ssize_t tls_send(struct conn *c, struct iovec *iov, int n_iov)
{
	struct tls_conn *t = c->tls;
	if (t->stash_len) {
		int r = tls_flush(c);
		if (r != CONN_IO_OK) {
			if (r == CONN_IO_AGAIN)
				errno = EAGAIN;
			return -1;
		}
	}
	size_t total = 0;
	for (int i = 0; i < n_iov; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t len = iov[i].iov_len, off = 0;
		while (off < len) {
			size_t chunk = len - off < TLS_RECORD_MAX ? len - off : TLS_RECORD_MAX;
			int n = SSL_write(t->ssl, p + off, (int)chunk);
			if (n > 0) {
				off += (size_t)n;
				continue;
			}
			int e = SSL_get_error(t->ssl, n);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
				stash(c, p + off, chunk, e);
				return (ssize_t)(total + off + chunk);
			}
			session_error(t, "TLS write failed");
			errno = EPROTO;
			return -1;
		}
		total += len;
	}
	return (ssize_t)total;
}

static void tls_shutdown(struct conn *c)
{
	struct tls_conn *t = c->tls;
	if (t == NULL)
		return;
	/* close_notify only after a clean session with nothing half written */
	if (!t->failed && t->stash_len == 0 && SSL_is_init_finished(t->ssl))
		(void)SSL_shutdown(t->ssl);
	ERR_clear_error();
	SSL_free(t->ssl);
	free(t->stash);
	free(t);
	c->tls = NULL;
}

static const struct conn_ops tls_ops = {
	.name = "tls",
	.recv = tls_recv,
	.send = tls_send,
	.flush = tls_flush,
	.shutdown = tls_shutdown,
};

/* A session on c's socket, not yet attached to c. */
static SSL *new_session(struct conn *c, struct tls_ctx *ctx)
{
	SSL *ssl = SSL_new(ctx->ssl);
	if (ssl == NULL || SSL_set_fd(ssl, c->fd) != 1) {
		SSL_free(ssl);
		ERR_clear_error();
		return NULL;
	}
	return ssl;
}

/* From now on c's bytes go through the session. */
static struct tls_conn *attach(struct conn *c, SSL *ssl)
{
	struct tls_conn *t = xcalloc(1, sizeof(*t));
	t->ssl = ssl;
	c->tls = t;
	c->ops = &tls_ops;
	return t;
}

bool tls_accept_start(struct conn *c, struct tls_ctx *ctx, bool direct)
{
	SSL *ssl = new_session(c, ctx);
	if (ssl == NULL)
		return false;
	SSL_set_accept_state(ssl);
	attach(c, ssl)->direct = direct;
	return true;
}

static bool is_ip_literal(const char *host)
{
	unsigned char addr[16];
	return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

bool tls_connect_start(struct conn *c, struct tls_ctx *ctx, const char *host)
{
	SSL *ssl = new_session(c, ctx);
	if (ssl == NULL)
		return false;
	bool ip = is_ip_literal(host);
	bool ok = ip || SSL_set_tlsext_host_name(ssl, host) == 1;
	if (ok && ctx->mode == SSLMODE_VERIFY_FULL)
		ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1
			: SSL_set1_host(ssl, host) == 1;
	if (!ok) {
		SSL_free(ssl);
		ERR_clear_error();
		return false;
	}
	SSL_set_connect_state(ssl);
	attach(c, ssl);
	return true;
}

enum conn_io tls_handshake(struct conn *c)
{
	struct tls_conn *t = c->tls;
	int n = SSL_do_handshake(t->ssl);
	if (n == 1) {
		const unsigned char *alpn;
		unsigned alpn_len;
		SSL_get0_alpn_selected(t->ssl, &alpn, &alpn_len);
		if (t->direct && alpn_len == 0) {
			t->failed = true;
			snprintf(t->err, sizeof(t->err),
				 "direct TLS connection without ALPN protocol \"postgresql\"");
			return CONN_IO_ERROR;
		}
		conn_write_stop(c);
		conn_read_start(c);
		return CONN_IO_OK;
	}
	int e = SSL_get_error(t->ssl, n);
	if (e == SSL_ERROR_WANT_READ) {
		conn_write_stop(c);
		conn_read_start(c);
		return CONN_IO_AGAIN;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		conn_read_stop(c);
		conn_write_start(c);
		return CONN_IO_AGAIN;
	}
	session_error(t, "TLS handshake failed");
	return CONN_IO_ERROR;
}

const char *tls_strerror(const struct conn *c)
{
	return c->tls && c->tls->err[0] ? c->tls->err : NULL;
}

static const char *group_name(SSL *ssl)
{
	int nid = SSL_get_negotiated_group(ssl);
	const char *name = nid ? OBJ_nid2sn(nid) : NULL; /* "X25519", "prime256v1" */
	if (name == NULL && nid)
		name = SSL_group_to_name(ssl, nid);
	return name ? name : "none";
}

void tls_describe(const struct conn *c, char *buf, size_t len)
{
	if (len == 0)
		return;
	buf[0] = '\0';
	if (c->tls == NULL || !SSL_is_init_finished(c->tls->ssl))
		return;
	SSL *ssl = c->tls->ssl;
	snprintf(buf, len, "%s/%s/ECDH=%s", SSL_get_version(ssl), SSL_get_cipher_name(ssl),
		 group_name(ssl));
}

const char *tls_version(const struct conn *c)
{
	return c->tls ? SSL_get_version(c->tls->ssl) : NULL;
}

const char *tls_cipher(const struct conn *c)
{
	return c->tls ? SSL_get_cipher_name(c->tls->ssl) : NULL;
}

bool tls_peer_cn(const struct conn *c, char *out, size_t len)
{
	if (c->tls == NULL)
		return false;
	SSL *ssl = c->tls->ssl;
	X509 *peer = SSL_get0_peer_certificate(ssl);
	if (peer == NULL || SSL_get_verify_result(ssl) != X509_V_OK ||
	    !(SSL_get_verify_mode(ssl) & SSL_VERIFY_PEER))
		return false;
	X509_NAME *subject = X509_get_subject_name(peer);
	int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
	if (i < 0)
		return false;
	unsigned char *utf8 = NULL;
	int n = ASN1_STRING_to_UTF8(&utf8,
				    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, i)));
	bool ok = n > 0 && (size_t)n < len && memchr(utf8, 0, (size_t)n) == NULL;
	if (ok) {
		memcpy(out, utf8, (size_t)n);
		out[n] = '\0';
	}
	OPENSSL_free(utf8);
	ERR_clear_error();
	return ok;
}

bool tls_server_end_point(const struct conn *c, uint8_t *out, size_t *len)
{
	if (c->tls == NULL)
		return false;
	X509 *cert = SSL_get_certificate(c->tls->ssl);
	int md_nid = NID_undef;
	if (cert == NULL || !X509_get_signature_info(cert, &md_nid, NULL, NULL, NULL)) {
		ERR_clear_error();
		return false;
	}
	const EVP_MD *md = md_nid == NID_md5 || md_nid == NID_sha1 ? EVP_sha256()
								   : EVP_get_digestbynid(md_nid);
	unsigned n = 0;
	bool ok = md != NULL && X509_digest(cert, md, out, &n) == 1;
	ERR_clear_error();
	*len = n;
	return ok;
}
