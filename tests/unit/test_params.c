/*
 * test_params: start-up parameters of a client. client_encoding is kept in
 * PostgreSQL's own spelling, so the welcome reports what PostgreSQL would and
 * a server that already has the encoding is not synced again.
 */
#include "sluice/params.h"
#include "unit.h"

static void test_encoding_names(void)
{
	static const char *const cases[][2] = {
		{ "utf8", "UTF8" },           { "UTF-8", "UTF8" },
		{ "unicode", "UTF8" },        { "Utf_8", "UTF8" },
		{ "latin1", "LATIN1" },       { "ISO-8859-1", "LATIN1" },
		{ "iso_8859_15", "LATIN9" },  { "ISO_8859_5", "ISO_8859_5" },
		{ "win1251", "WIN1251" },     { "windows-1252", "WIN1252" },
		{ "SQL_ASCII", "SQL_ASCII" }, { "shift_jis", "SJIS" },
		{ "euc-jp", "EUC_JP" },       { "koi8", "KOI8R" },
		{ "win", "WIN1251" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_STR(param_encoding_name(cases[i][0]), cases[i][1]);
	/* not an encoding: left as it is, for the server to refuse */
	const char *bogus = "klingon";
	CHECK(param_encoding_name(bogus) == bogus);
	const char *empty = "";
	CHECK(param_encoding_name(empty) == empty);
	const char *longer = "utf8utf8utf8utf8utf8utf8utf8utf8utf8utf8";
	CHECK(param_encoding_name(longer) == longer);
}

static void test_startup_client_encoding(void)
{
	struct param_set ps = { 0 };
	char err[128];
	CHECK(param_apply_startup(&ps, "client_encoding", "unicode", err, sizeof(err)));
	CHECK_STR(ps.tracked[PARAM_CLIENT_ENCODING], "UTF8");
	CHECK(param_apply_startup(&ps, "options", "-c client_encoding=latin1", err, sizeof(err)));
	CHECK_STR(ps.tracked[PARAM_CLIENT_ENCODING], "LATIN1");
	CHECK(param_apply_startup(&ps, "DateStyle", "iso, mdy", err, sizeof(err)));
	CHECK_STR(ps.tracked[PARAM_DATESTYLE], "iso, mdy"); /* only the encoding is respelled */
	param_set_free(&ps);
}

int main(void)
{
	test_encoding_names();
	test_startup_client_encoding();
	UNIT_DONE();
}
