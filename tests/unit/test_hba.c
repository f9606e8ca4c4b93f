/*
 * test_hba: the pg_hba.conf lexer (fields, comma lists, quotes, comments,
 * continuation lines) and the auth_hba_file loader and matcher: every line
 * form, every refusal with its line number, first match wins, CIDR and
 * netmask edges in IPv4 and IPv6, IPv4-mapped clients, @files (relative,
 * nested, missing, looping) and the connection kinds.
 */
#include "sluice/hba.h"

#include "sluice/hbalex.h"

#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

/* A file named `name` in the test directory holding `text`; returns its path. */
static const char *put_file(const char *name, const char *text)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
		perror(path);
		exit(2);
	}
	return path;
}

/* Load `text` as hba.conf; err gets the message with the directory cut off. */
static struct hba *load(const char *text, char *err, size_t errlen)
{
	char full[1024] = "";
	const char *path = put_file("hba.conf", text);
	struct hba *hba = hba_load(path, full, sizeof(full));
	size_t dlen = strlen(dir);

	snprintf(err, errlen, "%s", strncmp(full, dir, dlen) == 0 ? full + dlen + 1 : full);
	return hba;
}

/* ---- lexer ---- */

static void check_split(const char *text, size_t n_fields, const char *joined)
{
	struct hbalex_line l;
	const char *reason = NULL;
	char got[256] = "";

	CHECK(hbalex_split(text, 7, &l, &reason));
	if (reason != NULL)
		return;
	CHECK(l.lineno == 7);
	CHECK(l.n_fields == n_fields);
	/* fields joined by '|', tokens by ',', quoted tokens in <> */
	for (size_t f = 0; f < l.n_fields; f++) {
		for (size_t i = 0; i < l.fields[f].n; i++) {
			const struct hbalex_token *t = hbalex_tok(&l, f, i);
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s%s%s",
				 i   ? ","
				 : f ? "|"
				     : "",
				 t->quoted ? "<" : "", t->text, t->quoted ? ">" : "");
		}
	}
	CHECK_STR(got, joined);
	hbalex_line_free(&l);
}

static void check_split_error(const char *text, const char *want)
{
	struct hbalex_line l;
	const char *reason = NULL;

	CHECK(!hbalex_split(text, 1, &l, &reason));
	CHECK_STR(reason, want);
	CHECK(l.tokens == NULL && l.fields == NULL && l.text == NULL);
}

static void test_lexer(void)
{
	check_split("host all all 10.0.0.0/8 md5", 5, "host|all|all|10.0.0.0/8|md5");
	check_split("  local\tall   all\ttrust  ", 4, "local|all|all|trust");
	check_split("host a,b,c all", 3, "host|a,b,c|all");
	check_split("host a, b c", 3, "host|a,b|c");
	check_split("a,\tb", 1, "a,b");
	check_split("\"all\" \"a b\",c", 2, "<all>|<a b>,c");
	check_split("x\"y z\"w", 1, "<xy zw>");
	check_split("\"a\"\"b\"", 1, "<a\"b>");
	check_split("\"\"", 1, "<>");
	check_split("a # b c", 1, "a");
	check_split("a#b c", 1, "a");
	check_split("\"a#b\" c", 2, "<a#b>|c");
	check_split("\"a,b\"", 1, "<a,b>");
	check_split("# only a comment", 0, "");
	check_split("   ", 0, "");
	check_split("", 0, "");
	check_split_error("host \"all", "unterminated quoted string");
	check_split_error("host a,,b", "empty name in a comma-separated list");
	check_split_error("host a,", "empty name in a comma-separated list");
	check_split_error("host a,#x", "empty name in a comma-separated list");
	check_split_error(",a", "empty name in a comma-separated list");
	check_split_error("host a, b ,c", "empty name in a comma-separated list");
}

/* Collects "lineno:fields|joined|..." of each line; stops at a line whose first token is "stop". */
static const char *collect(void *arg, const struct hbalex_line *l)
{
	char *out = arg;
	size_t len = strlen(out);

	if (strcmp(hbalex_tok(l, 0, 0)->text, "stop") == 0)
		return "told to stop";
	snprintf(out + len, 512 - len, "%d:", l->lineno);
	for (size_t f = 0; f < l->n_fields; f++)
		snprintf(out + strlen(out), 512 - strlen(out), "%s%s", f ? "|" : "",
			 hbalex_tok(l, f, 0)->text);
	snprintf(out + strlen(out), 512 - strlen(out), ";");
	return NULL;
}

