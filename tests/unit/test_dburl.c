/*
 * test_dburl: libpq connection URIs into their parts: every part, percent
 * decoding, IPv6 hosts, query parameters, and each refusal with its message
 * (which must never quote the password).
 */
#include "sluice/dburl.h"

#include "unit.h"

static void test_full(void)
{
	struct dburl u;
	char err[256];

	CHECK(dburl_parse("postgresql://app:s%40cr%2Fet@db.example.com:6543/appdb"
			  "?sslmode=verify-full&sslrootcert=/ca.pem&connect_timeout=5",
			  &u, err, sizeof(err)));
	CHECK_STR(u.user, "app");
	CHECK_STR(u.password, "s@cr/et");
	CHECK_STR(u.host, "db.example.com");
	CHECK(u.port == 6543);
	CHECK_STR(u.dbname, "appdb");
	CHECK_STR(u.sslmode, "verify-full");
	CHECK_STR(u.sslrootcert, "/ca.pem");
	CHECK_STR(u.connect_timeout, "5");
	CHECK(u.sslcert == NULL && u.sslkey == NULL);
	dburl_free(&u);
	CHECK(u.user == NULL && u.password == NULL);
}

static void test_short_forms(void)
{
	struct dburl u;
	char err[256];

	CHECK(dburl_parse("postgres://bob@[::1]:5433/x", &u, err, sizeof(err)));
	CHECK_STR(u.user, "bob");
	CHECK(u.password == NULL);
	CHECK_STR(u.host, "::1");
	CHECK(u.port == 5433);
	dburl_free(&u);

	CHECK(dburl_parse("postgresql://", &u, err, sizeof(err)));
	CHECK(u.user == NULL && u.host == NULL && u.port == 0 && u.dbname == NULL);
	dburl_free(&u);

	/* an unencoded '@' in the password: the last '@' ends it */
	CHECK(dburl_parse("postgresql://u:a@b@h/db", &u, err, sizeof(err)));
	CHECK_STR(u.password, "a@b");
	CHECK_STR(u.host, "h");
	dburl_free(&u);

	/* parameters may give what the URI does not, and win */
	CHECK(dburl_parse(
		"postgresql:///db?host=%2Fvar%2Frun%2Fpostgresql&port=5444&user=me&dbname=other",
		&u, err, sizeof(err)));
	CHECK_STR(u.host, "/var/run/postgresql");
	CHECK(u.port == 5444);
	CHECK_STR(u.user, "me");
	CHECK_STR(u.dbname, "other");
	dburl_free(&u);

	CHECK(dburl_parse("postgresql://h/db?", &u, err, sizeof(err)));
	CHECK_STR(u.dbname, "db");
	dburl_free(&u);
}

static void refused(const char *url, const char *want)
{
	struct dburl u;
	char err[256] = "";

	CHECK(!dburl_parse(url, &u, err, sizeof(err)));
	if (strstr(err, want) == NULL) {
		fprintf(stderr, "%s: error \"%s\", expected \"%s\"\n", url, err, want);
		unit_failures++;
	}
	CHECK(strstr(err, "hunter2") == NULL);
	CHECK(u.user == NULL && u.password == NULL && u.host == NULL);
}

static void test_refusals(void)
{
	refused("host=x dbname=y", "must begin with postgresql://");
	refused("http://u:hunter2@h/db", "must begin with postgresql://");
	refused("postgresql://u:hunter2@a,b/db", "several hosts");
	refused("postgresql://u:hunter2@h:0/db", "port must be a number");
	refused("postgresql://u:hunter2@h:5x/db", "port must be a number");
	refused("postgresql://u:hunter2@h:70000/db", "port must be a number");
	refused("postgresql://u:hunter2@[::1/db", "[address]");
	refused("postgresql://u:hunter2@[::1]x/db", "[address]");
	refused("postgresql://u:hunter2%2@h/db", "invalid percent-encoding");
	refused("postgresql://u:hunter2%00@h/db", "%00 is not allowed");
	refused("postgresql://u:hunter2@h/db?sslmode", "without '='");
	refused("postgresql://u:hunter2@h/db?port=x", "port:");
	refused("postgresql://u:hunter2@h/db?options=-c%20x", "unknown parameter \"options\"");
	refused("postgresql://u:hunter2@h/db?sslkey=%zz", "sslkey: invalid percent-encoding");
}

int main(void)
{
	test_full();
	test_short_forms();
	test_refusals();
	UNIT_DONE();
}
