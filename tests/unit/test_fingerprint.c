/*
 * test_fingerprint: the statement normaliser, table-driven: every constant
 * form, casts, dollar quoting, nested comments, folded IN/ARRAY/VALUES lists,
 * identifiers that look like constants, several statements and unterminated
 * input; then which statements share an id and which do not, truncation,
 * idempotence, and a megabyte of input.
 */
#include <stdbool.h>
#include <stdint.h>

#include "sluice/fingerprint.h"
#include "unit.h"

static const struct {
	const char *sql;
	const char *text;
} cases[] = {
	/* numbers */
	{ "SELECT 1", "select $1" },
	{ "SELECT 42, 3.14, .5, 5., 1e10, 2.5E-3, 7e+2", "select $1, $2, $3, $4, $5, $6, $7" },
	{ "SELECT 0x1F, 0o17, 0b101, 1_000_000", "select $1, $2, $3, $4" },
	{ "SELECT 1e", "select $1 e" },
	{ "SELECT a[1:2] FROM t", "select a[$1:$2] from t" },
	{ "SELECT 1..2", "select $1..$2" },
	/* signs */
	{ "SELECT -1", "select $1" },
	{ "SELECT * FROM t WHERE x = -1", "select * from t where x = $1" },
	{ "SELECT * FROM t WHERE x=-1", "select * from t where x=$1" },
	{ "SELECT x - 1, x-1, (x)-1", "select x - $1, x-$2, (x)-$3" },
	{ "SELECT - 1, f(-2, -3.5)", "select $1, f($2, $3)" },
	{ "SELECT -x, - 'a'", "select -x, - $1" },
	{ "SELECT x @- 1", "select x @- $1" },
	{ "SELECT 5 * -1 WHERE a < -2", "select $1 * $2 where a < $3" },
	/* strings */
	{ "SELECT 'a'", "select $1" },
	{ "SELECT 'it''s', ''", "select $1, $2" },
	{ "SELECT E'a\\'b\\\\', e'\\n'", "select $1, $2" },
	{ "SELECT B'1010', b'1', X'1F', x'ff'", "select $1, $2, $3, $4" },
	{ "SELECT U&'d\\0061t\\+000061', N'national'", "select $1, $2" },
	{ "SELECT 'con'\n  'tinued', 'next'", "select $1, $2" },
	{ "SELECT 'a';", "select $1" },
	/* dollar quoting */
	{ "SELECT $$a 'b' ; c$$", "select $1" },
	{ "SELECT $fn$ x $$ y $f $fn$, 2", "select $1, $2" },
	{ "SELECT $a1$ $a2$ $a1$", "select $1" },
	{ "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql",
	  "create function f() returns int as $1 language sql" },
	{ "SELECT a$b$c FROM t", "select a$b$c from t" },
	/* booleans and NULL */
	{ "SELECT TRUE, false, NULL", "select $1, $2, $3" },
	{ "WHERE a IS NULL AND b IS NOT NULL AND c = NULL",
	  "where a is null and b is not null and c = $1" },
	{ "WHERE a IS TRUE OR b IS NOT FALSE OR NOT true",
	  "where a is true or b is not false or not $1" },
	{ "CREATE TABLE t (a int NOT NULL DEFAULT NULL)",
	  "create table t (a int not null default $1)" },
	/* parameters */
	{ "SELECT * FROM t WHERE id = $1", "select * from t where id = $1" },
	{ "SELECT $2, $1, $1", "select $1, $2, $3" },
	{ "SELECT -$1", "select -$1" },
	/* casts and typed literals */
	{ "SELECT interval '1 day'", "select interval $1" },
	{ "SELECT 'x'::text, 1::bigint", "select $1::text, $2::bigint" },
	{ "SELECT DATE '2024-01-01' + INTERVAL '2 hours'", "select date $1 + interval $2" },
	{ "SELECT CAST('5' AS integer)", "select cast($1 as integer)" },
	{ "SELECT '{1,2}'::int[]", "select $1::int[]" },
	{ "WHERE y IN ('a'::NULL, 'b') AND z = x::true",
	  "where y in ($1::null /*, ... */) and z = x::true" },
	/* IN, ARRAY, VALUES */
	{ "SELECT * FROM t WHERE id IN (1, 2, 3)", "select * from t where id in ($1 /*, ... */)" },
	{ "SELECT * FROM t WHERE id IN ($1,$2)", "select * from t where id in ($1 /*, ... */)" },
	{ "SELECT * FROM t WHERE id NOT IN (7)",
	  "select * from t where id not in ($1 /*, ... */)" },
	{ "WHERE s IN ('a'::text, 'b'::text, 'c'::text)", "where s in ($1::text /*, ... */)" },
	{ "WHERE x IN (-1, 2, -3) AND y = 4", "where x in ($1 /*, ... */) and y = $2" },
	{ "WHERE x IN ( 1 , 2 )", "where x in ( $1 /*, ... */)" },
	{ "WHERE x IN (SELECT id FROM u WHERE k = 1)",
	  "where x in (select id from u where k = $1)" },
	{ "WHERE x IN (1, y, 2)", "where x in ($1, y, $2)" },
	{ "WHERE x IN (1, 2", "where x in ($1, $2" },
	{ "WHERE id = ANY(ARRAY[1,2,3])", "where id = any(array[$1 /*, ... */])" },
	{ "WHERE id = ANY(ARRAY[[1,2],[3,4]])", "where id = any(array[[$1,$2],[$3,$4]])" },
	{ "INSERT INTO t VALUES (1, 'a')", "insert into t values ($1, $2) /*, ... */" },
	{ "INSERT INTO t (a, b) VALUES (1, 'a'), (2, 'b'), (3, NULL) RETURNING a",
	  "insert into t (a, b) values ($1, $2) /*, ... */ returning a" },
	{ "SELECT * FROM (VALUES (1),(2)) v", "select * from (values ($1) /*, ... */) v" },
	{ "INSERT INTO t VALUES (1), (now())", "insert into t values ($1) /*, ... */, (now())" },
	{ "INSERT INTO t VALUES (now()), (1)", "insert into t values (now()), ($1)" },
	{ "INSERT INTO t VALUES (1, 2);", "insert into t values ($1, $2) /*, ... */" },
	/* words and identifiers */
	{ "SeLeCt Name FROM Users", "select name from users" },
	{ "SELECT \"Name\", \"1\", \"a \"\"q\"\"\" FROM \"Users\"",
	  "select \"Name\", \"1\", \"a \"\"q\"\"\" from \"Users\"" },
	{ "SELECT t1.c2, null_count, true_up, e, x FROM t1",
	  "select t1.c2, null_count, true_up, e, x from t1" },
	{ "SELECT U&\"d\\0061t\" FROM t", "select U&\"d\\0061t\" from t" },
	{ "SELECT café FROM ÉTÉ", "select café from ÉtÉ" },
	{ "SELECT a!=b, a<>b, a<=b, x::int, y:=1", "select a<>b, a<>b, a<=b, x::int, y:=$1" },
	{ "SELECT a'b', 1x", "select a $1, $2 x" },
	/* whitespace and comments */
	{ "  SELECT\n\t*\r\n  FROM   t  ", "select * from t" },
	{ "SELECT /* a /* nested */ still */ 1 -- tail", "select $1" },
	{ "SELECT 1 -- to the end\n+ 2", "select $1 + $2" },
	{ "SELECT a/**/b, 1--c\n", "select a b, $1" },
	{ "SELECT 2*/*x*/3", "select $1* $2" },
	/* several statements */
	{ "SELECT 1; SELECT 2", "select $1; select $2" },
	{ ";; SELECT 1 ;; ; UPDATE t SET a = 2;;", "select $1 ; update t set a = $2" },
	{ "", "" },
	{ " -- only a comment", "" },
	/* unterminated or invalid */
	{ "SELECT 'never closed", "select $1" },
	{ "SELECT E'ends in a backslash\\", "select $1" },
	{ "SELECT \"never closed", "select \"never closed" },
	{ "SELECT $tag$ never closed $tag", "select $1" },
	{ "SELECT 1 /* never /* closed */", "select $1" },
	{ "SELECT $ a, $, \\x {}", "select $ a, $, \\x {}" },
	{ "SELECT $x", "select $ x" },
	{ ")))(((", ")))(((" },
};

