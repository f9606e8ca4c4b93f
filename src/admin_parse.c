/*
 * admin_parse: the console's tokenizer. It copies words into the command's
 * own buffer, so a command outlives the Query message it came in.
 */
#include "sluice/admin_parse.h"

#include <ctype.h>
#include <string.h>

/* One quoted word starting at the quote *p; its text goes to *out. NULL when unbalanced. */
static const char *quoted_word(const char *p, char **out)
{
	char q = *p++;
	char *o = *out;
	for (;;) {
		if (*p == '\0')
			return NULL;
		if (*p == q && p[1] == q) {
			*o++ = q;
			p += 2;
		} else if (*p == q) {
			*out = o;
			return p + 1;
		} else {
			*o++ = *p++;
		}
	}
}

bool admin_parse_command(const char *sql, struct admin_command *cmd)
{
	char *out = cmd->text;
	const char *p = sql;
	cmd->n = 0;
	if (strlen(sql) >= ADMIN_MAX_QUERY)
		return false;
	for (;;) {
		while (isspace((unsigned char)*p))
			p++;
		if (*p == '\0')
			return true;
		if (*p == ';') {
			for (p++; isspace((unsigned char)*p); p++)
				;
			return *p == '\0';
		}
		if (cmd->n == ADMIN_MAX_WORDS)
			return false;
		cmd->words[cmd->n++] = out;
		if (*p == '=') {
			*out++ = *p++;
		} else if (*p == '\'' || *p == '"') {
			p = quoted_word(p, &out);
			if (p == NULL)
				return false;
		} else {
			while (*p && !isspace((unsigned char)*p) && *p != ';' && *p != '=')
				*out++ = *p++;
		}
		*out++ = '\0';
	}
}

bool admin_parse_valid_name(const char *s)
{
	if (s[0] == '\0' || strlen(s) > 63)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-' && *s != '.')
			return false;
	return true;
}
