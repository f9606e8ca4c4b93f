/*
 * scram: SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL uses it, both
 * sides: verifying a client against a stored secret, and logging in to a
 * server with a password or with keys learned from the client. Pure: no I/O,
 * nonces come from OpenSSL's RAND_bytes. As a server, SCRAM-SHA-256-PLUS
 * with tls-server-end-point channel binding (RFC 5929) when the caller gives
 * the binding data; as a client, no channel binding (gs2 header "n,,").
 */
#ifndef SLUICE_SCRAM_H
#define SLUICE_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCRAM_KEY_LEN   32
#define SCRAM_SALT_MAX  64
#define SCRAM_NONCE_MAX 128
#define SCRAM_MSG_MAX   512
#define SCRAM_CBIND_MAX 64 /* largest tls-server-end-point hash (SHA-512) */

/* A stored secret: "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>" (base64 parts). */
struct scram_secret {
	int iterations;
	uint8_t salt[SCRAM_SALT_MAX];
	size_t salt_len;
	uint8_t stored_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
};

/*
 * Parse a stored secret (NUL-terminated; NULL allowed); false when `s` is not
 * a well-formed SCRAM-SHA-256 secret (iterations > 0, salt 1..SCRAM_SALT_MAX
 * bytes, 32-byte keys). *out is only written on success.
 */
bool scram_parse_secret(const char *s, struct scram_secret *out)
	__attribute__((warn_unused_result));

/*
 * Derive a secret from a cleartext password: salt_len 1..SCRAM_SALT_MAX,
 * iterations > 0. SASLprep is not implemented: the password's bytes are used
 * as they are. That is what PostgreSQL does for every ASCII password (SASLprep
 * leaves ASCII alone, or rejects control characters and PostgreSQL then falls
 * back to the raw bytes); a non-ASCII password that NFKC normalisation or
 * SASLprep's mappings would change gives a different secret than PostgreSQL's.
 */
bool scram_secret_from_password(const char *password, const uint8_t *salt, size_t salt_len,
				int iterations, struct scram_secret *out)
	__attribute__((warn_unused_result));

/*
 * Write `secret` in PostgreSQL's text form (as scram_parse_secret reads it)
 * into out, NUL-terminated. False when it does not fit in outcap.
 */
bool scram_secret_format(const struct scram_secret *secret, char *out, size_t outcap)
	__attribute__((warn_unused_result));

/* --- server side: sluice verifies a client --- */
struct scram_server {
	int state; /* private */
	struct scram_secret secret;
	char client_nonce[SCRAM_NONCE_MAX + 1];
	char server_nonce[SCRAM_NONCE_MAX + 1]; /* client nonce + ours */
	char client_first_bare[SCRAM_MSG_MAX];
	char server_first[SCRAM_MSG_MAX];
	uint8_t client_key[SCRAM_KEY_LEN]; /* recovered from the proof after success */
	char cbind_flag;                   /* private: the client's gs2 flag, 'n', 'y' or 'p' */
	bool cbind_offered;                /* private: see scram_server_set_binding */
	bool cbind_selected;
	uint8_t cbind_data[SCRAM_CBIND_MAX];
	size_t cbind_len;
};

/*
 * Start an exchange against `secret` (copied). Returns false only on bad input.
 */
bool scram_server_init(struct scram_server *s, const struct scram_secret *secret)
	__attribute__((warn_unused_result));

/*
 * Channel binding on a TLS connection, between init and scram_server_first:
 * `data` is the tls-server-end-point hash of sluice's certificate (len 1..
 * SCRAM_CBIND_MAX), and SCRAM-SHA-256-PLUS was offered. `selected`: the
 * client chose SCRAM-SHA-256-PLUS, so its gs2 header must be
 * "p=tls-server-end-point,," and its "c=" must carry the hash. Not selected:
 * "n,," as usual, and "y,," (the client could bind but thinks we cannot) is
 * a downgrade and fails, as in PostgreSQL. False on bad arguments.
 */
bool scram_server_set_binding(struct scram_server *s, const uint8_t *data, size_t len,
			      bool selected) __attribute__((warn_unused_result));

/*
 * Tests only: use `nonce` (printable ASCII without ',') as the server's part of
 * the nonce instead of 18 random bytes. Call between init and scram_server_first.
 */
