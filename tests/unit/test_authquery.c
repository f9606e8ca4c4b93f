/*
 * test_authquery: where and as whom auth_query looks users up
 * (authquery_target_for): the entry's own keys over the global ones, the
 * server and database auth_dbname names, and where auth_user's password
 * comes from. The look-ups themselves need PostgreSQL: see
 * tests/integration/test_auth_query.py.
 */
#include "sluice/authquery.h"

#include "sluice/auth.h"
#include "sluice/config.h"

#include "unit.h"

#include <unistd.h>

/* Write text to a temporary file and load it with `load`; NULL on failure. */
static void *load_tmp(const char *text, void *(*load)(const char *path))
{
	char path[64] = "/tmp/sluice-authquery-XXXXXX";
	int fd = mkstemp(path);
	size_t len = strlen(text);

	CHECK(fd >= 0);
	CHECK(write(fd, text, len) == (ssize_t)len);
	close(fd);
	void *obj = load(path);
	unlink(path);
	return obj;
}

static void *load_config(const char *path)
{
	char err[512];
	struct config *cfg = config_load(path, err, sizeof(err));
	if (cfg == NULL)
		fprintf(stderr, "config: %s\n", err);
	return cfg;
}

static void *load_authfile(const char *path)
{
	char err[512];
	struct authfile *af = authfile_load(path, err, sizeof(err));
	if (af == NULL)
		fprintf(stderr, "auth_file: %s\n", err);
	return af;
}

static const char ini[] =
	"[databases]\n"
	"app = host=10.0.0.1 port=5433 dbname=app_real\n"
	"own = host=10.0.0.2 auth_user=owner auth_query='SELECT a, b FROM f($1)'\n"
	"elsewhere = host=10.0.0.3 auth_dbname=authdb\n"
	"authdb = host=10.0.0.9 port=6000 dbname=auth_real user=lookup password=entry-pw\n"
	"missing = host=10.0.0.4 auth_dbname=nosuchentry\n"
	"withpw = host=/run/pg password=db-pw\n"
	"forced = host=10.0.0.5 user=someone password=someones-pw\n"
	"verifier = host=10.0.0.6 auth_user=hashed\n"
	"nopw = auth_user=nobody\n"
	"[sluice]\n"
	"auth_user = lookup\n";

static const char userlist[] = "\"lookup\" \"file-pw\"\n"
			       "\"hashed\" \"md5a3556571e93b0d20722ba62be61e8c2d\"\n";

static void test_targets(void)
{
	struct config *cfg = load_tmp(ini, load_config);
	struct authfile *af = load_tmp(userlist, load_authfile);
	struct authquery_target t;

	CHECK(cfg != NULL && af != NULL);
	if (cfg == NULL || af == NULL)
		return;

	/* the client's own database, the global auth_user, its cleartext auth_file line */
	CHECK(authquery_target_for(cfg, af, "app", &t));
	CHECK_STR(t.host, "10.0.0.1");
	CHECK(t.port == 5433);
	CHECK_STR(t.dbname, "app_real");
	CHECK_STR(t.user, "lookup");
	CHECK_STR(t.query, cfg->auth_query);
	CHECK_STR(t.password, "file-pw");
	CHECK(t.pw_source == AUTHQUERY_PW_AUTH_FILE);

	/* the entry's own auth_user and auth_query */
	CHECK(authquery_target_for(cfg, af, "own", &t));
	CHECK_STR(t.user, "owner");
	CHECK_STR(t.query, "SELECT a, b FROM f($1)");
	CHECK_STR(t.dbname, "own");
	CHECK(t.password == NULL && t.pw_source == AUTHQUERY_PW_NONE);

	/* auth_dbname names an entry: its server, its dbname=, its password= (same user) */
	CHECK(authquery_target_for(cfg, af, "elsewhere", &t));
	CHECK_STR(t.host, "10.0.0.9");
	CHECK(t.port == 6000);
	CHECK_STR(t.dbname, "auth_real");
	CHECK_STR(t.password, "entry-pw");
	CHECK(t.pw_source == AUTHQUERY_PW_ENTRY);

	/* auth_dbname without an entry: that database on the client's server */
	CHECK(authquery_target_for(cfg, af, "missing", &t));
	CHECK_STR(t.host, "10.0.0.4");
	CHECK(t.port == 5432);
	CHECK_STR(t.dbname, "nosuchentry");
	CHECK_STR(t.password, "file-pw");

	/* an entry's password= with no user= is anyone's, auth_user's too */
	CHECK(authquery_target_for(cfg, af, "withpw", &t));
	CHECK_STR(t.host, "/run/pg");
	CHECK_STR(t.password, "db-pw");
	/* ... but with user= it is that user's */
	CHECK(authquery_target_for(cfg, af, "forced", &t));
	CHECK_STR(t.password, "file-pw");

	/* an md5 verifier cannot log libpq in: no password, and the log says why */
	CHECK(authquery_target_for(cfg, af, "verifier", &t));
	CHECK(t.password == NULL && t.pw_source == AUTHQUERY_PW_VERIFIER);
	CHECK(authquery_target_for(cfg, NULL, "nopw", &t));
	CHECK(t.host == NULL && t.password == NULL && t.pw_source == AUTHQUERY_PW_NONE);

	/* no entry and no "*": no look-up */
	CHECK(!authquery_target_for(cfg, af, "unknown", &t));
	config_free(cfg);
	authfile_free(af);
}

static void test_no_lookup(void)
{
	struct config *cfg = load_tmp("[databases]\n* = host=x\nq = auth_query='SELECT 1, 2'\n"
				      "[sluice]\n",
				      load_config);
	struct authquery_target t;

	CHECK(cfg != NULL);
	if (cfg == NULL)
		return;
	/* without auth_user, nothing is looked up, whatever the query */
	CHECK(!authquery_target_for(cfg, NULL, "anything", &t));
	CHECK(!authquery_target_for(cfg, NULL, "q", &t));
	/* the "*" entry serves a database of the client's name */
	char err[256];
	CHECK(config_set_key(cfg, "auth_user", "lookup", err, sizeof(err)));
	CHECK(authquery_target_for(cfg, NULL, "anything", &t));
	CHECK_STR(t.host, "x");
	CHECK_STR(t.dbname, "anything");
	config_free(cfg);
	CHECK_STR(authquery_result_str(AUTHQUERY_NOT_FOUND), "not found");
}

int main(void)
{
	test_targets();
	test_no_lookup();
	UNIT_DONE();
}
