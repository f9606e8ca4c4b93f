/*
 * test_scram: SCRAM-SHA-256 against RFC 7677's exchange and secrets made by
 * PostgreSQL's libpq, then both sides against each other: round trips,
 * wrong passwords, nonces, pass-through login, malformed and truncated input.
 */
#include "sluice/scram.h"

#include "unit.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define OUT_CAP 1024

/* RFC 7677 section 3. */
#define RFC_CLIENT_FIRST "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define RFC_SERVER_NONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_SERVER_FIRST                                                                   \
	"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==," \
	"i=4096"
#define RFC_CLIENT_FINAL                                               \
	"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," \
	"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

/* Secrets from libpq 15's PQencryptPasswordConn(conn, password, "u", "scram-sha-256"). */
static const struct {
	const char *password;
	const char *secret;
} pg_secrets[] = {
	{ "correct horse battery staple", "SCRAM-SHA-256$4096:7XjO7XNPJn3KCocOThW3Aw==$"
					  "pRafyXJtnosqIrZm4NRuXUJN3kacLdgVVA25zXnOZ2E=:"
					  "kT2pSG5nb+rGeqEVpSCHYPe2k5v5s9fbHpHe/8JsCrM=" },
	{ "p\xc3\xa4ssw\xc3\xb6rd", /* NFKC-stable UTF-8: SASLprep leaves it alone */
	  "SCRAM-SHA-256$4096:LPXy5ZPJUoxqlKXC0tko2Q==$mt0+g6hrO+VlSVWAO5e+Ft/"
	  "xJLwQdLFJI1xOH0mHHrM=:"
	  "oMXbMQoQBmTl/gzZLRLw4plAoRHefhCy61WtVQO8K/I=" },
	{ "x\"y,=z", "SCRAM-SHA-256$4096:KmaBSNd7qnzsaE8PGVTMTw==$"
		     "hTkxDDbahQcxilqyMNHD2vhhQcn4uCSOiJqwvEuj0SI=:"
		     "ezhRYuLuwzpIMvhHrwEdxBa97Gc27UhqquDjMtJXjhI=" },
};

/* The RFC salt, decoded with OpenSSL rather than scram.c's base64. */
static size_t rfc_salt(uint8_t salt[SCRAM_SALT_MAX])
{
	static const char b64[] = "W22ZaJ0SNY7soEsUEjb6gQ==";
	int n = EVP_DecodeBlock(salt, (const unsigned char *)b64, (int)strlen(b64));

	CHECK(n == 18);
	return 16; /* EVP_DecodeBlock counts the two padding bytes */
}

static struct scram_secret make_secret(const char *password)
{
	static const uint8_t salt[16] = "0123456789abcdef";
	struct scram_secret sec;

	CHECK(scram_secret_from_password(password, salt, sizeof(salt), 4096, &sec));
	return sec;
}

static void test_rfc_client(void)
{
	struct scram_client c;
	char out[OUT_CAP];
	size_t len = 0;

	CHECK(scram_client_first_user(&c, "user", "rOprNGfwEbeRWgbNEkqO", out, sizeof(out), &len));
	CHECK_STR(out, RFC_CLIENT_FIRST);
	CHECK(len == strlen(RFC_CLIENT_FIRST));
	CHECK(scram_client_final(&c, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), "pencil", NULL,
				 NULL, out, sizeof(out), &len));
	CHECK_STR(out, RFC_CLIENT_FINAL);
	CHECK(scram_client_verify(&c, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL)));
}

static void test_rfc_server(void)
{
	uint8_t salt[SCRAM_SALT_MAX];
	size_t salt_len = rfc_salt(salt);
	struct scram_secret sec;
	struct scram_server s;
	char out[OUT_CAP];
	size_t len = 0;

	CHECK(scram_secret_from_password("pencil", salt, salt_len, 4096, &sec));
	CHECK(scram_server_init(&s, &sec));
	CHECK(scram_server_set_nonce(&s, RFC_SERVER_NONCE));
	CHECK(scram_server_first(&s, RFC_CLIENT_FIRST, strlen(RFC_CLIENT_FIRST), out, sizeof(out),
				 &len));
	CHECK_STR(out, RFC_SERVER_FIRST);
	CHECK(scram_server_final(&s, RFC_CLIENT_FINAL, strlen(RFC_CLIENT_FINAL), out, sizeof(out),
				 &len));
	CHECK_STR(out, RFC_SERVER_FINAL);
	CHECK(len == strlen(RFC_SERVER_FINAL));
}

