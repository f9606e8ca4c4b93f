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

/* Classify a stored secret. */
enum secret_kind auth_secret_kind(const char *secret);

/* out = "md5" + hex(md5(password + user)), NUL-terminated (36 bytes). */
void auth_md5_secret(const char *user, const char *password, char out[36]);

/*
 * The response to AuthenticationMD5Password: "md5" + hex(md5(hex_part + salt)).
 * `secret` is either a cleartext password (then the md5 secret is derived with
 * `user`) or an "md5..." secret. out gets 36 bytes, NUL-terminated.
 */
void auth_md5_response(const char *user, const char *secret, const uint8_t salt[4], char out[36]);

/* Constant-time string comparison of equal-length strings; false if lengths differ. */
bool auth_secure_equal(const char *a, const char *b);

struct authfile;

/*
 * Load an auth_file. Returns NULL on error with "file:line: reason" in err
 * (a missing file is an error). Caller frees with authfile_free.
 */
struct authfile *authfile_load(const char *path, char *err, size_t errlen);

/* The secret for `user`, or NULL. Valid until authfile_free. */
const char *authfile_lookup(const struct authfile *af, const char *user);

/* Number of entries, for SHOW USERS / tests. */
size_t authfile_count(const struct authfile *af);

void authfile_free(struct authfile *af);

#endif
