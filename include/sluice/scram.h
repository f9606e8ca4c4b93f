/*
 * scram: SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL uses it, both
 * sides: verifying a client against a stored secret, and logging in to a
 * server with a password or with keys learned from the client. Pure: no I/O,
 * nonces come from OpenSSL's RAND_bytes. Channel binding is not offered
 * (gs2 header "n,,"; "y,," is accepted from clients as PostgreSQL does).
 */
#ifndef SLUICE_SCRAM_H
#define SLUICE_SCRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCRAM_KEY_LEN 32
#define SCRAM_SALT_MAX 64
#define SCRAM_NONCE_MAX 128
#define SCRAM_MSG_MAX 512

/* A stored secret: "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>" (base64 parts). */
struct scram_secret {
	int iterations;
	uint8_t salt[SCRAM_SALT_MAX];
	size_t salt_len;
	uint8_t stored_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
};

/* Parse a stored secret; false when `s` is not a well-formed SCRAM-SHA-256 secret. */
bool scram_parse_secret(const char *s, struct scram_secret *out) __attribute__((warn_unused_result));

/* Derive a secret from a cleartext password (SASLprep is applied as PostgreSQL does for ASCII; non-ASCII passwords are used as bytes). */
bool scram_secret_from_password(const char *password, const uint8_t *salt, size_t salt_len,
				int iterations, struct scram_secret *out) __attribute__((warn_unused_result));

/* --- server side: sluice verifies a client --- */
struct scram_server {
	int state; /* private */
	struct scram_secret secret;
	char client_nonce[SCRAM_NONCE_MAX + 1];
	char server_nonce[SCRAM_NONCE_MAX + 1]; /* client nonce + ours */
	char client_first_bare[SCRAM_MSG_MAX];
	char server_first[SCRAM_MSG_MAX];
	uint8_t client_key[SCRAM_KEY_LEN]; /* recovered from the proof after success */
};

/*
 * Start an exchange against `secret` (copied). Returns false only on bad input.
 */
bool scram_server_init(struct scram_server *s, const struct scram_secret *secret)
	__attribute__((warn_unused_result));

/*
 * Handle the client-first-message (the SASLInitialResponse data, `len` bytes,
 * not NUL-terminated) and write the server-first-message into out (NUL-terminated,
 * *outlen excludes the NUL). False on malformed input.
 */
bool scram_server_first(struct scram_server *s, const char *msg, size_t len, char *out,
			size_t outcap, size_t *outlen) __attribute__((warn_unused_result));

/*
 * Handle the client-final-message: verify nonce and proof. On success writes the
 * server-final-message ("v=...") into out, stores the ClientKey in s->client_key
 * and returns true. False on a malformed message or a wrong proof.
 */
bool scram_server_final(struct scram_server *s, const char *msg, size_t len, char *out,
			size_t outcap, size_t *outlen) __attribute__((warn_unused_result));

/* --- client side: sluice logs in to PostgreSQL --- */
struct scram_client {
	int state; /* private */
	char client_nonce[SCRAM_NONCE_MAX + 1];
	char client_first_bare[SCRAM_MSG_MAX];
	uint8_t server_key[SCRAM_KEY_LEN]; /* expected server signature key */
	char auth_message_tail[SCRAM_MSG_MAX * 2]; /* private */
	uint8_t server_signature[SCRAM_KEY_LEN];
};

/*
 * Build the client-first-message ("n,,n=,r=<nonce>") into out. `nonce` may be
 * NULL (a random one is made) or a fixed string for tests.
 */
bool scram_client_first(struct scram_client *c, const char *nonce, char *out, size_t outcap,
			size_t *outlen) __attribute__((warn_unused_result));

/*
 * Given the server-first-message, build the client-final-message with a proof.
 * Exactly one credential: `password` (cleartext), or `keys` = a secret whose
 * salt and iterations must equal the server's and whose ClientKey is known
 * (client_key non-NULL, learned from scram_server_final: pass-through login).
 */
bool scram_client_final(struct scram_client *c, const char *server_first, size_t len,
			const char *password, const struct scram_secret *keys,
			const uint8_t *client_key, char *out, size_t outcap, size_t *outlen)
	__attribute__((warn_unused_result));

/* Verify the server-final-message ("v=..."); false on mismatch or "e=..." errors. */
bool scram_client_verify(struct scram_client *c, const char *server_final, size_t len)
	__attribute__((warn_unused_result));

#endif
