/*
 * ident: PgBouncer's auth_ident_file, user name maps in PostgreSQL's
 * pg_ident.conf format: `mapname system-user database-user` per line. The
 * map named by a peer or cert rule's map= option says which database users
 * an operating-system (or certificate) user may log in as. A system user
 * starting with `/` is a POSIX extended regular expression; `\1` in the
 * database user then stands for its first parenthesised group, as in
 * PostgreSQL. `all` as the database user allows every user. Pure: reads a
 * file, no sockets, no globals.
 */
#ifndef SLUICE_IDENT_H
#define SLUICE_IDENT_H

#include <stdbool.h>
#include <stddef.h>

struct ident_map;

/*
 * Load an ident map file. Returns NULL with "path:line: reason" in err (or
 * "path: strerror" when it cannot be read) at the first line that cannot be
 * used: not exactly three fields, a field with several values, a regular
 * expression regcomp refuses, `\1` without a group to fill it, or a
 * database user that is a group (+name) or a regular expression (neither
 * is supported). The caller frees with ident_map_free.
 */
struct ident_map *ident_map_load(const char *path, char *err, size_t errlen);

/* Free a map from ident_map_load; NULL is allowed. */
void ident_map_free(struct ident_map *map);

/* Number of lines loaded; 0 for NULL. */
size_t ident_map_count(const struct ident_map *map);

/*
 * True when some line of map `mapname` lets `system_user` log in as
 * `db_user`: an equal system user (or one its regular expression matches)
 * with an equal database user (after `\1` substitution), or `all`. Names
 * compare case-sensitively. A NULL map, or a map name with no lines,
 * allows nothing.
 */
bool ident_map_allows(const struct ident_map *map, const char *mapname, const char *system_user,
		      const char *db_user);

#endif