static void fp(const char *sql, char *out, size_t cap, struct fingerprint *f)
{
	fingerprint_sql(sql, strlen(sql), out, cap, f);
}

static uint64_t id_of(const char *sql)
{
	struct fingerprint f;
	fingerprint_sql(sql, strlen(sql), NULL, 0, &f);
	return f.id;
}

/* Each case's text, and the text normalised again: the same text and id. */
static void test_cases(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[FINGERPRINT_TEXT_MAX], again[FINGERPRINT_TEXT_MAX];
		struct fingerprint f, g;
		fp(cases[i].sql, out, sizeof(out), &f);
		CHECK_STR(out, cases[i].text);
		CHECK(f.len == strlen(out) && !f.truncated && f.id != 0);
		fp(out, again, sizeof(again), &g);
		CHECK_STR(again, out);
		CHECK(g.id == f.id && g.statements == f.statements);
	}
}

/* Statements that differ only in constants, spacing, case or comments share an id. */
static const char *const same[][4] = {
	{ "SELECT * FROM t WHERE id = 42", "select * from t where id=$1",
	  "SELECT *\nFROM t -- x\nWHERE id = -7", "select * from T where ID = 'x'" },
	{ "WHERE x IN (1, 2, 3)", "WHERE x IN ($1, $2)", "where x in (-9)",
	  "WHERE x IN ('a','b','c','d')" },
	{ "INSERT INTO t VALUES (1, 2)", "INSERT INTO t VALUES ($1, $2), ($3, $4)",
	  "insert into t values (1,2),(3,4),(5,6)", "INSERT INTO t VALUES (NULL, 'x')" },
	{ "WHERE a = ANY(ARRAY[1])", "WHERE a = ANY(ARRAY[1,2,3,4,5])",
	  "where a = any(array[$1,$2])", "WHERE a = ANY (ARRAY[-1, 2])" },
	{ "SELECT 'a', $$b$$, E'c', true", "SELECT $x$y$x$, 'q' 'r', U&'z', NULL",
	  "SELECT 1, 2, 3, 4", "SELECT 1.5, B'1', X'f', false" },
	{ "SELECT 1; SELECT 2", "SELECT 3;SELECT 4;", ";SELECT 5 ; ; SELECT 6",
	  "select $1; select $2" },
};

