/*
 * hbalex: the lexer shared by the pg_hba.conf and pg_ident.conf loaders.
 * It reads a file as PostgreSQL does: `#` starts a comment, a line ending in
 * a backslash goes on on the next line, fields are separated by blanks, a
 * field is a comma-separated list of tokens, and double quotes keep blanks,
 * commas and `#` inside a token (`""` within quotes is one quote). A token
 * remembers whether it was quoted, since a quoted keyword is only a name.
 * Pure: no sockets, no globals.
 */
#ifndef SLUICE_HBALEX_H
#define SLUICE_HBALEX_H

#include <stdbool.h>
#include <stddef.h>

struct hbalex_token {
	const char *text; /* unquoted text, NUL-terminated; points into the line */
	bool quoted;      /* any part of it was in double quotes */
};

/* One field: tokens[first .. first + n) of its line, n >= 1. */
struct hbalex_field {
	size_t first, n;
};

/* One logical line (continuations joined) split into fields; hbalex_read_file
 * passes on only lines with at least one field. */
struct hbalex_line {
	int lineno; /* of its first physical line */
	struct hbalex_token *tokens;
	size_t n_tokens;
	struct hbalex_field *fields;
	size_t n_fields;
	char *text; /* storage for the token texts */
};

/* Called for each line that has fields: NULL to go on, or the reason to stop. */
typedef const char *hbalex_line_fn(void *arg, const struct hbalex_line *line);

/*
 * Read the file at `path` line by line, calling fn for each logical line
 * (continuations joined) that has fields; blank and comment-only lines are
 * skipped. The line passed to fn is valid only during the call. Returns
 * true when every line was read and accepted; else false with err set to
 * "path: strerror" when the file cannot be opened or read, "path: not a
 * regular file" (a FIFO, a device: never read, so never waited on), or "path:line:
 * reason" for a malformed line ("unterminated quoted string", "NUL byte in
 * line", "empty name in a comma-separated list") or the reason fn gave, the
 * line being the first physical line of the logical one.
 */
bool hbalex_read_file(const char *path, hbalex_line_fn *fn, void *arg, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Split one logical line (no newline in it) into *out, which the caller
 * frees with hbalex_line_free. A line with no fields gives n_fields == 0.
 * False with *reason set (a static string, as listed above) when the text
 * is malformed; *out then owns nothing.
 */
bool hbalex_split(const char *text, int lineno, struct hbalex_line *out, const char **reason)
	__attribute__((warn_unused_result));

/* Free a line's memory; NULL members are fine. */
void hbalex_line_free(struct hbalex_line *line);

/* The i-th token of field f of line (no bounds check beyond an assert). */
const struct hbalex_token *hbalex_tok(const struct hbalex_line *line, size_t f, size_t i);

/*
 * Room for element n of the array *arr of `size`-byte elements with room
 * for *cap (both grow by doubling; *arr may start NULL with *cap 0). False,
 * the array untouched, when out of memory. For the loaders built on this
 * lexer, which each collect what they read into such an array.
 */
bool hbalex_grow(void **arr, size_t n, size_t *cap, size_t size)
	__attribute__((warn_unused_result));

/* True when tok is the unquoted keyword kw (case-sensitive, as PostgreSQL). */
bool hbalex_is_keyword(const struct hbalex_token *tok, const char *kw);

#endif
