/*
 * tls: every OpenSSL call of the transport. Two contexts built from the
 * config (one to accept clients, one to connect to PostgreSQL) and the TLS
 * transport behind struct conn_ops: a conn starts plain and switches to TLS
 * after the SSLRequest exchange (or at once for a direct TLS client), then
 * conn_recv/conn_send/conn_forward work unchanged on top of it.
 *
 * Writes use partial-write mode, one record of at most TLS_RECORD_MAX bytes
 * per SSL_write. When the socket is full OpenSSL keeps the record it has
 * encrypted and must be handed the same bytes again; the transport copies
 * them (the "stash"), counts them as sent and writes them before anything
 * else (CONN_WAIT_STASHED), so callers never have to repeat a write.
 */
#ifndef SLUICE_TLS_H
#define SLUICE_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/config.h"
#include "sluice/conn.h"

/* Largest plaintext of one TLS record. */
#define TLS_RECORD_MAX 16384

/* Longest tls_describe() text. */
#define TLS_DESCRIBE_LEN 96

struct tls_ctx;

/*
 * Build the contexts the config asks for: *accept for clients (NULL when
 * client_tls_sslmode is disable), *connect for servers (NULL when
 * server_tls_sslmode is disable). Files are read now. False, with
 * "key: file: reason" in err and both outputs NULL, when a file cannot be
 * used, a key is missing for the mode (a certificate and key to offer TLS to
 * clients, a CA file to verify them) or a value is not understood.
 */
bool tls_ctx_load(const struct config *cfg, struct tls_ctx **accept, struct tls_ctx **connect,
		  char *err, size_t errlen) __attribute__((warn_unused_result));

/* Drop a context (NULL is allowed). Connections made with it keep working. */
void tls_ctx_free(struct tls_ctx *ctx);

/*
 * Switch conn `c` (connected, plain so far, nothing buffered for it) to TLS
 * as the server side: `direct` when the client began with a ClientHello
 * instead of an SSLRequest, which then must negotiate ALPN "postgresql".
 * False only when OpenSSL cannot make the session.
 */
bool tls_accept_start(struct conn *c, struct tls_ctx *ctx, bool direct)
	__attribute__((warn_unused_result));

/*
 * Switch `c` to TLS as the client side towards PostgreSQL at `host` (the name
 * or address of the [databases] entry: SNI, and the name checked under
 * verify-full).
 */
bool tls_connect_start(struct conn *c, struct tls_ctx *ctx, const char *host)
	__attribute__((warn_unused_result));

/*
 * Drive the handshake. CONN_IO_OK: done (the conn reads, not writes, after
 * it). CONN_IO_AGAIN: the conn now waits for the direction the handshake
 * needs (its reading/writing flags are set here; the owner's read and write
 * handlers both call this again). CONN_IO_ERROR: failed; tls_strerror says why.
 */
enum conn_io tls_handshake(struct conn *c);

/* Why the last TLS operation on c failed, or NULL when none did. */
const char *tls_strerror(const struct conn *c);

/* "TLSv1.3/TLS_AES_256_GCM_SHA384/ECDH=X25519" (PgBouncer's tls column), "" for plain. */
void tls_describe(const struct conn *c, char *buf, size_t len);

/* "TLSv1.3" and "TLS_AES_256_GCM_SHA384" (pg_stat_ssl's version and cipher), NULL for plain. */
const char *tls_version(const struct conn *c);
const char *tls_cipher(const struct conn *c);

/*
 * The common name of the peer's certificate when it sent one and it was
 * verified against the CA file; false otherwise (no certificate, not
 * verified, no CN, a CN with a NUL byte or longer than len - 1).
 */
bool tls_peer_cn(const struct conn *c, char *out, size_t len);

/*
 * tls-server-end-point channel binding data (RFC 5929): the hash of sluice's
 * own certificate on an accepted connection, SHA-256 when the certificate is
 * signed with MD5 or SHA-1, else its signature hash. False when there is no
 * certificate or OpenSSL fails. out must hold EVP_MAX_MD_SIZE (64) bytes.
 */
bool tls_server_end_point(const struct conn *c, uint8_t *out, size_t *len);

/* True when bytes of a TLS ClientHello begin the stream: a direct TLS client. */
static inline bool tls_looks_like_hello(const uint8_t *p, size_t n)
{
	return n >= 1 && p[0] == 0x16; /* TLS record type handshake; no start-up length begins so */
}

#endif