/* Statements that differ in structure do not. */
static const char *const differ[][2] = {
	{ "SELECT * FROM t WHERE id = 1", "SELECT * FROM u WHERE id = 1" },
	{ "SELECT * FROM t WHERE id = 1", "SELECT * FROM t WHERE id > 1" },
	{ "SELECT a FROM t", "SELECT \"A\" FROM t" },
	{ "SELECT a FROM t", "SELECT \"a\" FROM t" },
	{ "SELECT 1, 2", "SELECT 1" },
	{ "SELECT f(1, 2)", "SELECT f(1)" },
	{ "SELECT a - 1", "SELECT a, 1" },
	{ "SELECT x IS NULL", "SELECT x = NULL" },
	{ "SELECT 1; SELECT 2", "SELECT 1, 2" },
	{ "SELECT ab", "SELECT a b" },
	{ "SELECT -x", "SELECT x" },
	{ "SELECT 1::int", "SELECT 1::bigint" },
	{ "WHERE x IN (1, 2)", "WHERE x IN (1, y)" },
	{ "", "SELECT" },
};

static void test_ids(void)
{
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		for (size_t j = 1; j < 4; j++)
			CHECK(id_of(same[i][0]) == id_of(same[i][j]));
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
		for (size_t j = i + 1; j < sizeof(same) / sizeof(same[0]); j++)
			CHECK(id_of(same[i][0]) != id_of(same[j][0]));
	for (size_t i = 0; i < sizeof(differ) / sizeof(differ[0]); i++)
		CHECK(id_of(differ[i][0]) != id_of(differ[i][1]));
}

/* A small buffer cuts the text on a token boundary; the id is the whole statement's. */
static void test_truncation(void)
{
	const char *sql = "SELECT abc, 'x', defgh FROM t";
	char full[64], out[64];
	struct fingerprint f, g;
	fp(sql, full, sizeof(full), &f);
	CHECK_STR(full, "select abc, $1, defgh from t");
	static const struct {
		size_t cap;
		const char *text;
	} cuts[] = { { 0, NULL },
		     { 1, "" },
		     { 6, "" },
		     { 7, "select" },
		     { 10, "select" },
		     { 11, "select abc" },
		     { 12, "select abc," },
		     { 15, "select abc, $1" },
		     { 16, "select abc, $1," },
		     { 28, "select abc, $1, defgh from" } };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		memset(out, 'X', sizeof(out));
		fingerprint_sql(sql, strlen(sql), cuts[i].cap ? out : NULL, cuts[i].cap, &g);
		CHECK(g.truncated && g.id == f.id && g.statements == 1);
		if (cuts[i].text != NULL)
			CHECK_STR(out, cuts[i].text);
		CHECK(g.len == (cuts[i].text ? strlen(cuts[i].text) : 0));
		CHECK(out[cuts[i].cap] == 'X');
	}
	fingerprint_sql(sql, strlen(sql), out, 29, &g);
	CHECK(!g.truncated && g.id == f.id && g.len == 28);
}

/* The text need not be NUL-terminated; a NUL ends it, as in the protocol. */
static void test_bounds(void)
{
	char *sql = malloc(8);
	char out[64];
	struct fingerprint f;
	memcpy(sql, "SELECT 'x", 8); /* "SELECT '" without a NUL */
	fingerprint_sql(sql, 8, out, sizeof(out), &f);
	CHECK_STR(out, "select $1");
	memcpy(sql, "SELECT $", 8);
	fingerprint_sql(sql, 8, out, sizeof(out), &f);
	CHECK_STR(out, "select $");
	memcpy(sql, "SELECT 0", 8);
	fingerprint_sql(sql, 8, out, sizeof(out), &f);
	CHECK_STR(out, "select $1");
	memcpy(sql, "SELECT E", 8);
	fingerprint_sql(sql, 8, out, sizeof(out), &f);
	CHECK_STR(out, "select e");
	free(sql);
	fingerprint_sql("SELECT 1\0; DROP TABLE t", 23, out, sizeof(out), &f);
	CHECK_STR(out, "select $1");
	CHECK(f.statements == 1);
	fingerprint_sql(NULL, 0, out, sizeof(out), &f);
	CHECK_STR(out, "");
	CHECK(f.statements == 0 && f.len == 0 && !f.truncated);
}