bool scram_server_set_nonce(struct scram_server *s, const char *nonce)
	__attribute__((warn_unused_result));

/*
 * Handle the client-first-message (the SASLInitialResponse data, `len` bytes,
 * not NUL-terminated) and write the server-first-message into out (NUL-terminated,
 * *outlen excludes the NUL; outlen may be NULL). False on malformed input
 * (including "p=" without SCRAM-SHA-256-PLUS, an authzid, or a client nonce longer than
 * SCRAM_NONCE_MAX minus our 24 characters, or a gs2 header that does not
 * match the channel binding set up) or when out is too small; after
 * false the exchange is over (every later call on `s` returns false).
 */
bool scram_server_first(struct scram_server *s, const char *msg, size_t len, char *out,
			size_t outcap, size_t *outlen) __attribute__((warn_unused_result));

/*
 * Handle the client-final-message: verify nonce and proof. On success writes the
 * server-final-message ("v=...") into out, stores the ClientKey in s->client_key
 * and returns true. False on a malformed message, a wrong proof, a call out of
 * order, or when out is too small. Either way the exchange is over: a second
 * call returns false.
 */
bool scram_server_final(struct scram_server *s, const char *msg, size_t len, char *out,
			size_t outcap, size_t *outlen) __attribute__((warn_unused_result));

/* --- client side: sluice logs in to PostgreSQL --- */
struct scram_client {
	int state; /* private */
	char client_nonce[SCRAM_NONCE_MAX + 1];
	char client_first_bare[SCRAM_MSG_MAX];
	uint8_t server_key[SCRAM_KEY_LEN];         /* expected server signature key */
	char auth_message_tail[SCRAM_MSG_MAX * 2]; /* private, unused */
	uint8_t server_signature[SCRAM_KEY_LEN];
};

/*
 * Build the client-first-message ("n,,n=,r=<nonce>") into out. `nonce` may be
 * NULL (18 random bytes in base64, as libpq) or a fixed string for tests
 * (printable ASCII without ',', at most SCRAM_NONCE_MAX). The user name is
 * empty as libpq sends it: PostgreSQL takes it from the startup packet.
 * outlen may be NULL. False on a bad nonce or when out is too small.
 */
bool scram_client_first(struct scram_client *c, const char *nonce, char *out, size_t outcap,
			size_t *outlen) __attribute__((warn_unused_result));

/*
 * scram_client_first with a user name in "n=" (escaped as RFC 5802 says:
 * ',' as "=2C", '=' as "=3D"), for servers other than PostgreSQL and for
 * RFC test vectors. `user` must not be NULL.
 */
bool scram_client_first_user(struct scram_client *c, const char *user, const char *nonce, char *out,
			     size_t outcap, size_t *outlen) __attribute__((warn_unused_result));

/*
 * Given the server-first-message (`len` bytes, not NUL-terminated), build the
 * client-final-message with a proof into out (NUL-terminated; outlen may be NULL).
 * Exactly one credential: `password` (cleartext; keys and client_key NULL), or
 * `keys` = a secret whose salt and iterations must equal the server's and whose
 * ClientKey is known (client_key non-NULL, learned from scram_server_final:
 * pass-through login; SHA-256(client_key) must equal keys->stored_key).
 * False on a malformed message, a nonce that does not extend ours, a salt or
 * iteration mismatch with `keys`, a bad credential combination, or too small out.
 * The password path runs PBKDF2 with the server's iteration count (no cap):
 * about 1.5 ms per 4096 iterations, on the caller's thread. Like every scram_*
 * step, it is single-use: after false the exchange is over.
 */
bool scram_client_final(struct scram_client *c, const char *server_first, size_t len,
			const char *password, const struct scram_secret *keys,
			const uint8_t *client_key, char *out, size_t outcap, size_t *outlen)
	__attribute__((warn_unused_result));

/*
 * Verify the server-final-message ("v=...", `len` bytes); false on mismatch,
 * "e=..." errors, trailing data, or when scram_client_final has not succeeded.
 */
bool scram_client_verify(struct scram_client *c, const char *server_final, size_t len)
	__attribute__((warn_unused_result));

#endif
