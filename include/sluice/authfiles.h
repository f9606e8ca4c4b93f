/*
 * authfiles: the files a config names for client authentication, auth_file,
 * auth_hba_file and auth_ident_file, loaded together so that a start, a
 * reload and `sluice --check` accept or refuse them as one: a reload with a
 * bad hba file keeps the running auth_file too.
 */
#ifndef SLUICE_AUTHFILES_H
#define SLUICE_AUTHFILES_H

#include <stdbool.h>
#include <stddef.h>

struct authfile;
struct config;
struct hba;
struct ident_map;

struct authfiles {
	struct authfile *users;  /* auth_file; NULL when unset */
	struct hba *hba;         /* auth_hba_file; NULL unless auth_type = hba */
	struct ident_map *ident; /* auth_ident_file; NULL unless auth_type = hba and it is set */
};

/*
 * Load what cfg names into *out (every member, NULL where cfg names no
 * file). Without an auth_file, a config made from a DATABASE_URL gets its
 * one user and password as the user list. As PgBouncer, the hba and ident files are read only under
 * auth_type = hba. False, *out all NULL, at the first file that cannot be
 * used, with "KEY: path:line: reason" (or "KEY: path: strerror") in err.
 * The caller frees with authfiles_free.
 */
bool authfiles_load(const struct config *cfg, struct authfiles *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Put `fresh` in the place of `cur`, freeing what cur held. SCRAM keys
 * already derived for users whose auth_file line did not change move over
 * (authfile_keep_derived). *fresh is left all NULL.
 */
void authfiles_replace(struct authfiles *cur, struct authfiles *fresh);

/* Free every member and set it to NULL. */
void authfiles_free(struct authfiles *af);

#endif