static void test_statements(void)
{
	static const struct {
		const char *sql;
		unsigned n;
	} st[] = { { "", 0 },
		   { ";;", 0 },
		   { "-- c\n/* d */", 0 },
		   { "SELECT 1", 1 },
		   { "SELECT 1;", 1 },
		   { "SELECT ';'; SELECT $$;$$", 2 },
		   { "BEGIN; UPDATE t SET a = 1; COMMIT;", 3 } };
	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		char out[128];
		struct fingerprint f;
		fp(st[i].sql, out, sizeof(out), &f);
		CHECK(f.statements == st[i].n);
	}
}

/* A megabyte of "SELECT 1 + 1 + ...": linear, bounded text, and the id of the whole. */
static void test_long(void)
{
	size_t n = 1 << 20;
	char *sql = malloc(n), out[FINGERPRINT_TEXT_MAX];
	struct fingerprint f, g;
	memcpy(sql, "SELECT 1", 8);
	for (size_t i = 8; i + 4 <= n; i += 4)
		memcpy(sql + i, " + 1", 4);
	fingerprint_sql(sql, n - n % 4, out, sizeof(out), &f);
	CHECK(f.truncated && f.len < sizeof(out) && strlen(out) == f.len);
	CHECK(strncmp(out, "select $1 + $2 + $3", 19) == 0);
	sql[n - n % 4 - 1] = '2'; /* only the last constant differs */
	fingerprint_sql(sql, n - n % 4, out, sizeof(out), &g);
	CHECK(g.id == f.id);
	sql[n - n % 4 - 3] = '-'; /* the last "+" becomes "-" */
	fingerprint_sql(sql, n - n % 4, out, sizeof(out), &g);
	CHECK(g.id != f.id);
	/* one long IN list and one long string fold to the short forms */
	memset(sql, ' ', n);
	memcpy(sql, "WHERE x IN (1", 13);
	for (size_t i = 13; i + 3 <= n - 1; i += 3)
		memcpy(sql + i, ", 2", 3);
	fingerprint_sql(sql, n - 1, out, sizeof(out), &f);
	CHECK(f.truncated);
	sql[n - 1] = ')';
	fingerprint_sql(sql, n, out, sizeof(out), &f);
	CHECK_STR(out, "where x in ($1 /*, ... */)");
	memset(sql, 'a', n);
	sql[0] = '$';
	sql[1] = '$';
	fingerprint_sql(sql, n, out, sizeof(out), &f);
	CHECK_STR(out, "$1");
	free(sql);
}

/* --- the shape pass --- */

static uint64_t fp_id(const char *sql)
{
	struct fingerprint fp;
	fingerprint_sql(sql, strlen(sql), NULL, 0, &fp);
	return fp.id;
}

static bool shape_of(const char *sql, uint64_t *shape, uint64_t *lit)
{
	return fingerprint_shape(sql, strlen(sql), shape, lit);
}

