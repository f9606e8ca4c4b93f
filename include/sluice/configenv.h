/*
 * configenv: builds the configuration sluice runs with from where it comes
 * from: an INI file, or a DATABASE_URL alone (a pooler for that one database,
 * with no file at all), and over either the environment's SLUICE_<KEY> and
 * SLUICE_<KEY>_FILE variables. Start, reload and --check all build it here.
 */
#ifndef SLUICE_CONFIGENV_H
#define SLUICE_CONFIGENV_H

#include <stddef.h>

struct config;

struct config_origin {
	const char *path;         /* the INI file, or NULL: none */
	const char *database_url; /* --database-url, or NULL: DATABASE_URL(_FILE) in envp */
	char *const *envp;        /* "NAME=value" strings, NULL-terminated (environ) */
};

/*
 * Build a config: the file (config_load) or, without one, the defaults plus
 * the database URL (transaction mode, no unix socket, clients log in as the
 * URL's user with its password); then every SLUICE_<KEY> (value) or
 * SLUICE_<KEY>_FILE (a file holding the value, one trailing newline dropped)
 * overrides its key. Files named by *_FILE and DATABASE_URL_FILE are read
 * anew at every call, so a reload sees a rotated secret. NULL on failure with
 * the reason in err ("file:line: key: reason", "SLUICE_X: key: reason", ...),
 * never quoting a value that may be a secret. The caller frees with config_free.
 */
struct config *configenv_build(const struct config_origin *o, char *err, size_t errlen);

#endif
