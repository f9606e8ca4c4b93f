/*
 * test_ident: the auth_ident_file loader and ident_map_allows: plain lines,
 * several maps, `all`, quoted names, regular expressions with and without
 * `\1`, and every refusal with its line number.
 */
#include "sluice/ident.h"

#include "unit.h"

#include <unistd.h>

static char path[64];

static struct ident_map *load(const char *text, char *err, size_t errlen)
{
	char full[1024] = "";
	strcpy(path, "/tmp/sluice-ident-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		perror(path);
		exit(2);
	}
	close(fd);
	struct ident_map *m = ident_map_load(path, full, sizeof(full));
	unlink(path);
	size_t plen = strlen(path);
	snprintf(err, errlen, "%s", strncmp(full, path, plen) == 0 ? full + plen : full);
	return m;
}

static void test_allows(void)
{
	char err[512];
	struct ident_map *m = load("# MAPNAME SYSTEM-USERNAME PG-USERNAME\n"
				   "os      root       app_admin\n"
				   "os      root       app_reader\n"
				   "os      deploy     app_admin   # a comment\n"
				   "other   root       postgres\n"
				   "any     backup     all\n"
				   "quoted  \"j doe\"    \"all\"\n"
				   "certs   /^(.*)@example\\.com$   \\1\n"
				   "certs   /^svc-([a-z]+)$   app_\\1_rw\n"
				   "certs   /^ops-   ops\n"
				   "limits  /^[a-z0-9._-]{3}(\\.[a-z]+)*$   app\n"
				   "\\\n"
				   "cont \\\n"
				   "  alice bob\n",
				   err, sizeof(err));
	CHECK(m != NULL);
	if (m == NULL) {
		fprintf(stderr, "load failed: %s\n", err);
		return;
	}
	CHECK(ident_map_count(m) == 11);
	CHECK(ident_map_allows(m, "limits", "db1.eu.example", "app"));
	CHECK(ident_map_allows(m, "os", "root", "app_admin"));
	CHECK(ident_map_allows(m, "os", "root", "app_reader"));
	CHECK(ident_map_allows(m, "os", "deploy", "app_admin"));
	CHECK(!ident_map_allows(m, "os", "deploy", "app_reader"));
	CHECK(!ident_map_allows(m, "os", "root", "postgres")); /* that line is map "other" */
	CHECK(ident_map_allows(m, "other", "root", "postgres"));
	CHECK(!ident_map_allows(m, "os", "Root", "app_admin")); /* case-sensitive */
	CHECK(!ident_map_allows(m, "OS", "root", "app_admin"));
	CHECK(!ident_map_allows(m, "nosuchmap", "root", "app_admin"));
	/* all */
	CHECK(ident_map_allows(m, "any", "backup", "whoever"));
	CHECK(!ident_map_allows(m, "any", "backup2", "whoever"));
	/* quoted: a name with a blank, and "all" as a plain name */
	CHECK(ident_map_allows(m, "quoted", "j doe", "all"));
	CHECK(!ident_map_allows(m, "quoted", "j doe", "someone"));
	/* regular expressions, with \1 */
	CHECK(ident_map_allows(m, "certs", "alice@example.com", "alice"));
	CHECK(!ident_map_allows(m, "certs", "alice@example.com", "bob"));
	CHECK(!ident_map_allows(m, "certs", "alice@example.org", "alice"));
	CHECK(!ident_map_allows(m, "certs", "alice@exampleXcom", "alice"));
	CHECK(ident_map_allows(m, "certs", "@example.com", ""));
	CHECK(ident_map_allows(m, "certs", "svc-billing", "app_billing_rw"));
	CHECK(!ident_map_allows(m, "certs", "svc-billing", "app_billing"));
	CHECK(!ident_map_allows(m, "certs", "svc-Billing", "app_Billing_rw"));
	/* an unanchored expression matches anywhere; no \1: the name as written */
	CHECK(ident_map_allows(m, "certs", "ops-1", "ops"));
	CHECK(ident_map_allows(m, "certs", "xops-1", "ops") == false);
	CHECK(!ident_map_allows(m, "certs", "ops-1", "ops-1"));
	/* continuation lines */
	CHECK(ident_map_allows(m, "cont", "alice", "bob"));
	ident_map_free(m);

	m = load("", err, sizeof(err));
	CHECK(m != NULL && ident_map_count(m) == 0);
	CHECK(!ident_map_allows(m, "os", "root", "root"));
	ident_map_free(m);
	CHECK(!ident_map_allows(NULL, "os", "root", "root"));
	CHECK(ident_map_count(NULL) == 0);
	ident_map_free(NULL);
}