static void test_shape_cases(void)
{
	uint64_t a, b, la, lb;
	/* the same but for constants: the same shape and fingerprint, other literals */
	static const char *const alike[][2] = {
		{ "SELECT abalance FROM pgbench_accounts WHERE aid = 1",
		  "SELECT abalance FROM pgbench_accounts WHERE aid = 987654" },
		{ "select 'a', 1.5 from t where x in (1, 2)",
		  "select 'bcd''e', 22. from t where x in (7, 8)" },
		{ "SELECT -1, x-2, t1.c2 FROM t1", "SELECT -3, x-4, t1.c2 FROM t1" },
		{ "UPDATE t SET v = 'x' WHERE id = 5; SELECT .5",
		  "UPDATE t SET v = '' WHERE id = 6; SELECT .7" },
		{ "SELECT interval '1 day', 3::int", "SELECT interval '2 days', 4::int" },
	};
	for (size_t i = 0; i < sizeof(alike) / sizeof(alike[0]); i++) {
		CHECK(shape_of(alike[i][0], &a, &la) && shape_of(alike[i][1], &b, &lb));
		CHECK(a == b && la != lb);
		CHECK(fp_id(alike[i][0]) == fp_id(alike[i][1]));
	}
	/* identifiers with digits, and structure, are shape */
	CHECK(shape_of("SELECT c1 FROM t1", &a, &la) && shape_of("SELECT c2 FROM t1", &b, &lb));
	CHECK(a != b);
	CHECK(shape_of("SELECT 1 IN (1, 2)", &a, &la) &&
	      shape_of("SELECT 1 IN (1, 2, 3)", &b, &lb));
	CHECK(a != b);
	/* parameters are shape: the extended protocol's texts take the pass too */
	CHECK(shape_of("SELECT a FROM t WHERE b = $1", &a, &la) &&
	      shape_of("SELECT a FROM t WHERE b = $2", &b, &lb));
	CHECK(a != b && la == lb);
	/* what the pass leaves to the lexer */
	static const char *const refused[] = {
		"SELECT $x",      "SELECT \"Col\" FROM t",
		"SELECT 1 -- x",  "SELECT /* x */ 1",
		"SELECT E'a\\n'", "SELECT B'101'",
		"SELECT U&'x'",   "SELECT 1e5",
		"SELECT 0x1F",    "SELECT 1_000",
		"SELECT 1.2.3",   "SELECT 'open",
		"SELECT $$x$$",   "SELECT caf\xc3\xa9 FROM t",
		"SELECT 12abc",   "SELECT n'x'",
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		CHECK(!shape_of(refused[i], &a, &la));
}

/* --- the same statement as the text before --- */

static int anchored; /* calls that had an anchor from the call before */

/*
 * fingerprint_alike(prev, sql) with no anchor; and again with the anchor the
 * calls before left while prev stayed the same, which must not change the
 * answer.
 */
static enum fp_alike alike(const char *prev, const char *sql, uint64_t *lit)
{
	static char last[256];
	static struct fp_anchor kept;
	struct fp_anchor none = { 0 };
	uint64_t l0 = 0, l1 = 0;
	size_t plen = strlen(prev), len = strlen(sql);
	char *a = calloc(1, plen + FP_ALIKE_PAD), *b = calloc(1, len + FP_ALIKE_PAD);
	memcpy(a, prev, plen);
	memcpy(b, sql, len);
	enum fp_alike r = fingerprint_alike(a, plen, b, len, &none, &l0);
	if (strcmp(last, prev) != 0) {
		snprintf(last, sizeof(last), "%s", prev);
		kept = (struct fp_anchor){ 0 };
	}
	anchored += kept.at != 0;
	enum fp_alike again = fingerprint_alike(a, plen, b, len, &kept, &l1);
	CHECK(again == r && (r != FP_SAME_SHAPE || l1 == l0));
	free(a);
	free(b);
	*lit = l0;
	return r;
}

static void test_alike(void)
{
	uint64_t l1 = 0, l2 = 0, sa, sb, la, lb;
	const char *q = "SELECT abalance FROM pgbench_accounts WHERE aid = 41;";
	CHECK(alike(q, q, &l1) == FP_SAME_TEXT);
	/* one number changed, shorter or longer, in the middle or at either end */
	static const char *const one_number[][2] = {
		{ "SELECT abalance FROM pgbench_accounts WHERE aid = 41;",
		  "SELECT abalance FROM pgbench_accounts WHERE aid = 98765;" },
		{ "SELECT 1", "SELECT 12" },
		{ "SELECT 12", "SELECT 1" },
		{ "1 + x", "22 + x" },
		{ "SELECT a FROM t WHERE b < 1.5 LIMIT 3", "SELECT a FROM t WHERE b < 17 LIMIT 3" },
		{ "SELECT -5, 'x'", "SELECT -6, 'x'" },
		{ "SELECT 'a' WHERE x = 10", "SELECT 'a' WHERE x = 11" },
		{ "SELECT 'id 10'", "SELECT 'id 11'" },
		{ "SELECT x FROM t WHERE a = 1.", "SELECT x FROM t WHERE a = 2" },
	};
	for (size_t i = 0; i < sizeof(one_number) / sizeof(one_number[0]); i++) {
		CHECK(alike(one_number[i][0], one_number[i][1], &l1) == FP_SAME_SHAPE);
		CHECK(shape_of(one_number[i][0], &sa, &la) &&
		      shape_of(one_number[i][1], &sb, &lb) && sa == sb);
		CHECK(fp_id(one_number[i][0]) == fp_id(one_number[i][1]));
	}
	/* the hash of the differing digits tells other numbers apart */
	CHECK(alike(q, "SELECT abalance FROM pgbench_accounts WHERE aid = 7;", &l1) ==
	      FP_SAME_SHAPE);
	CHECK(alike(q, "SELECT abalance FROM pgbench_accounts WHERE aid = 8;", &l2) ==
	      FP_SAME_SHAPE);
	CHECK(l1 != l2);
	/* numbers of every length, where a word read ends in or after the text */
	char x[64], y[64];
	for (int dx = 1; dx <= 20; dx++)
		for (int dy = 1; dy <= 20; dy++) {
			snprintf(x, sizeof(x), "SELECT %.*s;", dx, "98765432109876543210");
			snprintf(y, sizeof(y), "SELECT %.*s;", dy, "12345678901234567890");
			CHECK(alike(x, y, &l1) == FP_SAME_SHAPE);
			CHECK(alike(x, y, &l2) == FP_SAME_SHAPE && l1 == l2);
			y[7 + dy - 1] = y[7 + dy - 1] == '0' ? '1' : '0';
			CHECK(alike(x, y, &l2) == FP_SAME_SHAPE && l1 != l2); /* last digit other */
			snprintf(y, sizeof(y), "SELECT %.*sx;", dy, "12345678901234567890");
			CHECK(alike(x, y, &l2) == FP_DIFFERENT);
		}
	CHECK(alike("SELECT 7", "SELECT 1.5", &l1) == FP_SAME_SHAPE);
	CHECK(alike("SELECT 7", "SELECT 15", &l2) == FP_SAME_SHAPE);
	CHECK(l1 != l2);
	/* names, parameters, structure, two changes, prefixes: not decided here */
	static const char *const other[][2] = {
		{ "SELECT c1 FROM t", "SELECT c2 FROM t" },
		{ "SELECT $1", "SELECT $2" },
		{ "SELECT a FROM t WHERE b = 1 AND c = 2",
		  "SELECT a FROM t WHERE b = 3 AND c = 4" },
		{ "SELECT 1", "SELECT 1, 2" },
		{ "SELECT 1", "SELECT x" },
		{ "SELECT f(1)", "SELECT f()" },
		{ "SELECT 1.5", "SELECT 1.5.6" },
		{ "SELECT .5", "SELECT 5" },
		{ "SELECT 5", "SELECT .5" },
		{ "SELECT t.1", "SELECT t.2" },
		{ "SELECT caf\xc3\xa9"
		  "1",
		  "SELECT caf\xc3\xa9"
		  "2" },
		{ "SELECT 1", "SELECT 1e5" },
		{ "", "1" },
	};
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
		CHECK(alike(other[i][0], other[i][1], &l1) == FP_DIFFERENT);
	/* after a change at one number, texts that differ elsewhere, or at it and elsewhere */
	const char *t = "SELECT a FROM t WHERE b = 1.5 LIMIT 3;";
	static const struct {
		const char *sql;
		enum fp_alike want;
	} after[] = {
		{ "SELECT a FROM t WHERE b = 22 LIMIT 3;", FP_SAME_SHAPE }, /* sets the anchor */
		{ "SELECT a FROM t WHERE b = 1.5 LIMIT 3;", FP_SAME_TEXT },
		{ "SELECT a FROM t WHERE b = 1.55 LIMIT 3;", FP_SAME_SHAPE },
		{ "SELECT a FROM t WHERE b = 1 LIMIT 3;", FP_SAME_SHAPE },
		{ "SELECT a FROM t WHERE b = 1.5 LIMIT 4;", FP_SAME_SHAPE }, /* moves it */
		{ "SELECT a FROM t WHERE b = 2 LIMIT 4;", FP_DIFFERENT },
		{ "SELECT a FROM t WHERE b = 2 LIMIT 3", FP_DIFFERENT },
		{ "SELECT a FROM t WHERE b = 1.5 LIMIT 3;;", FP_DIFFERENT },
		{ "SELECT a FROM t WHERE b = 2x LIMIT 3;", FP_DIFFERENT },
		{ "SELECT a FROM t WHERE b = 2.5.1 LIMIT 3;", FP_DIFFERENT },
		{ "SELECT a FROM t WHERE b = .5 LIMIT 3;", FP_DIFFERENT },
		{ "SELECT a FROM t WHERE c = 2 LIMIT 3;", FP_DIFFERENT },
		{ "SELECT a FROM t WHERE b = ", FP_DIFFERENT },
		{ "SELECT a FROM t WHERE b = 7 LIMIT 3;", FP_SAME_SHAPE },
	};
	anchored = 0;
	for (size_t i = 0; i < sizeof(after) / sizeof(after[0]); i++)
		CHECK(alike(t, after[i].sql, &l1) == after[i].want);
	CHECK(anchored == (int)(sizeof(after) / sizeof(after[0])) - 1);
	/* an integer at the anchor: the word read, and the numbers it leaves to the general way */
	const char *u = "SELECT a FROM t WHERE b = 15 LIMIT 3;";
	static const struct {
		const char *sql;
		enum fp_alike want;
	} integers[] = {
		{ "SELECT a FROM t WHERE b = 22 LIMIT 3;", FP_SAME_SHAPE },
		{ "SELECT a FROM t WHERE b = 15 LIMIT 3;", FP_SAME_TEXT },
		{ "SELECT a FROM t WHERE b = 16 LIMIT 3;", FP_SAME_SHAPE },
		{ "SELECT a FROM t WHERE b = 1 LIMIT 3;", FP_SAME_SHAPE },
		{ "SELECT a FROM t WHERE b = 150 LIMIT 3;", FP_SAME_SHAPE },
		{ "SELECT a FROM t WHERE b = 1234567 LIMIT 3;", FP_SAME_SHAPE },
		{ "SELECT a FROM t WHERE b = 12345678 LIMIT 3;", FP_SAME_SHAPE },
		{ "SELECT a FROM t WHERE b = 1.5 LIMIT 3;", FP_SAME_SHAPE },
		{ "SELECT a FROM t WHERE b = 15 LIMIT 3;", FP_SAME_TEXT },
		{ "SELECT a FROM t WHERE b = 15 LIMIT 3", FP_DIFFERENT },
		{ "SELECT a FROM t WHERE b = 16 LIMIT 4;", FP_DIFFERENT },
	};
	l2 = 0;
	for (size_t i = 0; i < sizeof(integers) / sizeof(integers[0]); i++) {
		CHECK(alike(u, integers[i].sql, &l1) == integers[i].want);
		CHECK(l1 != l2 || integers[i].want != FP_SAME_SHAPE); /* each number its own */
		l2 = l1;
	}
	/* numbers near the end of either text, where no word is read */
	CHECK(alike("SELECT 15", "SELECT 16", &l1) == FP_SAME_SHAPE);
	CHECK(alike("SELECT 15", "SELECT 17", &l2) == FP_SAME_SHAPE && l1 != l2);
	CHECK(alike("SELECT 15", "SELECT 15", &l1) == FP_SAME_TEXT);
	CHECK(alike("SELECT 15", "SELECT 1234", &l1) == FP_SAME_SHAPE);
}

/* Random statements from a small token set, twice with other constants:
 * whenever the pass takes them, shapes and fingerprints agree. */
static void test_shape_random(void)
{
	static const char *const words[] = { "select", "FROM", "t1",  "c_2",  "where", "and", "in",
					     "(",      ")",    ",",   "=",    "<",     "-",   "+",
					     "::int",  ".",    ";",   "null", "TRUE",  "x",   " ",
					     "  ",     "\n",   " $1", " $12" };
	unsigned seed = 12345;
	int taken = 0;
	for (int round = 0; round < 3000; round++) {
		char a[512] = "", b[512] = "";
		int n = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 24;
		for (int k = 0; k < n; k++) {
			unsigned r = (seed = seed * 1103515245u + 12345u) >> 16;
			char ta[32], tb[32];
			switch (r % 4) {
			case 0:
				snprintf(ta, sizeof(ta), " %u", r % 1000);
				snprintf(tb, sizeof(tb), " %u", (r / 7) % 100000);
				break;
			case 1:
				snprintf(ta, sizeof(ta), " '%u'", r % 50);
				snprintf(tb, sizeof(tb), " 'v''%u'", r % 9);
				break;
			case 2:
				snprintf(ta, sizeof(ta), " %u.%u", r % 10, r % 7);
				snprintf(tb, sizeof(tb), " %u.", r % 3);
				break;
			default:
				snprintf(ta, sizeof(ta), "%s",
					 words[r % (sizeof(words) / sizeof(words[0]))]);
				snprintf(tb, sizeof(tb), "%s", ta);
			}
			strncat(a, ta, sizeof(a) - strlen(a) - 1);
			strncat(b, tb, sizeof(b) - strlen(b) - 1);
		}
		uint64_t sa, sb, la, lb;
		if (!shape_of(a, &sa, &la) || !shape_of(b, &sb, &lb))
			continue;
		taken++;
		CHECK(sa == sb);
		if (fp_id(a) != fp_id(b)) {
			fprintf(stderr, "same shape, other fingerprints:\n  %s\n  %s\n", a, b);
			unit_failures++;
		}
	}
	CHECK(taken > 1000);
}

/*
 * fingerprint_again(last = s1, sql = s2) after fingerprint_alike(prev, s1)
 * left its anchor; s2 lies in a buffer with digits after its NUL (as in a
 * receive buffer), within the bytes it may look at or not. When it says yes, fingerprint_alike(prev, s2) says so too,
 * with the same literal, and last is s2 and its padding; when no, last's
 * first anchor.at bytes are as they were. Returns its answer.
 */
static bool again(const char *prev, const char *s1, const char *s2, size_t cap)
{
	size_t plen = strlen(prev), l1 = strlen(s1), l2 = strlen(s2);
	char *a = calloc(1, plen + FP_ALIKE_PAD), *b = calloc(1, l1 + FP_ALIKE_PAD);
	char *c = calloc(1, l2 + FP_ALIKE_PAD), *last = calloc(1, cap + l1 + FP_ALIKE_PAD);
	char *sql = malloc(l2 + FP_ALIKE_PAD), *was = malloc(cap + l1 + FP_ALIKE_PAD);
	memcpy(a, prev, plen);
	memcpy(b, s1, l1);
	memcpy(c, s2, l2);
	memcpy(last, s1, l1);
	memset(sql, '7', l2 + FP_ALIKE_PAD);
	memcpy(sql, s2, l2);
	sql[l2] = '\0';
	memcpy(was, last, cap + l1 + FP_ALIKE_PAD);
	struct fp_anchor an = { 0 };
	uint64_t lit = 0, lit2 = 0, lit3 = 0;
	bool ok = false;
	if (fingerprint_alike(a, plen, b, l1, &an, &lit) != FP_DIFFERENT) {
		CHECK(fingerprint_again(last, l1, cap, sql, l2, &an, &lit2) ==
		      0); /* NUL past avail */
		size_t n = fingerprint_again(last, l1, cap, sql, l2 + 1 + (l2 & 3), &an, &lit2);
		ok = n != 0;
		CHECK(!ok || n == l2);
		struct fp_anchor an2 = an;
		enum fp_alike r = fingerprint_alike(a, plen, c, l2, &an2, &lit3);
		if (ok) {
			char pad[FP_ALIKE_PAD] = { 0 };
			CHECK(r != FP_DIFFERENT && lit2 == lit3);
			CHECK(memcmp(last, s2, l2) == 0 &&
			      memcmp(last + l2, pad, FP_ALIKE_PAD) == 0);
		} else { /* (past the anchor it may have been written over) */
			CHECK(memcmp(last, was, an.at) == 0);
		}
	}
	free(a);
	free(b);
	free(c);
	free(last);
	free(sql);
	free(was);
	return ok;
}

static void test_again(void)
{
	const char *q0 = "SELECT abalance FROM pgbench_accounts WHERE aid = 41;";
	const char *q1 = "SELECT abalance FROM pgbench_accounts WHERE aid = 5;";
	CHECK(again(q0, q1, "SELECT abalance FROM pgbench_accounts WHERE aid = 98765;", 80));
	CHECK(again(q0, q1, q1, 80));
	CHECK(again(q0, q1, q0, 80));
	CHECK(again(q0, q0, q0, 80)); /* the same again, with no anchor */
	CHECK(!again(q0, q0, q1, 80));
	CHECK(again(q0, q1, "SELECT abalance FROM pgbench_accounts WHERE aid = 1234567;", 80));
	/* no room for the new text's padding: the general way */
	CHECK(!again(q0, q1, "SELECT abalance FROM pgbench_accounts WHERE aid = 1234567;", 64));
	/* eight digits, a decimal, another tail, another prefix, another length */
	CHECK(!again(q0, q1, "SELECT abalance FROM pgbench_accounts WHERE aid = 12345678;", 80));
	CHECK(!again(q0, q1, "SELECT abalance FROM pgbench_accounts WHERE aid = 1.5;", 80));
	CHECK(!again(q0, q1, "SELECT abalance FROM pgbench_accounts WHERE aid = 15 ", 80));
	CHECK(!again(q0, q1, "SELECT abalance FROM pgbench_accounts WHERE aid = 15", 80));
	CHECK(!again(q0, q1, "SELECT bbalance FROM pgbench_accounts WHERE aid = 15;", 80));
	CHECK(!again(q0, q1, "SELECT abalance FROM pgbench_accounts WHERE aid = x;", 80));
	CHECK(!again(q0, q1, "SELECT abalance FROM pgbench_accounts WHERE aid = ;", 80));
	CHECK(!again(q0, q1, "SELECT", 80));
	/* tails of every length up to a word, and longer ones (the general way) */
	char x[96], y[96], z[96];
	for (int t = 0; t <= 12; t++) {
		snprintf(x, sizeof(x), "SELECT a FROM t WHERE b = 10%.*s", t, " LIMIT 7 -- x");
		snprintf(y, sizeof(y), "SELECT a FROM t WHERE b = 3%.*s", t, " LIMIT 7 -- x");
		snprintf(z, sizeof(z), "SELECT a FROM t WHERE b = 456%.*s", t, " LIMIT 7 -- x");
		CHECK(again(x, y, z, 96) == (t <= 8));
		snprintf(z, sizeof(z), "SELECT a FROM t WHERE b = 456%.*s", t, " LIMIT 8 -- x");
		if (t >= 8) /* the tails differ in their eighth byte */
			CHECK(!again(x, y, z, 96));
	}
}

int main(void)
{
	test_shape_cases();
	test_shape_random();
	test_alike();
	test_again();
	test_cases();
	test_ids();
	test_truncation();
	test_bounds();
	test_statements();
	test_long();
	UNIT_DONE();
}