/* PostgreSQL's secrets parse, and the same password, salt and count give the same text. */
static void test_pg_secrets(void)
{
	for (size_t i = 0; i < sizeof(pg_secrets) / sizeof(pg_secrets[0]); i++) {
		struct scram_secret parsed, derived;
		char text[256];

		CHECK(scram_parse_secret(pg_secrets[i].secret, &parsed));
		CHECK(parsed.iterations == 4096 && parsed.salt_len == 16);
		CHECK(scram_secret_from_password(pg_secrets[i].password, parsed.salt,
						 parsed.salt_len, parsed.iterations, &derived));
		CHECK(memcmp(parsed.stored_key, derived.stored_key, SCRAM_KEY_LEN) == 0);
		CHECK(memcmp(parsed.server_key, derived.server_key, SCRAM_KEY_LEN) == 0);
		CHECK(scram_secret_format(&derived, text, sizeof(text)));
		CHECK_STR(text, pg_secrets[i].secret);
		CHECK(!scram_secret_format(&derived, text, strlen(pg_secrets[i].secret)));
		CHECK(scram_secret_format(&derived, text, strlen(pg_secrets[i].secret) + 1));
	}
}

static void test_bad_secrets(void)
{
	static const char *const bad[] = {
		NULL,
		"",
		"SCRAM-SHA-256$",
		"SCRAM-SHA-256$4096:c2FsdA==$",
		"SCRAM-SHA-256$4096:c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"SCRAM-SHA-256$0:c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"SCRAM-SHA-256$-1:c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"SCRAM-SHA-256$99999999999:c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"SCRAM-SHA-256$4096:$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"SCRAM-SHA-256$4096:c2Fsd===$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"SCRAM-SHA-256$4096:c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==:"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"SCRAM-SHA-256$4096:c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=x",
		"SCRAM-SHA-256$4096:c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=$",
		"SCRAM-SHA-1$4096:c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		/* 66-byte salt: over SCRAM_SALT_MAX */
		"SCRAM-SHA-256$4096:"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		"AA"
		"AAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
	};
	struct scram_secret sec = { .iterations = 7 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(!scram_parse_secret(bad[i], &sec));
		CHECK(sec.iterations == 7); /* untouched on failure */
	}
	CHECK(scram_parse_secret(
		"SCRAM-SHA-256$1:c2FsdA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		&sec));
	CHECK(sec.iterations == 1 && sec.salt_len == 4 && memcmp(sec.salt, "salt", 4) == 0);
	CHECK(!scram_secret_from_password("x", (const uint8_t *)"s", 1, 0, &sec));
	CHECK(!scram_secret_from_password("x", (const uint8_t *)"s", 0, 1, &sec));
	CHECK(!scram_secret_from_password(NULL, (const uint8_t *)"s", 1, 1, &sec));
}

/* A server at "first sent" for a client made by scram_client_first. */
static void start_exchange(struct scram_server *s, struct scram_client *c,
			   const struct scram_secret *sec, char *sfirst, size_t *sfirst_len)
{
	char out[OUT_CAP];
	size_t len = 0;

	CHECK(scram_server_init(s, sec));
	CHECK(scram_client_first(c, NULL, out, sizeof(out), &len));
	CHECK(scram_server_first(s, out, len, sfirst, OUT_CAP, sfirst_len));
}

/* A whole exchange with `password` against `sec`; true if both sides accept. */
static bool login(const struct scram_secret *sec, const char *password,
		  uint8_t client_key[SCRAM_KEY_LEN])
{
	char sfirst[OUT_CAP], cfinal[OUT_CAP], sfinal[OUT_CAP];
	size_t sflen = 0, cflen = 0, len = 0;
	struct scram_server s;
	struct scram_client c;

	start_exchange(&s, &c, sec, sfirst, &sflen);
	CHECK(scram_client_final(&c, sfirst, sflen, password, NULL, NULL, cfinal, sizeof(cfinal),
				 &cflen));
	CHECK(cflen == strlen(cfinal));
	if (!scram_server_final(&s, cfinal, cflen, sfinal, sizeof(sfinal), &len))
		return false;
	if (client_key)
		memcpy(client_key, s.client_key, SCRAM_KEY_LEN);
	return scram_client_verify(&c, sfinal, len);
}

static void test_round_trip(void)
{
	struct scram_secret sec = make_secret("s3cret"), pg;
	struct scram_client c1, c2;
	char a[OUT_CAP], b[OUT_CAP];
	size_t len = 0;

	CHECK(login(&sec, "s3cret", NULL));
	CHECK(!login(&sec, "s3cret ", NULL));
	CHECK(!login(&sec, "S3cret", NULL));
	CHECK(!login(&sec, "", NULL));
	CHECK(scram_parse_secret(pg_secrets[0].secret, &pg));
	CHECK(login(&pg, pg_secrets[0].password, NULL));
	CHECK(!login(&pg, pg_secrets[1].password, NULL));
	CHECK(scram_client_first(&c1, NULL, a, sizeof(a), &len));
	CHECK(len == strlen("n,,n=,r=") + 24 && strncmp(a, "n,,n=,r=", 8) == 0);
	CHECK(scram_client_first(&c2, NULL, b, sizeof(b), NULL));
	CHECK(strcmp(a, b) != 0);
}

/* The proof computed with OpenSSL calls alone, from the password and the AuthMessage. */
static void independent_proof(const char *password, const struct scram_secret *sec,
			      const char *auth_message, char out[45])
{
	uint8_t salted[32], ck[32], sk[32], sig[32], proof[32];
	unsigned int n = 0;

	CHECK(PKCS5_PBKDF2_HMAC(password, (int)strlen(password), sec->salt, (int)sec->salt_len,
				sec->iterations, EVP_sha256(), 32, salted) == 1);
	CHECK(HMAC(EVP_sha256(), salted, 32, (const unsigned char *)"Client Key", 10, ck, &n));
	CHECK(EVP_Digest(ck, 32, sk, &n, EVP_sha256(), NULL));
	CHECK(memcmp(sk, sec->stored_key, 32) == 0);
	CHECK(HMAC(EVP_sha256(), sk, 32, (const unsigned char *)auth_message, strlen(auth_message),
		   sig, &n));
	for (int i = 0; i < 32; i++)
		proof[i] = ck[i] ^ sig[i];
	CHECK(EVP_EncodeBlock((unsigned char *)out, proof, 32) == 44);
}

/*
 * Send `cfirst` (bare part after the 3-byte gs2 header), then a client-final
 * "<binding>,r=<nonce><ext>,p=<proof>" with an independently computed proof.
 */
/* Channel binding set up on the server before the exchange (cb NULL: none). */
struct binding {
	const uint8_t *cb;
	size_t len;
	bool selected;
};

static bool hand_login_bound(const char *cfirst, const char *binding, const char *ext,
			     const struct binding *b)
{
	struct scram_secret sec = make_secret("pw");
	char sfirst[OUT_CAP], wp[OUT_CAP], am[3 * OUT_CAP], msg[2 * OUT_CAP], proof[45],
		out[OUT_CAP];
	struct scram_server s;
	size_t len = 0;

	CHECK(scram_server_init(&s, &sec));
	if (b && b->cb)
		CHECK(scram_server_set_binding(&s, b->cb, b->len, b->selected));
	if (!scram_server_first(&s, cfirst, strlen(cfirst), sfirst, sizeof(sfirst), &len))
		return false;
	snprintf(wp, sizeof(wp), "%s,r=%.*s%s", binding, (int)(strchr(sfirst, ',') - sfirst - 2),
		 sfirst + 2, ext);
	const char *bare = strchr(strchr(cfirst, ',') + 1, ',') + 1; /* after the gs2 header */
	snprintf(am, sizeof(am), "%s,%s,%s", bare, sfirst, wp);
	independent_proof("pw", &sec, am, proof);
	snprintf(msg, sizeof(msg), "%s,p=%s", wp, proof);
	return scram_server_final(&s, msg, strlen(msg), out, sizeof(out), &len);
}

static bool hand_login(const char *cfirst, const char *binding, const char *ext)
{
	return hand_login_bound(cfirst, binding, ext, NULL);
}

/* "c=" for SCRAM-SHA-256-PLUS: base64 of the gs2 header and the binding data. */
static void plus_binding(const uint8_t *cb, size_t len, char *out, size_t outcap)
{
	uint8_t input[128];
	const char gs2[] = "p=tls-server-end-point,,";
	memcpy(input, gs2, sizeof(gs2) - 1);
	memcpy(input + sizeof(gs2) - 1, cb, len);
	CHECK(outcap > 2 + 4 * ((sizeof(gs2) - 1 + len + 2) / 3));
	memcpy(out, "c=", 2);
	EVP_EncodeBlock((unsigned char *)out + 2, input, (int)(sizeof(gs2) - 1 + len));
}

static void test_channel_binding(void)
{
	uint8_t cb[32], other[32];
	char c_ok[128], c_other[128];
	for (int i = 0; i < 32; i++) {
		cb[i] = (uint8_t)(i * 7 + 1);
		other[i] = (uint8_t)(i * 7 + 2);
	}
	plus_binding(cb, sizeof(cb), c_ok, sizeof(c_ok));
	plus_binding(other, sizeof(other), c_other, sizeof(c_other));
	struct binding plus = { cb, sizeof(cb), true }, offered = { cb, sizeof(cb), false };
	const char *pfirst = "p=tls-server-end-point,,n=,r=abcdef";

	/* PLUS selected: only the tls-server-end-point header and the right hash pass */
	CHECK(hand_login_bound(pfirst, c_ok, "", &plus));
	CHECK(!hand_login_bound(pfirst, c_other, "", &plus));
	CHECK(!hand_login_bound(pfirst, "c=biws", "", &plus));
	CHECK(!hand_login_bound("n,,n=,r=abcdef", "c=biws", "", &plus));
	CHECK(!hand_login_bound("p=tls-unique,,n=,r=abcdef", c_ok, "", &plus));
	/* PLUS offered, plain SCRAM chosen: "n" is fine, "y" is a downgrade, "p" is refused */
	CHECK(hand_login_bound("n,,n=,r=abcdef", "c=biws", "", &offered));
	CHECK(!hand_login_bound("y,,n=,r=abcdef", "c=eSws", "", &offered));
	CHECK(!hand_login_bound(pfirst, c_ok, "", &offered));
	/* no TLS: "p" is refused, "y" accepted */
	CHECK(!hand_login(pfirst, c_ok, ""));
	/* bad set-up */
	struct scram_server s;
	struct scram_secret sec = make_secret("pw");
	uint8_t big[SCRAM_CBIND_MAX + 1] = { 0 };
	CHECK(scram_server_init(&s, &sec));
	CHECK(!scram_server_set_binding(&s, big, sizeof(big), true));
	CHECK(!scram_server_set_binding(&s, cb, 0, true));
	CHECK(!scram_server_set_binding(NULL, cb, 1, true));
}

static void test_gs2_and_extensions(void)
{
	CHECK(hand_login("n,,n=,r=abcdef", "c=biws", ""));
	CHECK(hand_login("y,,n=,r=abcdef", "c=eSws", ""));
	CHECK(!hand_login("y,,n=,r=abcdef", "c=biws", ""));
	CHECK(!hand_login("n,,n=,r=abcdef", "c=eSws", ""));
	CHECK(!hand_login("n,,n=,r=abcdef", "c=biws=", ""));
	CHECK(hand_login("n,,n=someone,r=abcdef,x=ext", "c=biws", ""));
	CHECK(hand_login("n,,n=,r=abcdef", "c=biws", ",x=ext,y="));
	CHECK(!hand_login("n,,n=,r=abcdef", "c=biws", ",1=ext"));
	CHECK(!hand_login("n,,n=,r=abcdef", "c=biws", ",xx=ext"));
}

/* A client at "first sent" with nonce "abc". */
static void client_at_first(struct scram_client *c)
{
	char out[OUT_CAP];

	CHECK(scram_client_first(c, "abc", out, sizeof(out), NULL));
	CHECK_STR(out, "n,,n=,r=abc");
}

static bool client_final_on(const char *sfirst, size_t len)
{
	struct scram_client c;
	char out[OUT_CAP];

	client_at_first(&c);
	return scram_client_final(&c, sfirst, len, "pw", NULL, NULL, out, sizeof(out), NULL);
}

static void test_server_first_malformed(void)
{
	static const char *const bad[] = {
		"",
		"r=abcdef",
		"m=x,r=abcdef,s=c2FsdA==,i=1",
		"r=abd,s=c2FsdA==,i=1",
		"r=abc,s=c2FsdA==,i=1", /* the server added nothing */
		"r=ab,s=c2FsdA==,i=1",
		"r=abc d,s=c2FsdA==,i=1",
		"r=abcdef,i=1,s=c2FsdA==",
		"r=abcdef,s=c2Fsd,i=1",
		"r=abcdef,s=,i=1",
		"r=abcdef,s=c2FsdA==",
		"r=abcdef,s=c2FsdA==,i=",
		"r=abcdef,s=c2FsdA==,i=0",
		"r=abcdef,s=c2FsdA==,i=-1",
		"r=abcdef,s=c2FsdA==,i=+1",
		"r=abcdef,s=c2FsdA==,i=1x",
		"r=abcdef,s=c2FsdA==,i=99999999999",
		"r=abcdef,s=c2FsdA==,i=1,x=ext",
		"r=abcdef,s=c2FsdA==,i=1,",
		("r=abcdef,s="
		 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		 "AAAAAAAAAAAA,i=1"), /* 66-byte salt */
		"e=other-error",
	};

	CHECK(client_final_on("r=abcdef,s=c2FsdA==,i=1", strlen("r=abcdef,s=c2FsdA==,i=1")));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!client_final_on(bad[i], strlen(bad[i])));
	CHECK(!client_final_on("r=abcdef,s=c2FsdA==,i=1\0", 24));
	CHECK(!client_final_on("r=abc\0ef,s=c2FsdA==,i=1", 23));
}

static bool server_first_on(const char *msg, size_t len)
{
	struct scram_secret sec = make_secret("pw");
	struct scram_server s;
	char out[OUT_CAP];

	CHECK(scram_server_init(&s, &sec));
	return scram_server_first(&s, msg, len, out, sizeof(out), NULL);
}

static void test_client_first_malformed(void)
{
	static const struct {
		const char *msg;
		bool ok;
	} cases[] = {
		{ "n,,n=,r=abc", true },
		{ "y,,n=,r=abc", true },
		{ "n,,n=user,r=abc,x=1", true },
		{ "p=tls-server-end-point,,n=,r=abc", false },
		{ "p,,n=,r=abc", false },
		{ "x,,n=,r=abc", false },
		{ "n,a=admin,n=,r=abc", false },
		{ "n,,m=ext,n=,r=abc", false },
		{ "n,,r=abc", false },
		{ "n,,n=,r=", false },
		{ "n,,n=,r=a b", false },
		{ "n,,n=,r=a\x01", false },
		{ "n,,n=,r=abc,", false },
		{ "n,,n=,r=abc,=x", false },
		{ "n,,n=,r=abc,x", false },
		{ "n,,n=,x=1,r=abc", false },
		{ "n,n=,r=abc", false },
		{ "n,,", false },
		{ "", false },
	};
	char nonce[200] = "n,,n=,r=";

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK(server_first_on(cases[i].msg, strlen(cases[i].msg)) == cases[i].ok);
	CHECK(!server_first_on("n,,n=,r=abc\0", 12));
	CHECK(!server_first_on("n,,n=\0,r=abc", 12));
	memset(nonce + 8, 'x', SCRAM_NONCE_MAX - 24); /* room for our 24 characters */
	CHECK(server_first_on(nonce, strlen(nonce)));
	nonce[strlen(nonce)] = 'x';
	CHECK(!server_first_on(nonce, strlen(nonce)));
}

/* A server and client with first messages exchanged; the client-final is in cfinal. */
struct exchange {
	struct scram_server s;
	struct scram_client c;
	char sfirst[OUT_CAP];
	size_t sflen;
	char cfinal[OUT_CAP];
	size_t cflen;
	char sfinal[OUT_CAP];
	size_t sfinal_len;
};

static void exchange_until_final(struct exchange *x, const struct scram_secret *sec)
{
	start_exchange(&x->s, &x->c, sec, x->sfirst, &x->sflen);
	CHECK(scram_client_final(&x->c, x->sfirst, x->sflen, "pw", NULL, NULL, x->cfinal,
				 sizeof(x->cfinal), &x->cflen));
}

static bool server_final_on(const struct exchange *x, const char *msg, size_t len)
{
	struct scram_server s = x->s;
	char out[OUT_CAP];

	return scram_server_final(&s, msg, len, out, sizeof(out), NULL);
}

static void test_client_final_malformed(void)
{
	static const struct {
		const char *before, *after; /* around the right nonce */
	} bad[] = {
		{ "c=biws,r=", "" },
		{ "c=biws,r=", ",p=" },
		{ "c=biws,r=", ",p=AAAA" },
		{ "c=biws,r=", ",p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==" }, /* 31 bytes */
		{ "c=biws,r=", ",p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" },
		{ "c=biws,r=", "X,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" },
		{ "r=", ",c=biws,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" },
		{ "c=biws,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,r=", "" },
		{ "c=,r=", ",p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" },
	};
	struct scram_secret sec = make_secret("pw");
	struct exchange x;
	char msg[2 * OUT_CAP], *nonce_end;
	const char *nonce;

	exchange_until_final(&x, &sec);
	nonce = x.sfirst + 2;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(msg, sizeof(msg), "%s%s%s", bad[i].before, x.s.server_nonce, bad[i].after);
		CHECK(!server_final_on(&x, msg, strlen(msg)));
	}
	/* the right proof with a changed nonce, binding, or a trailing attribute */
	memcpy(msg, x.cfinal, x.cflen + 1);
	nonce_end = strstr(msg, ",p=");
	nonce_end[-1] ^= 1;
	CHECK(!server_final_on(&x, msg, x.cflen));
	memcpy(msg, x.cfinal, x.cflen + 1);
	msg[2] = 'B';
	CHECK(!server_final_on(&x, msg, x.cflen));
	snprintf(msg, sizeof(msg), "%s,x=1", x.cfinal);
	CHECK(!server_final_on(&x, msg, strlen(msg)));
	snprintf(msg, sizeof(msg), "%s\n", x.cfinal);
	CHECK(!server_final_on(&x, msg, strlen(msg)));
	CHECK(!server_final_on(&x, x.cfinal, x.cflen + 1)); /* the NUL counted */
	CHECK(strncmp(x.s.server_nonce, nonce, strlen(x.s.server_nonce)) == 0);
	CHECK(server_final_on(&x, x.cfinal, x.cflen));
}

