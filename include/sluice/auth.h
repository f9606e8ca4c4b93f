/*
 * auth: password secrets and the auth_file (PgBouncer's userlist.txt format:
 * one `"user" "secret"` per line, `""` escapes a quote, lines starting with
 * ';' or '#' are comments). Secrets are plain text, "md5" + 32 hex digits,
 * or a SCRAM-SHA-256 secret. Pure helpers; no sockets.
 */
#ifndef SLUICE_AUTH_H
#define SLUICE_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

struct authfile;

/*
 * Load an auth_file. Returns NULL on error with "file:line: reason" in err
 * (a missing or unreadable file gives "file: strerror"). Leading blanks are
 * skipped; text after the second string is ignored; when a user appears
 * twice, the later line wins. Caller frees with authfile_free (which wipes
 * the secrets).
 */
struct authfile *authfile_load(const char *path, char *err, size_t errlen);

/*
 * The secret for `user` (case-sensitive, binary search), or NULL; af may be
 * NULL. Valid until authfile_free.
 */
const char *authfile_lookup(const struct authfile *af, const char *user);

/* Number of distinct users, for SHOW USERS / tests; 0 for NULL. */
size_t authfile_count(const struct authfile *af);

/* Free af (NULL is allowed), wiping the secrets. */
void authfile_free(struct authfile *af);

#endif
