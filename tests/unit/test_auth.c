/*
 * test_auth: secret classification, md5 secrets and salted responses checked
 * against PostgreSQL's values and an independent MD5, constant-time compare,
 * empty passwords, the mock secrets, the auth_file loader (quoting, comments,
 * duplicates, errors, many users) and its cache of SCRAM secrets.
 */
#include "sluice/auth.h"

#include "sluice/scram.h"

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

static void test_usable(void)
{
	char empty_alice[36], empty_bob[36], real[36];

	auth_md5_secret("alice", "", empty_alice);
	auth_md5_secret("bob", "", empty_bob);
	auth_md5_secret("alice", "pw", real);
	CHECK(!auth_secret_usable("alice", NULL));
	CHECK(!auth_secret_usable("alice", ""));
	CHECK(!auth_secret_usable("alice", empty_alice));
	CHECK(auth_secret_usable("alice", empty_bob)); /* bob's empty password is not alice's */
	CHECK(auth_secret_usable("alice", real));
	CHECK(auth_secret_usable("alice", " "));
	CHECK(auth_secret_usable("alice", PG_SCRAM));
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* A whole SCRAM exchange with `password` against `sec`; true if the server accepts. */
static bool scram_login(const struct scram_secret *sec, const char *password, char *salt_b64,
			size_t cap)
{
	char cfirst[SCRAM_MSG_MAX], sfirst[SCRAM_MSG_MAX], cfinal[SCRAM_MSG_MAX],
		sfinal[SCRAM_MSG_MAX];
	size_t n = 0, sflen = 0, cflen = 0;
	struct scram_server s;
	struct scram_client c;

	CHECK(scram_server_init(&s, sec));
	CHECK(scram_client_first(&c, NULL, cfirst, sizeof(cfirst), &n));
	CHECK(scram_server_first(&s, cfirst, n, sfirst, sizeof(sfirst), &sflen));
	if (salt_b64) {
		const char *p = strstr(sfirst, ",s="), *e = p ? strstr(p + 3, ",i=") : NULL;
		CHECK(p && e && (size_t)(e - p - 3) < cap);
		if (p && e && (size_t)(e - p - 3) < cap)
			snprintf(salt_b64, cap, "%.*s", (int)(e - p - 3), p + 3);
	}
	CHECK(scram_client_final(&c, sfirst, sflen, password, NULL, NULL, cfinal, sizeof(cfinal),
				 &cflen));
	return scram_server_final(&s, cfinal, cflen, sfinal, sizeof(sfinal), &n);
}

static void test_mock(void)
{
	uint8_t a1[AUTH_SCRAM_SALT_LEN], a2[AUTH_SCRAM_SALT_LEN], b[AUTH_SCRAM_SALT_LEN];
	struct scram_secret mock;
	char md5[36], salt_a[64], salt_again[64], salt_b[64];

	/* one salt per name, the same every time */
	CHECK(auth_mock_salt("alice", a1));
	CHECK(auth_mock_salt("alice", a2));
	CHECK(auth_mock_salt("alicf", b));
	CHECK(memcmp(a1, a2, sizeof(a1)) == 0);
	CHECK(memcmp(a1, b, sizeof(a1)) != 0);
	CHECK(!all_zero(a1, sizeof(a1)));
	CHECK(!auth_mock_salt(NULL, a2));

	/* shaped like PostgreSQL's own secrets, keys nothing hashes to */
	memset(&mock, 0xaa, sizeof(mock));
	CHECK(auth_mock_scram_secret("alice", &mock));
	CHECK(mock.iterations == AUTH_SCRAM_ITERATIONS && AUTH_SCRAM_ITERATIONS == 4096);
	CHECK(mock.salt_len == AUTH_SCRAM_SALT_LEN && AUTH_SCRAM_SALT_LEN == 16);
	CHECK(memcmp(mock.salt, a1, sizeof(a1)) == 0);
	CHECK(all_zero(mock.stored_key, SCRAM_KEY_LEN) && all_zero(mock.server_key, SCRAM_KEY_LEN));

	/* no password passes; the salt the client sees is the name's */
	CHECK(!scram_login(&mock, "", salt_a, sizeof(salt_a)));
	CHECK(!scram_login(&mock, "alice", salt_again, sizeof(salt_again)));
	CHECK_STR(salt_a, salt_again);
	CHECK(auth_mock_scram_secret("mallory", &mock));
	CHECK(!scram_login(&mock, "x", salt_b, sizeof(salt_b)));
	CHECK(strcmp(salt_a, salt_b) != 0);

	/* the md5 mock is an md5 secret, the salt in hex */
	auth_mock_md5_secret("alice", md5);
	CHECK(auth_secret_kind(md5) == SECRET_MD5);
	char hex[33];
	for (int i = 0; i < 16; i++)
		sprintf(hex + 2 * i, "%02x", a1[i]);
	CHECK(strncmp(md5, "md5", 3) == 0 && strcmp(md5 + 3, hex) == 0);
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

static bool same_secret(const struct scram_secret *a, const struct scram_secret *b)
{
	return a->iterations == b->iterations && a->salt_len == b->salt_len &&
	       memcmp(a->salt, b->salt, a->salt_len) == 0 &&
	       memcmp(a->stored_key, b->stored_key, SCRAM_KEY_LEN) == 0 &&
	       memcmp(a->server_key, b->server_key, SCRAM_KEY_LEN) == 0;
}

/* The SCRAM secret a cleartext password gets: the mock salt of its user, 4096 iterations. */
static struct scram_secret derived_for(const char *user, const char *password)
{
	struct scram_secret sec = { 0 };
	uint8_t salt[AUTH_SCRAM_SALT_LEN];

	CHECK(auth_mock_salt(user, salt));
	CHECK(scram_secret_from_password(password, salt, sizeof(salt), 4096, &sec));
	return sec;
}

static void test_authfile_scram(void)
{
	char empty_md5[36], md5[36], err[256], text[1024];
	struct scram_secret got, again, want, untouched;

	auth_md5_secret("frank", "", empty_md5);
	auth_md5_secret("erin", "pw", md5);
	snprintf(text, sizeof(text),
		 "\"alice\" \"Alice-pw\"\n\"bob\" \"Bob-pw\"\n\"carol\" \"\"\n"
		 "\"dave\" \"" PG_SCRAM "\"\n\"erin\" \"%s\"\n\"frank\" \"%s\"\n",
		 md5, empty_md5);
	struct authfile *af = load_text(text, strlen(text), err, sizeof(err));
	CHECK(af != NULL);
	if (af == NULL)
		return;

	/* cleartext: derived with the user's mock salt, the same on every call */
	want = derived_for("alice", "Alice-pw");
	CHECK(authfile_scram_secret(af, "alice", &got));
	CHECK(authfile_scram_secret(af, "alice", &again));
	CHECK(same_secret(&got, &want) && same_secret(&again, &want));
	/* stored SCRAM: as stored */
	CHECK(scram_parse_secret(PG_SCRAM, &want));
	CHECK(authfile_scram_secret(af, "dave", &got));
	CHECK(same_secret(&got, &want));

	/* nothing to verify against: empty, md5, empty md5, unknown, no file */
	static const char *const none[] = { "carol", "erin", "frank", "mallory", "Alice", "" };
	memset(&untouched, 0x5a, sizeof(untouched));
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		got = untouched;
		CHECK(!authfile_scram_secret(af, none[i], &got));
		CHECK(memcmp(&got, &untouched, sizeof(got)) == 0);
	}
	CHECK(!authfile_scram_secret(NULL, "alice", &got));

	/* a reload: alice unchanged keeps her keys, bob's new password gets new ones */
	want = derived_for("bob", "Bob-pw");
	CHECK(authfile_scram_secret(af, "bob", &got) && same_secret(&got, &want));
	static const char text2[] = "\"alice\" \"Alice-pw\"\n\"bob\" \"Bob-new\"\n"
				    "\"carol\" \"now-set\"\n";
	struct authfile *af2 = load_text(text2, strlen(text2), err, sizeof(err));
	CHECK(af2 != NULL);
	authfile_keep_derived(af2, af);
	authfile_keep_derived(af2, NULL);
	authfile_keep_derived(NULL, af);
	authfile_free(af);
	want = derived_for("alice", "Alice-pw");
	CHECK(authfile_scram_secret(af2, "alice", &got) && same_secret(&got, &want));
	want = derived_for("bob", "Bob-new");
	CHECK(authfile_scram_secret(af2, "bob", &got) && same_secret(&got, &want));
	want = derived_for("carol", "now-set");
	CHECK(authfile_scram_secret(af2, "carol", &got) && same_secret(&got, &want));
	CHECK(!authfile_scram_secret(af2, "dave", &got));
	authfile_free(af2);
}

/* A secret that did not come from auth_file (auth_query): the same rules, no file. */
static void test_scram_secret_of(void)
{
	char md5[36], empty_md5[36];
	struct scram_secret got, want, untouched;

	want = derived_for("alice", "Alice-pw");
	CHECK(auth_scram_secret_of("alice", "Alice-pw", &got) && same_secret(&got, &want));
	CHECK(scram_parse_secret(PG_SCRAM, &want));
	CHECK(auth_scram_secret_of("dave", PG_SCRAM, &got) && same_secret(&got, &want));
	auth_md5_secret("erin", "pw", md5);
	auth_md5_secret("erin", "", empty_md5);
	const char *const none[] = { md5, empty_md5, "", NULL };
	memset(&untouched, 0x5a, sizeof(untouched));
	for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++) {
		got = untouched;
		CHECK(!auth_scram_secret_of("erin", none[i], &got));
		CHECK(memcmp(&got, &untouched, sizeof(got)) == 0);
	}
}

int main(void)
{
	test_secret_kind();
	test_md5();
	test_secure_equal();
	test_usable();
	test_mock();
	test_authfile_good();
	test_authfile_errors();
	test_authfile_many();
	test_authfile_scram();
	test_scram_secret_of();
	UNIT_DONE();
}
