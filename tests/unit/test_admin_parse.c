/*
 * test_admin_parse: the console's tokenizer and name check, table-driven:
 * words, '=' as its own word, quoting, the trailing ';', the limits on
 * length and word count, and the query that used to overflow the text buffer.
 */
#include <stdbool.h>

#include "sluice/admin_parse.h"
#include "unit.h"

static const struct {
	const char *sql;
	bool ok;
	const char *words; /* the words joined with '|' */
} cases[] = {
	{ "SHOW POOLS;", true, "SHOW|POOLS" },
	{ "  show\thelp  ", true, "show|help" },
	{ "PAUSE db", true, "PAUSE|db" },
	{ "SET default_pool_size = 5", true, "SET|default_pool_size|=|5" },
	{ "SET default_pool_size=5", true, "SET|default_pool_size|=|5" },
	{ "SET server_reset_query TO 'DISCARD ALL';", true,
	  "SET|server_reset_query|TO|DISCARD ALL" },
	{ "set application_name = \"a\"\"b\"", true, "set|application_name|=|a\"b" },
	{ "SET x = ''", true, "SET|x|=|" },
	{ "", true, "" },
	{ " ; ", true, "" },
	{ "SHOW POOLS; ", true, "SHOW|POOLS" },
	{ "SHOW POOLS; SHOW STATS", false, NULL },
	{ "SHOW POOLS;;", false, NULL },
	{ "SET x = 'unbalanced", false, NULL },
	{ "a b c d e f g h", true, "a|b|c|d|e|f|g|h" },
	{ "a b c d e f g h i", false, NULL },
};

static void test_cases(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct admin_command cmd;
		bool ok = admin_parse_command(cases[i].sql, &cmd);
		CHECK(ok == cases[i].ok);
		if (!ok || !cases[i].ok)
			continue;
		char joined[256] = "";
		for (int w = 0; w < cmd.n; w++) {
			if (w > 0)
				strcat(joined, "|");
			strcat(joined, cmd.words[w]);
		}
		CHECK_STR(joined, cases[i].words);
	}
}

/* Each '=' word costs one input byte and two output bytes: the longest query
 * that passes the length check must still fit. */
static void test_length_limit(void)
{
	static char sql[ADMIN_MAX_QUERY + 1];
	struct admin_command cmd;
	memset(sql, 'x', ADMIN_MAX_QUERY - 8);
	strcpy(sql + ADMIN_MAX_QUERY - 8, "=x=x=x=");
	CHECK(strlen(sql) == ADMIN_MAX_QUERY - 1);
	CHECK(admin_parse_command(sql, &cmd));
	CHECK(cmd.n == ADMIN_MAX_WORDS);
	CHECK(strlen(cmd.words[0]) == ADMIN_MAX_QUERY - 8);
	CHECK_STR(cmd.words[7], "=");
	CHECK(cmd.words[7] + 2 <= cmd.text + sizeof(cmd.text));
	memset(sql, 'x', ADMIN_MAX_QUERY);
	sql[ADMIN_MAX_QUERY] = '\0';
	CHECK(!admin_parse_command(sql, &cmd));
}

static void test_valid_name(void)
{
	CHECK(admin_parse_valid_name("appdb"));
	CHECK(admin_parse_valid_name("app_db-2.test"));
	CHECK(!admin_parse_valid_name(""));
	CHECK(!admin_parse_valid_name("app db"));
	CHECK(!admin_parse_valid_name("db;drop"));
	CHECK(!admin_parse_valid_name("\"db\""));
	char name[65];
	memset(name, 'a', 63);
	name[63] = '\0';
	CHECK(admin_parse_valid_name(name));
	strcpy(name + 63, "a");
	CHECK(!admin_parse_valid_name(name));
}

int main(void)
{
	test_cases();
	test_length_limit();
	test_valid_name();
	UNIT_DONE();
}