/* The whole exchange done; sfinal holds the server's reply. */
static void exchange_done(struct exchange *x, const struct scram_secret *sec)
{
	exchange_until_final(x, sec);
	CHECK(scram_server_final(&x->s, x->cfinal, x->cflen, x->sfinal, sizeof(x->sfinal),
				 &x->sfinal_len));
}

static bool verify_on(const struct exchange *x, const char *msg, size_t len)
{
	struct scram_client c = x->c;

	return scram_client_verify(&c, msg, len);
}

static void test_server_final_malformed(void)
{
	struct scram_secret sec = make_secret("pw");
	struct exchange x;
	char msg[2 * OUT_CAP];

	exchange_done(&x, &sec);
	CHECK(!verify_on(&x, "e=invalid-proof", 15));
	CHECK(!verify_on(&x, "v=", 2));
	CHECK(!verify_on(&x, "", 0));
	CHECK(!verify_on(&x, "v=AAAA", 6));
	snprintf(msg, sizeof(msg), "%s,x=1", x.sfinal);
	CHECK(!verify_on(&x, msg, strlen(msg)));
	memcpy(msg, x.sfinal, x.sfinal_len + 1);
	msg[5] = msg[5] == 'A' ? 'B' : 'A';
	CHECK(!verify_on(&x, msg, x.sfinal_len));
	CHECK(!verify_on(&x, x.sfinal, x.sfinal_len + 1));
	memcpy(msg, x.sfinal, x.sfinal_len + 1);
	msg[x.sfinal_len - 2] ^= 1; /* same bytes, but unused bits set: not canonical */
	CHECK(!verify_on(&x, msg, x.sfinal_len));
	CHECK(verify_on(&x, x.sfinal, x.sfinal_len));
}

