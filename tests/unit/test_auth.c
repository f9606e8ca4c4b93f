/*
 * test_auth: secret classification, md5 secrets and salted responses checked
 * against PostgreSQL's values and an independent MD5, constant-time compare,
 * and the auth_file loader: quoting, comments, duplicates, errors, many users.
 */
#include "sluice/auth.h"

#include "unit.h"

#include <errno.h>
#include <unistd.h>

#include <openssl/evp.h>

#define PG_SCRAM                                                                                   \
	"SCRAM-SHA-256$4096:7XjO7XNPJn3KCocOThW3Aw==$pRafyXJtnosqIrZm4NRuXUJN3kacLdgVVA25zXnOZ2E=" \
	":"                                                                                        \
	"kT2pSG5nb+rGeqEVpSCHYPe2k5v5s9fbHpHe/8JsCrM="

static void test_secret_kind(void)
{
	static const struct {
		const char *secret;
		enum secret_kind kind;
	} cases[] = {
		{ "md53175bce1d3201d16594cebf9d7eb3f9d", SECRET_MD5 },
		{ "md53175BCE1D3201D16594CEBF9D7EB3F9D", SECRET_PLAIN },
		{ "md53175bce1d3201d16594cebf9d7eb3f9", SECRET_PLAIN },
		{ "md53175bce1d3201d16594cebf9d7eb3f9d0", SECRET_PLAIN },
		{ "md53175bce1d3201d16594cebf9d7eb3f9g", SECRET_PLAIN },
		{ PG_SCRAM, SECRET_SCRAM },
		{ "SCRAM-SHA-256$4096:7XjO7XNPJn3KCocOThW3Aw==$garbage", SECRET_PLAIN },
		{ "scram-sha-256$", SECRET_PLAIN },
		{ "postgres", SECRET_PLAIN },
		{ "", SECRET_PLAIN },
		{ NULL, SECRET_PLAIN },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(auth_secret_kind(cases[i].secret) == cases[i].kind);
}

/* "md5" + hex(md5(a + b)) computed here with one EVP_Digest over a joined buffer. */
static void reference_md5(const char *a, const uint8_t *b, size_t blen, char out[36])
{
	unsigned char buf[256], digest[16];
	unsigned int n = 0;
	size_t alen = strlen(a);

	memcpy(buf, a, alen);
	memcpy(buf + alen, b, blen);
	CHECK(EVP_Digest(buf, alen + blen, digest, &n, EVP_md5(), NULL) && n == 16);
	strcpy(out, "md5");
	for (int i = 0; i < 16; i++)
		sprintf(out + 3 + 2 * i, "%02x", digest[i]);
}

static void test_md5(void)
{
	static const uint8_t salt1[4] = { 1, 2, 3, 4 }, salt2[4] = { 0xde, 0xad, 0xbe, 0xef };
	char secret[36], resp[36], expect[36];

	auth_md5_secret("postgres", "postgres", secret);
	CHECK_STR(secret, "md53175bce1d3201d16594cebf9d7eb3f9d");
	/* from Python's hashlib: md5(hex + salt) */
	auth_md5_response("postgres", "postgres", salt1, resp);
	CHECK_STR(resp, "md568be9ed08db75f318087ab337aaea044");
	auth_md5_response("postgres", secret, salt2, resp);
	CHECK_STR(resp, "md58ee245854025535aedb7b15709315318");

	auth_md5_secret("alice", "wonder land", secret);
	reference_md5("wonder land", (const uint8_t *)"alice", 5, expect);
	CHECK_STR(secret, expect);
	reference_md5(secret + 3, salt2, 4, expect);
	auth_md5_response("alice", secret, salt2, resp);
	CHECK_STR(resp, expect);
	auth_md5_response("alice", "wonder land", salt2, resp);
	CHECK_STR(resp, expect);
	auth_md5_response("bob", "wonder land", salt2, resp); /* the user is part of the secret */
	CHECK(strcmp(resp, expect) != 0);

	memset(resp, 'x', sizeof(resp));
	auth_md5_response("u", PG_SCRAM, salt1, resp);
	CHECK_STR(resp, "");
}

static void test_secure_equal(void)
{
	CHECK(auth_secure_equal("abc", "abc"));
	CHECK(auth_secure_equal("", ""));
	CHECK(!auth_secure_equal("abc", "abd"));
	CHECK(!auth_secure_equal("abc", "abcd"));
	CHECK(!auth_secure_equal("abcd", "abc"));
	CHECK(!auth_secure_equal(NULL, "abc"));
	CHECK(!auth_secure_equal("abc", NULL));
}

/* Write `text` to a new temporary file; its path goes into path[64]. */
static void write_file(char path[64], const char *text, size_t len)
{
	int fd;

	strcpy(path, "/tmp/sluice-authfile-XXXXXX");
	fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK(write(fd, text, len) == (ssize_t)len);
	close(fd);
}

/* Load `text` as an auth_file; err gets the message with the path replaced by "F". */
static struct authfile *load_text(const char *text, size_t len, char *err, size_t errlen)
{
	char path[64], raw[256];
	struct authfile *af;

	write_file(path, text, len);
	raw[0] = '\0';
	af = authfile_load(path, raw, sizeof(raw));
	unlink(path);
	if (strncmp(raw, path, strlen(path)) == 0)
		snprintf(err, errlen, "F%s", raw + strlen(path));
	else
		snprintf(err, errlen, "%s", raw);
	return af;
}

static void test_authfile_good(void)
{
	static const char text[] = "; PgBouncer-style comment\n"
				   "# another comment\n"
				   "\n"
				   "   \t\n"
				   "\"alice\" \"md53175bce1d3201d16594cebf9d7eb3f9d\"\n"
				   "\"bob\"\t\"plain pass\" extra text is ignored\n"
				   "  \"say \"\"hi\"\"\" \"a\"\"b\"\r\n"
				   "\"carol\" \"\"\n"
				   "\"alice\" \"later wins\"\n"
				   "\"dave\" \"" PG_SCRAM "\"";
	char err[256];
	struct authfile *af = load_text(text, strlen(text), err, sizeof(err));

	CHECK(af != NULL);
	CHECK(authfile_count(af) == 5);
	CHECK_STR(authfile_lookup(af, "alice"), "later wins");
	CHECK_STR(authfile_lookup(af, "bob"), "plain pass");
	CHECK_STR(authfile_lookup(af, "say \"hi\""), "a\"b");
	CHECK_STR(authfile_lookup(af, "carol"), "");
	CHECK_STR(authfile_lookup(af, "dave"), PG_SCRAM);
	CHECK(authfile_lookup(af, "Alice") == NULL);
	CHECK(authfile_lookup(af, "") == NULL);
	CHECK(authfile_lookup(af, NULL) == NULL);
	authfile_free(af);

	af = load_text("", 0, err, sizeof(err));
	CHECK(af != NULL && authfile_count(af) == 0);
	CHECK(authfile_lookup(af, "alice") == NULL);
	authfile_free(af);
	CHECK(authfile_count(NULL) == 0 && authfile_lookup(NULL, "x") == NULL);
	authfile_free(NULL);
}

static void test_authfile_errors(void)
{
	static const struct {
		const char *text;
		const char *err;
	} cases[] = {
		{ "\"a\" \"b\"\nalice \"x\"\n", "F:2: expected a quoted user name" },
		{ "\"alice\n", "F:1: unterminated user name" },
		{ "\"alice\" \"x\n\"\n", "F:1: unterminated secret" },
		{ "\"alice\"\n", "F:1: expected a quoted secret after the user name" },
		{ "\"alice\" x \"y\"\n", "F:1: expected a quoted secret after the user name" },
		{ ";\n;\n\"\" \"x\"\n", "F:3: empty user name" },
		{ "\"a\"b\" \"c\"", "F:1: expected a quoted secret after the user name" },
	};
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(load_text(cases[i].text, strlen(cases[i].text), err, sizeof(err)) == NULL);
		CHECK_STR(err, cases[i].err);
	}
	CHECK(load_text("\"a\" \"b\"\n\"c\0\" \"d\"\n", 18, err, sizeof(err)) == NULL);
	CHECK_STR(err, "F:2: NUL byte in line");
	CHECK(authfile_load("/nonexistent/userlist.txt", err, sizeof(err)) == NULL);
	CHECK_STR(err, "/nonexistent/userlist.txt: No such file or directory");
	CHECK(authfile_load("/tmp", err, sizeof(err)) == NULL);
	CHECK_STR(err, "/tmp: Is a directory");
}

/* Thousands of users, written in reverse order, all found. */
static void test_authfile_many(void)
{
	enum { N = 5000 };
	size_t cap = N * 40, len = 0;
	char *text = malloc(cap), user[32], secret[32], err[256];
	struct authfile *af;
	size_t found = 0;

	for (int i = N - 1; i >= 0; i--)
		len += (size_t)snprintf(text + len, cap - len, "\"user%d\" \"pw%d\"\n", i, i);
	af = load_text(text, len, err, sizeof(err));
	CHECK(af != NULL && authfile_count(af) == N);
	for (int i = 0; i < N; i++) {
		const char *got;

		snprintf(user, sizeof(user), "user%d", i);
		snprintf(secret, sizeof(secret), "pw%d", i);
		got = authfile_lookup(af, user);
		found += got && strcmp(got, secret) == 0;
	}
	CHECK(found == N);
	CHECK(authfile_lookup(af, "user5000") == NULL);
	CHECK(authfile_lookup(af, "user") == NULL);
	authfile_free(af);
	free(text);
}

int main(void)
{
	test_secret_kind();
	test_md5();
	test_secure_equal();
	test_authfile_good();
	test_authfile_errors();
	test_authfile_many();
	UNIT_DONE();
}