static const struct {
	const char *text;
	const char *err;
} bad_files[] = {
	{ "os root\n", ":1: expected 3 fields (map name, system user, database user), found 2" },
	{ "os root app extra\n",
	  ":1: expected 3 fields (map name, system user, database user), found 4" },
	{ "os root app\nos root,deploy app\n",
	  ":2: multiple values specified for system user name" },
	{ "os,os2 root app\n", ":1: multiple values specified for map name" },
	{ "os root app,app2\n", ":1: multiple values specified for database user name" },
	{ "os root +admins\n", ":1: a group (\"+admins\") as the database user is not supported" },
	{ "os root /^app\n",
	  ":1: a regular expression (\"/^app\") as the database user is not supported" },
	{ "os /^(abc app\n", ":1: invalid regular expression \"/^(abc\": " },
	{ "os /^abc$ x\\1\n", ":1: regular expression \"/^abc$\" has no group to fill \\1 in "
			      "\"x\\1\"" },
	{ "# c\n\nos \"root app\n", ":3: unterminated quoted string" },
	/* glibc computes epsilon closures exponentially in a stack of quantifiers */
	{ "os /^(.*)@x++++++++++++++++++++++++++++++++++++++++ app\n",
	  ":1: invalid regular expression \"/^(.*)@x++++++++++++++++++++++++++++++++++++++++\": "
	  "a quantifier follows a quantifier" },
	{ "os /^(.*)++++++:++)+++++)sameuser all\n", /* found by fuzz_hba: 15 s in regcomp */
	  ":1: invalid regular expression \"/^(.*)++++++:++)+++++)sameuser\": a quantifier "
	  "follows a quantifier" },
	{ "os /^a*?? app\n", ":1: invalid regular expression \"/^a*??\": a quantifier follows" },
	{ "os /^a{2}* app\n", ":1: invalid regular expression \"/^a{2}*\": a quantifier follows" },
	/* glibc's regcomp copies a quantified operand per repetition: these would take GBs */
	{ "os /^((a{100}){100}){100}$ app\n",
	  ":1: regular expression \"/^((a{100}){100}){100}$\" is too complex" },
	{ "os /^a{99999999999999999999}$ app\n",
	  ":1: regular expression \"/^a{99999999999999999999}$\" is too complex" },
};

static void test_refusals(void)
{
	char err[512];

	for (size_t i = 0; i < sizeof(bad_files) / sizeof(bad_files[0]); i++) {
		struct ident_map *m = load(bad_files[i].text, err, sizeof(err));
		CHECK(m == NULL);
		/* regerror's own words differ between C libraries: compare up to them */
		size_t n = strlen(bad_files[i].err);
		CHECK(strncmp(err, bad_files[i].err, n) == 0);
		if (strncmp(err, bad_files[i].err, n) != 0)
			fprintf(stderr, "got: %s\nwant: %s\n", err, bad_files[i].err);
		ident_map_free(m);
	}
	CHECK(ident_map_load("/nonexistent/ident.conf", err, sizeof(err)) == NULL);
	CHECK_STR(err, "/nonexistent/ident.conf: No such file or directory");
}

/* Quantifier-like characters inside brackets or escaped, and a lazy "?", are not stacks. */
static void test_not_stacked(void)
{
	char err[512] = "";
	struct ident_map *m = load("os /^[]+*]+\\+*x*?[[:alpha:]*]*@(.*)$ \\1\n", err, sizeof(err));

	CHECK(m != NULL);
	if (m == NULL)
		fprintf(stderr, "refused: %s\n", err);
	CHECK(ident_map_allows(m, "os", "]+*++abc@app", "app"));
	CHECK(!ident_map_allows(m, "os", "x@app", "app"));
	ident_map_free(m);
}

int main(void)
{
	test_allows();
	test_refusals();
	test_not_stacked();
	UNIT_DONE();
}
