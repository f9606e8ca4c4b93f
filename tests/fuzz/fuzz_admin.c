/*
 * fuzz_admin: the admin console's command syntax. The input, cut at its
 * first NUL as a Query message's text would be, goes to admin_parse_command,
 * and every word to admin_parse_valid_name. Asserts: at most ADMIN_MAX_WORDS
 * words, each a NUL-terminated string inside the command's own buffer, in
 * order and not overlapping; without quotes the words are the input's
 * characters up to ';' less white space; a valid name is 1..63 safe chars.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "sluice/admin_parse.h"

#include "fuzz.h"

static void check_name(const char *w)
{
	if (!admin_parse_valid_name(w))
		return;
	size_t len = strlen(w);
	FUZZ_CHECK(len >= 1 && len <= 63);
	for (const char *p = w; *p; p++)
		FUZZ_CHECK(isalnum((unsigned char)*p) || strchr("_-.", *p) != NULL);
}

/* Without quotes, words hold every character before the first ';' except white space. */
static void check_unquoted(const char *sql, const struct admin_command *cmd)
{
	int w = 0;
	const char *q = cmd->n > 0 ? cmd->words[0] : NULL;
	for (const char *p = sql; *p && *p != ';'; p++) {
		if (isspace((unsigned char)*p))
			continue;
		while (q != NULL && *q == '\0')
			q = ++w < cmd->n ? cmd->words[w] : NULL;
		FUZZ_CHECK(q != NULL && *q == *p);
		q++;
	}
	FUZZ_CHECK(q == NULL || (*q == '\0' && w == cmd->n - 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *sql = malloc(size + 1);
	FUZZ_CHECK(sql != NULL);
	memcpy(sql, data, size);
	sql[size] = '\0';

	struct admin_command *cmd = malloc(sizeof(*cmd)); /* on the heap: ASan sees its end */
	FUZZ_CHECK(cmd != NULL);
	if (admin_parse_command(sql, cmd)) {
		FUZZ_CHECK(strlen(sql) < ADMIN_MAX_QUERY);
		FUZZ_CHECK(cmd->n >= 0 && cmd->n <= ADMIN_MAX_WORDS);
		const char *prev_end = cmd->text;
		for (int i = 0; i < cmd->n; i++) {
			FUZZ_CHECK(cmd->words[i] >= prev_end);
			FUZZ_CHECK(fuzz_str_inside(cmd->words[i], cmd->text, sizeof(cmd->text)));
			prev_end = cmd->words[i] + strlen(cmd->words[i]) + 1;
			check_name(cmd->words[i]);
		}
		if (strchr(sql, '\'') == NULL && strchr(sql, '"') == NULL)
			check_unquoted(sql, cmd);
	}
	free(cmd);
	free(sql);
	return 0;
}