/* Every prefix of `msg` in a buffer of exactly that size, so ASan sees over-reads. */
static void each_prefix(const char *msg, size_t len, size_t first_ok,
			bool (*try)(const void *ctx, const char *p, size_t n), const void *ctx)
{
	for (size_t n = 0; n < len; n++) {
		char *copy = malloc(n ? n : 1);

		memcpy(copy, msg, n);
		CHECK(try(ctx, copy, n) == (n >= first_ok));
		free(copy);
	}
}

static bool try_client_first(const void *ctx, const char *p, size_t n)
{
	(void)ctx;
	return server_first_on(p, n);
}

static bool try_server_first(const void *ctx, const char *p, size_t n)
{
	(void)ctx;
	return client_final_on(p, n);
}

static bool try_client_final(const void *ctx, const char *p, size_t n)
{
	return server_final_on(ctx, p, n);
}

static bool try_server_final(const void *ctx, const char *p, size_t n)
{
	return verify_on(ctx, p, n);
}

static void test_truncation(void)
{
	static const char cfirst[] = "n,,n=someone,r=abcdefgh";
	static const char sfirst[] = "r=abcdef,s=c2FsdA==,i=10";
	struct scram_secret sec = make_secret("pw");
	struct exchange x;

	/* a shorter nonce or iteration count is still a valid message */
	each_prefix(cfirst, strlen(cfirst), strlen("n,,n=someone,r=a"), try_client_first, NULL);
	each_prefix(sfirst, strlen(sfirst), strlen("r=abcdef,s=c2FsdA==,i=1"), try_server_first,
		    NULL);
	exchange_done(&x, &sec);
	each_prefix(x.cfinal, x.cflen, SIZE_MAX, try_client_final, &x);
	each_prefix(x.sfinal, x.sfinal_len, SIZE_MAX, try_server_final, &x);
}

