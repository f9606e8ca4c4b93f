/*
 * auth: password secrets and the auth_file (PgBouncer's userlist.txt format:
 * one `"user" "secret"` per line, `""` escapes a quote, lines starting with
 * ';' or '#' are comments). Secrets are plain text, "md5" + 32 hex digits,
 * or a SCRAM-SHA-256 secret. Also the mock secrets that let unknown users
 * fail exactly as a wrong password does. Pure helpers; no sockets.
 */
#ifndef SLUICE_AUTH_H
#define SLUICE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct scram_secret;

/* Iterations and salt length of the SCRAM secrets sluice makes: PostgreSQL's defaults. */
#define AUTH_SCRAM_ITERATIONS 4096
#define AUTH_SCRAM_SALT_LEN   16

enum secret_kind {
	SECRET_PLAIN = 0,
	SECRET_MD5,
	SECRET_SCRAM,
};

/*
 * Classify a stored secret: "md5" + 32 lowercase hex digits is MD5, a
 * "SCRAM-SHA-256$..." that scram_parse_secret accepts is SCRAM, anything
 * else (NULL too) is a cleartext password.
 */
enum secret_kind auth_secret_kind(const char *secret);

/*
 * out = "md5" + hex(md5(password + user)), NUL-terminated (36 bytes); both
 * arguments non-NULL. out is "" if OpenSSL cannot do MD5 (FIPS-only provider).
 */
void auth_md5_secret(const char *user, const char *password, char out[36]);

/*
 * The response to AuthenticationMD5Password: "md5" + hex(md5(hex_part + salt)).
 * `secret` is either a cleartext password (then the md5 secret is derived with
 * `user`) or an "md5..." secret. out gets 36 bytes, NUL-terminated. out is ""
 * (matches no response) when `secret` is a SCRAM secret, from which no md5
 * secret can be derived, or when MD5 is unavailable.
 */
void auth_md5_response(const char *user, const char *secret, const uint8_t salt[4], char out[36]);

/*
 * Constant-time string comparison of equal-length strings; false if lengths
 * differ (the length is not secret) or either is NULL.
 */
bool auth_secure_equal(const char *a, const char *b);

/*
 * False when `secret` cannot stand for a password: NULL, "" (an empty
 * cleartext password) or the md5 secret of the empty password for `user`.
 * PostgreSQL never stores an empty password; sluice refuses one under every
 * method but trust. A SCRAM secret made from "" is not recognised (that
 * would cost a PBKDF2 per check).
 */
bool auth_secret_usable(const char *user, const char *secret);

/*
 * The salt PostgreSQL's mock authentication would show for `user`: the first
 * AUTH_SCRAM_SALT_LEN bytes of HMAC-SHA-256(key, user) under a random key
 * drawn once per process (thread-safe). The same user gets the same salt for
 * the life of the process. False only when OpenSSL fails.
 */
bool auth_mock_salt(const char *user, uint8_t salt[AUTH_SCRAM_SALT_LEN])
	__attribute__((warn_unused_result));

/*
 * A SCRAM secret no proof can match, for a client that must fail (unknown
 * user, md5 or empty secret) after the same exchange as a wrong password:
 * auth_mock_salt(user), AUTH_SCRAM_ITERATIONS, zero keys (as PostgreSQL's
 * mock_scram_secret). *out is written only on success.
 */
bool auth_mock_scram_secret(const char *user, struct scram_secret *out)
	__attribute__((warn_unused_result));

/*
 * An md5 secret no password is known to match, for the md5 and cleartext
 * checks of a client that must fail: "md5" + hex of auth_mock_salt(user).
 * out is "" when OpenSSL fails (matches no response).
 */
void auth_mock_md5_secret(const char *user, char out[36]);

/*
 * The SCRAM secret a client of `user` whose stored secret is `secret` is
 * verified against: the SCRAM secret itself, or for a cleartext password one
 * derived with auth_mock_salt(user) and AUTH_SCRAM_ITERATIONS (one PBKDF2),
 * so a cleartext password keeps one salt. False, *out untouched, for an md5
 * secret, an unusable secret (auth_secret_usable) or an OpenSSL failure.
 */
bool auth_scram_secret_of(const char *user, const char *secret, struct scram_secret *out)
	__attribute__((warn_unused_result));

struct authfile;

/*
 * Load an auth_file. Returns NULL on error with "file:line: reason" in err
 * (a missing or unreadable file gives "file: strerror"). Leading blanks are
 * skipped; text after the second string is ignored; when a user appears
 * twice, the later line wins. Caller frees with authfile_free (which wipes
 * the secrets).
 */
struct authfile *authfile_load(const char *path, char *err, size_t errlen);

/* An auth_file of one user (a DATABASE_URL's), copies of both strings; NULL when out of memory. */
struct authfile *authfile_of(const char *user, const char *secret);

/*
 * The secret for `user` (case-sensitive, binary search), or NULL; af may be
 * NULL. Valid until authfile_free.
 */
const char *authfile_lookup(const struct authfile *af, const char *user);

/* Number of distinct users, for SHOW USERS / tests; 0 for NULL. */
size_t authfile_count(const struct authfile *af);

/*
 * The SCRAM secret clients of `user` are verified against, copied into *out:
 * the stored SCRAM secret, or for a cleartext password one derived with
 * auth_mock_salt(user) and AUTH_SCRAM_ITERATIONS, so that a cleartext user's
 * salt is as stable as an unknown user's. The result is kept with the entry
 * (one PBKDF2 per user, not per login) until authfile_free, which wipes it.
 * False, *out untouched, for a NULL af, an unknown user, an md5 secret, an
 * unusable secret (auth_secret_usable) or an OpenSSL failure. Not
 * thread-safe: it fills the cache in af.
 */
bool authfile_scram_secret(struct authfile *af, const char *user, struct scram_secret *out)
	__attribute__((warn_unused_result));

/*
 * After a reload: move the SCRAM secrets already derived in `old` to the
 * entries of `af` whose user and secret are unchanged, so only users whose
 * line changed are derived again. Either may be NULL; `old` is then freed
 * by the caller as usual.
 */
void authfile_keep_derived(struct authfile *af, struct authfile *old);

/* Free af (NULL is allowed), wiping the secrets and the derived SCRAM secrets. */
void authfile_free(struct authfile *af);

#endif