static void test_read_file(void)
{
	char got[512] = "", err[512], want[512];
	const char *path = put_file("lex.conf", "# header\n"
						"\n"
						"one two\\\n"
						"  three\n"
						"# comment \\\n"
						"four\n"
						"\"quoted \\\n"
						"continues\" five\r\n"
						"six\\");

	/* a comment ending in a backslash swallows the next line, as in PostgreSQL */
	CHECK(hbalex_read_file(path, collect, got, err, sizeof(err)));
	CHECK_STR(got, "3:one|two|three;7:quoted continues|five;9:six;");

	path = put_file("stop.conf", "a\n\nb c\nstop here\n");
	got[0] = '\0';
	CHECK(!hbalex_read_file(path, collect, got, err, sizeof(err)));
	CHECK_STR(got, "1:a;3:b|c;");
	snprintf(want, sizeof(want), "%s:4: told to stop", path);
	CHECK_STR(err, want);

	static const char nul[] = "ok line\nbad\0line\n";
	path = put_file("nul.conf", "");
	FILE *f = fopen(path, "w");
	CHECK(f && fwrite(nul, 1, sizeof(nul) - 1, f) == sizeof(nul) - 1);
	fclose(f);
	got[0] = '\0';
	CHECK(!hbalex_read_file(path, collect, got, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:2: NUL byte in line", path);
	CHECK_STR(err, want);

	path = put_file("quote.conf", "a\nb \"c\n");
	CHECK(!hbalex_read_file(path, collect, got, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s:2: unterminated quoted string", path);
	CHECK_STR(err, want);

	CHECK(!hbalex_read_file(dir, collect, got, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: not a regular file", dir);
	CHECK_STR(err, want);
	CHECK(!hbalex_read_file("/nonexistent/x", collect, got, err, sizeof(err)));
	CHECK_STR(err, "/nonexistent/x: No such file or directory");
}

/* ---- matching helpers ---- */

static struct sockaddr_storage ss;

static const struct sockaddr *ip(const char *text)
{
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, text, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
	} else {
		CHECK(inet_pton(AF_INET6, text, &in6->sin6_addr) == 1);
		in6->sin6_family = AF_INET6;
	}
	return (const struct sockaddr *)&ss;
}

/* The line of the rule matching a plain TCP client, 0 for none. */
static int line_for(const struct hba *hba, const char *addr, const char *db, const char *user)
{
	const struct hba_verdict *v = hba_match(hba, HBA_HOST_PLAIN, ip(addr), db, user);
	return v ? v->line : 0;
}

/* ---- the rule forms ---- */

static void test_forms(void)
{
	char err[512];
	put_file("dbs.txt", "# databases of the app\nappdb, \"other db\"\n  reports\n");
	put_file("users.txt", "alice bob\n@more_users.txt\n");
	put_file("more_users.txt", "carol\n");
	struct hba *hba =
		load("# TYPE DATABASE USER ADDRESS METHOD\n"
		     "\n"
		     "local   all        all                        peer map=os\n"
		     "local   sameuser   all                        md5\n"
		     "host    @dbs.txt   @users.txt 10.1.0.0/16      scram-sha-256\n"
		     "hostssl all        all        10.2.0.0/16      cert map=certs\n"
		     "hostnossl db1,db2  u1,\"u 2\"   10.3.0.0 255.255.0.0 password\n"
		     "host    \"all\"    \"all\"    10.4.0.0/16      trust # quoted keywords\n"
		     "host    all        all        fd00::/8         md5\n"
		     "host    all        all        fe80::1 ffff:ffff:: reject\n"
		     "host    replication all       all              trust\n"
		     "local   all        all                        ident\n"
		     "host    all        all        all              reject\n",
		     err, sizeof(err));
	CHECK(hba != NULL);
	if (hba == NULL) {
		fprintf(stderr, "load failed: %s\n", err);
		return;
	}
	CHECK(hba_count(hba) == 11);

	const struct hba_verdict *v = hba_match(hba, HBA_LOCAL, NULL, "x", "y");
	CHECK(v && v->line == 3 && v->method == HBA_PEER);
	CHECK_STR(v ? v->map : NULL, "os");

	/* @file names, nested @file, comma lists in files */
	CHECK(line_for(hba, "10.1.2.3", "appdb", "alice") == 5);
	CHECK(line_for(hba, "10.1.2.3", "other db", "bob") == 5);
	CHECK(line_for(hba, "10.1.2.3", "reports", "carol") == 5);
	CHECK(line_for(hba, "10.1.2.3", "appdb", "dave") == 13);
	CHECK(line_for(hba, "10.1.2.3", "other", "alice") == 13);
	v = hba_match(hba, HBA_HOST_PLAIN, ip("10.1.2.3"), "appdb", "alice");
	CHECK(v && v->method == HBA_SCRAM && v->map == NULL);

	/* hostssl only for TLS clients, hostnossl only for plain ones */
	CHECK(line_for(hba, "10.2.0.1", "d", "u") == 13);
	v = hba_match(hba, HBA_HOST_TLS, ip("10.2.0.1"), "d", "u");
	CHECK(v && v->line == 6 && v->method == HBA_CERT);
	CHECK_STR(v ? v->map : NULL, "certs");
	CHECK(line_for(hba, "10.3.9.9", "db2", "u 2") == 7);
	CHECK(line_for(hba, "10.3.9.9", "db1", "u1") == 7);
	CHECK(line_for(hba, "10.3.9.9", "db3", "u1") == 13);
	v = hba_match(hba, HBA_HOST_TLS, ip("10.3.9.9"), "db1", "u1");
	CHECK(v && v->line == 13);

	/* quoted keywords are names */
	CHECK(line_for(hba, "10.4.0.1", "all", "all") == 8);
	CHECK(line_for(hba, "10.4.0.1", "db", "all") == 13);
	v = hba_match(hba, HBA_HOST_PLAIN, ip("10.4.0.1"), "all", "all");
	CHECK(v && v->method == HBA_TRUST);

	/* IPv6 with a length and with a netmask */
	CHECK(line_for(hba, "fd12::5", "d", "u") == 9);
	CHECK(line_for(hba, "fe80::1:2:3", "d", "u") == 10);
	CHECK(line_for(hba, "fe81::1", "d", "u") == 13);

	/* replication matches no sluice connection; ident on local is peer */
	CHECK(line_for(hba, "192.0.2.1", "replication", "u") == 13);
	CHECK(hba_method_str(HBA_SCRAM) && strcmp(hba_method_str(HBA_SCRAM), "scram-sha-256") == 0);
	hba_free(hba);

	/* sameuser, and ident meaning peer */
	hba = load("local sameuser all md5\nlocal all all ident map=m\n", err, sizeof(err));
	CHECK(hba != NULL);
	v = hba_match(hba, HBA_LOCAL, NULL, "alice", "alice");
	CHECK(v && v->line == 1 && v->method == HBA_MD5);
	v = hba_match(hba, HBA_LOCAL, NULL, "alice", "bob");
	CHECK(v && v->line == 2 && v->method == HBA_PEER);
	CHECK_STR(v ? v->map : NULL, "m");
	CHECK(hba_match(hba, HBA_HOST_PLAIN, ip("127.0.0.1"), "alice", "alice") == NULL);
	hba_free(hba);

	/* an empty file is valid and matches nobody */
	hba = load("# nothing yet\n", err, sizeof(err));
	CHECK(hba != NULL && hba_count(hba) == 0);
	CHECK(hba_match(hba, HBA_LOCAL, NULL, "d", "u") == NULL);
	hba_free(hba);
	CHECK(hba_match(NULL, HBA_LOCAL, NULL, "d", "u") == NULL);
	CHECK(hba_count(NULL) == 0);
	hba_free(NULL);
}

static void test_first_match_wins(void)
{
	char err[512];
	struct hba *hba = load("host all alice 127.0.0.1/32 reject\n"
			       "host all all   127.0.0.1/32 md5\n"
			       "host all alice 127.0.0.1/32 trust\n"
			       "host all all   0.0.0.0/0    scram-sha-256\n",
			       err, sizeof(err));
	CHECK(hba != NULL);
	const struct hba_verdict *v = hba_match(hba, HBA_HOST_PLAIN, ip("127.0.0.1"), "d", "alice");
	CHECK(v && v->line == 1 && v->method == HBA_REJECT);
	v = hba_match(hba, HBA_HOST_PLAIN, ip("127.0.0.1"), "d", "bob");
	CHECK(v && v->line == 2 && v->method == HBA_MD5);
	v = hba_match(hba, HBA_HOST_PLAIN, ip("127.0.0.2"), "d", "alice");
	CHECK(v && v->line == 4 && v->method == HBA_SCRAM);
	CHECK(hba_match(hba, HBA_LOCAL, NULL, "d", "alice") == NULL);
	CHECK(hba_match(hba, HBA_HOST_PLAIN, ip("::1"), "d", "alice") == NULL);
	hba_free(hba);
}

static void test_cidr_edges(void)
{
	char err[512];
	struct hba *hba = load("host all all 192.168.1.128/25 trust\n"    /* 1 */
			       "host all all 192.168.1.5/32 md5\n"        /* 2 */
			       "host all all 192.168.1.77/24 password\n"  /* 3: host bits ignored */
			       "host all all 10.0.0.0 255.0.0.0 reject\n" /* 4 */
			       "host all all 2001:db8::/32 md5\n"         /* 5 */
			       "host all all ::1/128 trust\n"             /* 6 */
			       "host all all ::ffff:0:0/96 password\n" /* 7: never, mapped are v4 */
			       "host all all 0.0.0.0/0 scram-sha-256\n" /* 8 */
			       "host all all ::/0 reject\n",            /* 9 */
			       err, sizeof(err));
	CHECK(hba != NULL);
	CHECK(line_for(hba, "192.168.1.128", "d", "u") == 1);
	CHECK(line_for(hba, "192.168.1.255", "d", "u") == 1);
	CHECK(line_for(hba, "192.168.1.127", "d", "u") == 3);
	CHECK(line_for(hba, "192.168.1.5", "d", "u") == 2);
	CHECK(line_for(hba, "192.168.1.4", "d", "u") == 3);
	CHECK(line_for(hba, "192.168.2.5", "d", "u") == 8);
	CHECK(line_for(hba, "10.255.255.255", "d", "u") == 4);
	CHECK(line_for(hba, "11.0.0.0", "d", "u") == 8);
	CHECK(line_for(hba, "2001:db8:ffff::1", "d", "u") == 5);
	CHECK(line_for(hba, "2001:db9::1", "d", "u") == 9);
	CHECK(line_for(hba, "::1", "d", "u") == 6);
	CHECK(line_for(hba, "::2", "d", "u") == 9);
	/* an IPv4-mapped client is the IPv4 address it carries */
	CHECK(line_for(hba, "::ffff:192.168.1.5", "d", "u") == 2);
	CHECK(line_for(hba, "::ffff:172.16.0.1", "d", "u") == 8);
	/* an address family the rules cannot know matches no host rule */
	struct sockaddr_storage other = { .ss_family = AF_UNIX };
	CHECK(hba_match(hba, HBA_HOST_PLAIN, (struct sockaddr *)&other, "d", "u") == NULL);
	CHECK(hba_match(hba, HBA_HOST_PLAIN, NULL, "d", "u") == NULL);
	hba_free(hba);

	hba = load("host all all 1.2.3.4/0 md5\nhost all all ::/0 trust\n", err, sizeof(err));
	CHECK(hba != NULL);
	CHECK(line_for(hba, "255.255.255.255", "d", "u") == 1);
	CHECK(line_for(hba, "ffff::", "d", "u") == 2);
	hba_free(hba);
}

/* ---- refusals ---- */

static const struct {
	const char *text;
	const char *err;
} bad_files[] = {
	{ "local all all trust\nhst all all 1.2.3.4/32 trust\n",
	  "hba.conf:2: invalid connection type \"hst\"" },
	{ "\"host\" all all 1.2.3.4/32 trust\n", "hba.conf:1: invalid connection type \"host\"" },
	{ "host,local all all 1.2.3.4/32 trust\n",
	  "hba.conf:1: multiple values specified for connection type" },
	{ "hostgssenc all all 1.2.3.4/32 trust\n",
	  "hba.conf:1: connection type \"hostgssenc\" is not supported" },
	{ "local\n", "hba.conf:1: end-of-line before database specification" },
	{ "local all\n", "hba.conf:1: end-of-line before role specification" },
	{ "local all all\n", "hba.conf:1: end-of-line before authentication method" },
	{ "host all all\n", "hba.conf:1: end-of-line before IP address specification" },
	{ "host all all 1.2.3.4/32\n", "hba.conf:1: end-of-line before authentication method" },
	{ "host all all 1.2.3.4\n", "hba.conf:1: end-of-line before netmask specification" },
	{ "host all all 1.2.3.4 trust\n", "hba.conf:1: invalid IP mask \"trust\"" },
	{ "host all all 1.2.3.4 ffff:: trust\n", "hba.conf:1: IP address and mask do not match" },
	{ "host all all 1.2.3.4/33 trust\n",
	  "hba.conf:1: invalid CIDR mask in address \"1.2.3.4/33\"" },
	{ "host all all ::1/129 trust\n", "hba.conf:1: invalid CIDR mask in address \"::1/129\"" },
	{ "host all all 1.2.3.4/ trust\n",
	  "hba.conf:1: invalid CIDR mask in address \"1.2.3.4/\"" },
	{ "host all all 1.2.3.4/2x trust\n",
	  "hba.conf:1: invalid CIDR mask in address \"1.2.3.4/2x\"" },
	{ "host all all 1.2.3.4/-1 trust\n",
	  "hba.conf:1: invalid CIDR mask in address \"1.2.3.4/-1\"" },
	{ "host all all db.example.com trust\n",
	  "hba.conf:1: host names are not supported (\"db.example.com\"): give an IP address "
	  "with a /length or a netmask" },
	{ "host all all 300.1.1.1/8 trust\n",
	  "hba.conf:1: host names are not supported (\"300.1.1.1/8\"): give an IP address "
	  "with a /length or a netmask" },
	{ "host all all samehost trust\n",
	  "hba.conf:1: \"samehost\" is not supported: give the addresses" },
	{ "host all all samenet trust\n",
	  "hba.conf:1: \"samenet\" is not supported: give the addresses" },
	{ "host all all 1.2.3.4/32,5.6.7.8/32 trust\n",
	  "hba.conf:1: multiple values specified for IP address specification" },
	{ "host all all 1.2.3.4/32 md5,trust\n",
	  "hba.conf:1: multiple values specified for authentication method" },
	{ "local samerole all trust\n",
	  "hba.conf:1: \"samerole\" is not supported: sluice does not know PostgreSQL's roles" },
	{ "local samegroup all trust\n",
	  "hba.conf:1: \"samegroup\" is not supported: sluice does not know PostgreSQL's roles" },
	{ "local all +admins trust\n",
	  "hba.conf:1: group membership (\"+admins\") is not supported: sluice does not know "
	  "PostgreSQL's roles" },
	{ "local all /^app trust\n",
	  "hba.conf:1: regular expressions (\"/^app\") are not supported in the user field" },
	{ "local /^app all trust\n",
	  "hba.conf:1: regular expressions (\"/^app\") are not supported in the database field" },
	{ "local all @ trust\n", "hba.conf:1: empty file name after @ in the user field" },
	{ "local all all ldap\n", "hba.conf:1: authentication method \"ldap\" is not supported" },
	{ "host all all 1.2.3.4/32 gss\n",
	  "hba.conf:1: authentication method \"gss\" is not supported" },
	{ "local all all pam\n", "hba.conf:1: authentication method \"pam\" is not supported" },
	{ "local all all radius\n",
	  "hba.conf:1: authentication method \"radius\" is not supported" },
	{ "host all all 1.2.3.4/32 ident\n",
	  "hba.conf:1: authentication method \"ident\" is not supported (on a local rule it "
	  "means peer)" },
	{ "local all all plain\n", "hba.conf:1: invalid authentication method \"plain\"" },
	{ "local all all \"trust\"\n", "hba.conf:1: invalid authentication method \"trust\"" },
	{ "host all all 1.2.3.4/32 peer\n",
	  "hba.conf:1: peer authentication is only supported on local sockets" },
	{ "host all all 1.2.3.4/32 cert\n",
	  "hba.conf:1: cert authentication is only supported on hostssl connections" },
	{ "local all all cert\n",
	  "hba.conf:1: cert authentication is only supported on hostssl connections" },
	{ "local all all md5 map=x\n",
	  "hba.conf:1: authentication option \"map\" is only valid for authentication methods "
	  "peer and cert" },
	{ "local all all peer map=\n", "hba.conf:1: empty map name" },
	{ "local all all peer mapx\n",
	  "hba.conf:1: authentication option not in name=value format: mapx" },
	{ "hostssl all all 1.2.3.4/32 cert clientcert=verify-full\n",
	  "hba.conf:1: authentication option \"clientcert\" is not supported" },
	{ "local all all trust include_realm=0\n",
	  "hba.conf:1: authentication option \"include_realm\" is not supported" },
	{ "local all all trust\nlocal \"all all trust\n",
	  "hba.conf:2: unterminated quoted string" },
	{ "local a,,b all trust\n", "hba.conf:1: empty name in a comma-separated list" },
	/* the line of a continued record is its first line */
	{ "local all all trust\n"
	  "host all \\\n"
	  "  all 1.2.3.4/32 \\\n"
	  "  bogus\n",
	  "hba.conf:2: invalid authentication method \"bogus\"" },
	{ "local all all trust\n\n# c\nlocal all all trust\nlocal all @nosuch.txt trust\n",
	  "hba.conf:5: DIR/nosuch.txt: No such file or directory" },
	{ "local all @badnames.txt trust\n",
	  "hba.conf:1: DIR/badnames.txt:2: unterminated quoted string" },
	{ "local all @plus.txt trust\n", "hba.conf:1: DIR/plus.txt:1: group membership "
					 "(\"+staff\") is not supported: sluice does not know "
					 "PostgreSQL's roles" },
	{ "local all @loop.txt trust\n",
	  "hba.conf:1: DIR/loop.txt:1: @file nested more than 10 deep (a loop?)" },
	/* f0 names f1 twice, ..., f9 names alice: 1023 reads, the 1001st from f8, each file within the depth */
	{ "local all @f0.txt trust\n",
	  "hba.conf:1: DIR/f8.txt:1: more than 1000 @file reads in all (a file naming itself?)" },
	{ "local all @/dev/null trust\n", "hba.conf:1: /dev/null: not a regular file" },
	{ "local all @fifo trust\n", "hba.conf:1: DIR/fifo: not a regular file" },
};

/* Replace "DIR" in want with the test directory. */
static void expand_dir(const char *want, char *out, size_t len)
{
	const char *d = strstr(want, "DIR");
	if (d == NULL)
		snprintf(out, len, "%s", want);
	else
		snprintf(out, len, "%.*s%s%s", (int)(d - want), want, dir, d + 3);
}

static void test_refusals(void)
{
	char err[1024], want[1024];

	put_file("badnames.txt", "alice\n\"bob\n");
	put_file("plus.txt", "alice, +staff\n");
	put_file("loop.txt", "@loop.txt\n");
	for (int i = 0; i < 10; i++) {
		char name[16], text[64];
		snprintf(name, sizeof(name), "f%d.txt", i);
		if (i < 9)
			snprintf(text, sizeof(text), "@f%d.txt @f%d.txt\n", i + 1, i + 1);
		else
			snprintf(text, sizeof(text), "alice\n");
		put_file(name, text);
	}
	snprintf(want, sizeof(want), "%s/fifo", dir);
	CHECK(mkfifo(want, 0600) == 0);
	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		struct hba *hba = load(bad_files[i].text, err, sizeof(err));
		expand_dir(bad_files[i].err, want, sizeof(want));
		CHECK(hba == NULL);
		CHECK_STR(err, want);
		hba_free(hba);
	}
	char missing[128];
	snprintf(missing, sizeof(missing), "%s/none.conf", dir);
	CHECK(hba_load(missing, err, sizeof(err)) == NULL);
	expand_dir("DIR/none.conf: No such file or directory", want, sizeof(want));
	CHECK_STR(err, want);
}

int main(void)
{
	strcpy(dir, "/tmp/sluice-hba-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 2;
	}
	test_lexer();
	test_read_file();
	test_forms();
	test_first_match_wins();
	test_cidr_edges();
	test_refusals();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	UNIT_DONE();
}