static void test_out_capacity(void)
{
	uint8_t salt[SCRAM_SALT_MAX];
	size_t salt_len = rfc_salt(salt);
	struct scram_secret sec;
	struct scram_server s, s2;
	struct scram_client c, c2;
	char out[OUT_CAP];

	CHECK(scram_secret_from_password("pencil", salt, salt_len, 4096, &sec));
	CHECK(scram_server_init(&s, &sec) && scram_server_set_nonce(&s, RFC_SERVER_NONCE));
	s2 = s;
	CHECK(!scram_server_first(&s, RFC_CLIENT_FIRST, strlen(RFC_CLIENT_FIRST), out,
				  strlen(RFC_SERVER_FIRST), NULL));
	CHECK(!scram_server_first(&s2, RFC_CLIENT_FIRST, strlen(RFC_CLIENT_FIRST), NULL, 0, NULL));
	CHECK(scram_server_init(&s, &sec) && scram_server_set_nonce(&s, RFC_SERVER_NONCE));
	CHECK(scram_server_first(&s, RFC_CLIENT_FIRST, strlen(RFC_CLIENT_FIRST), out,
				 strlen(RFC_SERVER_FIRST) + 1, NULL));
	s2 = s;
	CHECK(!scram_server_final(&s, RFC_CLIENT_FINAL, strlen(RFC_CLIENT_FINAL), out,
				  strlen(RFC_SERVER_FINAL), NULL));
	CHECK(scram_server_final(&s2, RFC_CLIENT_FINAL, strlen(RFC_CLIENT_FINAL), out,
				 strlen(RFC_SERVER_FINAL) + 1, NULL));

	CHECK(!scram_client_first_user(&c, "user", "rOprNGfwEbeRWgbNEkqO", out,
				       strlen(RFC_CLIENT_FIRST), NULL));
	CHECK(scram_client_first_user(&c, "user", "rOprNGfwEbeRWgbNEkqO", out,
				      strlen(RFC_CLIENT_FIRST) + 1, NULL));
	c2 = c;
	CHECK(!scram_client_final(&c, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), "pencil", NULL,
				  NULL, out, strlen(RFC_CLIENT_FINAL), NULL));
	CHECK(scram_client_final(&c2, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), "pencil", NULL,
				 NULL, out, strlen(RFC_CLIENT_FINAL) + 1, NULL));
	CHECK_STR(out, RFC_CLIENT_FINAL);
}

