/*
 * admin_parse: the admin console's command syntax as pure functions: one
 * simple-protocol query split into words, and the check on database-name
 * arguments. No runtime, no I/O, no globals: admin.c calls it for every
 * command and tests/fuzz/fuzz_admin.c feeds it arbitrary bytes.
 */
#ifndef SLUICE_ADMIN_PARSE_H
#define SLUICE_ADMIN_PARSE_H

#include <stdbool.h>

#define ADMIN_MAX_QUERY 4096 /* longest command text accepted, NUL included */
#define ADMIN_MAX_WORDS 8

/*
 * A command split into words. Every word is a NUL-terminated string inside
 * `text`. Each output byte consumes at least one input byte and each word
 * adds its NUL, so the text needs the query's length plus one byte per word
 * ("xxx...x=x=x=x=" just under ADMIN_MAX_QUERY overflowed a text of
 * ADMIN_MAX_QUERY bytes; tests/fuzz/fuzz_admin found it).
 */
struct admin_command {
	char *words[ADMIN_MAX_WORDS];
	int n; /* 0 for an empty query */
	char text[ADMIN_MAX_QUERY + ADMIN_MAX_WORDS];
};

/*
 * Split `sql` (NUL-terminated, not NULL) into words: separated by white
 * space; '=' is a word of its own; '...' and "..." quote a word (a doubled
 * quote inside stands for one); one ';' may end the command. Fills *cmd,
 * which owns the words' text (nothing to free). False on a syntax error: text
 * of ADMIN_MAX_QUERY bytes or more, an unbalanced quote, more than
 * ADMIN_MAX_WORDS words, or anything but white space after the ';'.
 */
bool admin_parse_command(const char *sql, struct admin_command *cmd)
	__attribute__((warn_unused_result));

/* A database-name argument: 1..63 letters, digits, '_', '-' or '.' (not NULL). */
bool admin_parse_valid_name(const char *s);

#endif