static void test_call_order(void)
{
	struct scram_secret sec = make_secret("pw"), bad = sec;
	struct scram_server s;
	struct scram_client c;
	char out[OUT_CAP];
	struct exchange x;

	bad.iterations = 0;
	CHECK(!scram_server_init(&s, &bad));
	bad = sec;
	bad.salt_len = SCRAM_SALT_MAX + 1;
	CHECK(!scram_server_init(&s, &bad));
	CHECK(scram_server_init(&s, &sec));
	CHECK(!scram_server_final(&s, "c=biws,r=a,p=", 13, out, sizeof(out), NULL));
	CHECK(scram_server_init(&s, &sec));
	CHECK(!scram_server_set_nonce(&s, "a,b"));
	CHECK(!scram_server_set_nonce(&s, ""));
	CHECK(scram_server_first(&s, "n,,n=,r=abc", 11, out, sizeof(out), NULL));
	CHECK(!scram_server_set_nonce(&s, "late"));
	CHECK(!scram_server_first(&s, "n,,n=,r=abc", 11, out, sizeof(out), NULL));

	memset(&c, 0, sizeof(c));
	CHECK(!scram_client_final(&c, "r=abcdef,s=c2FsdA==,i=1", 23, "pw", NULL, NULL, out,
				  sizeof(out), NULL));
	CHECK(!scram_client_verify(&c, "v=", 2));

	exchange_done(&x, &sec);
	CHECK(!scram_server_final(&x.s, x.cfinal, x.cflen, out, sizeof(out), NULL));
	CHECK(scram_client_verify(&x.c, x.sfinal, x.sfinal_len));
	CHECK(!scram_client_verify(&x.c, x.sfinal, x.sfinal_len));
}

static void test_client_first_args(void)
{
	struct scram_client c;
	char out[OUT_CAP], nonce[SCRAM_NONCE_MAX + 2];

	CHECK(scram_client_first_user(&c, "a,b=c", "n1", out, sizeof(out), NULL));
	CHECK_STR(out, "n,,n=a=2Cb=3Dc,r=n1");
	CHECK(!scram_client_first(&c, "a,b", out, sizeof(out), NULL));
	CHECK(!scram_client_first(&c, "", out, sizeof(out), NULL));
	CHECK(!scram_client_first(&c, "a b", out, sizeof(out), NULL));
	CHECK(!scram_client_first_user(&c, NULL, "abc", out, sizeof(out), NULL));
	memset(nonce, 'n', SCRAM_NONCE_MAX);
	nonce[SCRAM_NONCE_MAX] = '\0';
	CHECK(scram_client_first(&c, nonce, out, sizeof(out), NULL));
	nonce[SCRAM_NONCE_MAX] = 'n';
	nonce[SCRAM_NONCE_MAX + 1] = '\0';
	CHECK(!scram_client_first(&c, nonce, out, sizeof(out), NULL));
}

/*
 * sluice logs in to a server holding `server_sec` with a ClientKey learned
 * from a client and the secret `keys`. Returns whether every step succeeded;
 * *client_ok says whether scram_client_final accepted the credential.
 */
static bool pass_through(const struct scram_secret *server_sec, const char *password,
			 const struct scram_secret *keys, const uint8_t *ck, bool *client_ok)
{
	char sfirst[OUT_CAP], cfinal[OUT_CAP], sfinal[OUT_CAP];
	size_t sflen = 0, cflen = 0, len = 0;
	struct scram_server s;
	struct scram_client c;

	start_exchange(&s, &c, server_sec, sfirst, &sflen);
	*client_ok = scram_client_final(&c, sfirst, sflen, password, keys, ck, cfinal,
					sizeof(cfinal), &cflen);
	return *client_ok && scram_server_final(&s, cfinal, cflen, sfinal, sizeof(sfinal), &len) &&
	       scram_client_verify(&c, sfinal, len);
}

static void test_pass_through(void)
{
	static const uint8_t other_salt[16] = "another salt 16b";
	struct scram_secret sec = make_secret("hunter2"), other;
	uint8_t ck[SCRAM_KEY_LEN], expect[SCRAM_KEY_LEN], salted[SCRAM_KEY_LEN];
	unsigned int n = 0;
	bool client_ok;

	CHECK(login(&sec, "hunter2", ck));
	CHECK(PKCS5_PBKDF2_HMAC("hunter2", 7, sec.salt, (int)sec.salt_len, 4096, EVP_sha256(), 32,
				salted) == 1);
	CHECK(HMAC(EVP_sha256(), salted, 32, (const unsigned char *)"Client Key", 10, expect, &n));
	CHECK(memcmp(ck, expect, SCRAM_KEY_LEN) == 0);

	CHECK(pass_through(&sec, NULL, &sec, ck, &client_ok));
	CHECK(!pass_through(&sec, NULL, &sec, NULL, &client_ok) && !client_ok);
	CHECK(!pass_through(&sec, "hunter2", &sec, ck, &client_ok) && !client_ok);
	CHECK(!pass_through(&sec, NULL, NULL, ck, &client_ok) && !client_ok);
	CHECK(!pass_through(&sec, NULL, NULL, NULL, &client_ok) && !client_ok);
	CHECK(scram_secret_from_password("hunter2", other_salt, sizeof(other_salt), 4096, &other));
	CHECK(!pass_through(&other, NULL, &sec, ck, &client_ok) && !client_ok);
	CHECK(scram_secret_from_password("hunter2", sec.salt, 8, 4096, &other)); /* salt prefix */
	CHECK(!pass_through(&other, NULL, &sec, ck, &client_ok) && !client_ok);
	other = sec;
	other.iterations = 4097;
	CHECK(!pass_through(&other, NULL, &sec, ck, &client_ok) && !client_ok);
	ck[0] ^= 1;
	CHECK(!pass_through(&sec, NULL, &sec, ck, &client_ok) && !client_ok);
}

int main(void)
{
	test_rfc_client();
	test_rfc_server();
	test_pg_secrets();
	test_bad_secrets();
	test_round_trip();
	test_gs2_and_extensions();
	test_channel_binding();
	test_server_first_malformed();
	test_client_first_malformed();
	test_client_final_malformed();
	test_server_final_malformed();
	test_truncation();
	test_out_capacity();
	test_call_order();
	test_client_first_args();
	test_pass_through();
	UNIT_DONE();
}
