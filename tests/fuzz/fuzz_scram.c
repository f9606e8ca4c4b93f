/*
 * fuzz_scram: the server side of SCRAM-SHA-256 against a fixed secret. Input:
 * a client-first-message, '\n', a client-final-message; fed to
 * scram_server_first then scram_server_final with a fixed server nonce, so a
 * final can echo it. Asserts: a successful first answers "r=" + the client
 * nonce + ours + ",s=<salt>,i=4096" and fails with one byte less room; a
 * successful final answers "v=..." and leaves a ClientKey that hashes to the
 * StoredKey; after a failure the exchange stays over.
 */
#include <stdbool.h>
#include <string.h>

#include <openssl/sha.h>

#include "sluice/scram.h"

#include "fuzz.h"

/* libpq's PQencryptPasswordConn("correct horse battery staple"), as in test_scram.c. */
#define SECRET                                          \
	"SCRAM-SHA-256$4096:7XjO7XNPJn3KCocOThW3Aw==$"  \
	"pRafyXJtnosqIrZm4NRuXUJN3kacLdgVVA25zXnOZ2E=:" \
	"kT2pSG5nb+rGeqEVpSCHYPe2k5v5s9fbHpHe/8JsCrM="
#define SALT_B64     "7XjO7XNPJn3KCocOThW3Aw=="
#define SERVER_NONCE "FUZZserverNONCE012345678" /* 24 characters, like a random one */

static struct scram_secret secret;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FUZZ_CHECK(scram_parse_secret(SECRET, &secret));
	return 0;
}

static void start(struct scram_server *s)
{
	FUZZ_CHECK(scram_server_init(s, &secret));
	FUZZ_CHECK(scram_server_set_nonce(s, SERVER_NONCE));
}

/* The server-first a successful first must have produced, from the client's own bytes. */
static void check_server_first(const char *msg, size_t len, const char *out, size_t outlen)
{
	FUZZ_CHECK(len >= 3 && (memcmp(msg, "n,,", 3) == 0 || memcmp(msg, "y,,", 3) == 0));
	const char *bare = msg + 3, *end = msg + len;
	FUZZ_CHECK(end - bare >= 2 && memcmp(bare, "n=", 2) == 0);
	const char *comma = memchr(bare, ',', (size_t)(end - bare));
	FUZZ_CHECK(comma != NULL && end - comma >= 3 && memcmp(comma, ",r=", 3) == 0);
	const char *nonce = comma + 3;
	const char *nonce_end = memchr(nonce, ',', (size_t)(end - nonce));
	size_t nlen = (size_t)((nonce_end ? nonce_end : end) - nonce);

	char expect[SCRAM_MSG_MAX];
	int n = snprintf(expect, sizeof(expect), "r=%.*s%s,s=%s,i=4096", (int)nlen, nonce,
			 SERVER_NONCE, SALT_B64);
	FUZZ_CHECK(n > 0 && (size_t)n == outlen && strcmp(out, expect) == 0);
}

/* The same first message with an output buffer one byte short must fail, within bounds. */
static void check_tight_first(const char *msg, size_t len, size_t outlen)
{
	struct scram_server s;
	char *out = malloc(outlen);
	start(&s);
	FUZZ_CHECK(out != NULL && !scram_server_first(&s, msg, len, out, outlen, NULL));
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t first_len = nl ? (size_t)(nl - data) : size;
	char *first = (char *)fuzz_copy(data, first_len);
	char *final =
		nl ? (char *)fuzz_copy(nl + 1, size - first_len - 1) : (char *)fuzz_copy(data, 0);
	size_t final_len = nl ? size - first_len - 1 : 0;

	struct scram_server s;
	char out[SCRAM_MSG_MAX];
	size_t outlen = 0;
	start(&s);
	bool first_ok = scram_server_first(&s, first, first_len, out, sizeof(out), &outlen);
	if (first_ok) {
		check_server_first(first, first_len, out, outlen);
		check_tight_first(first, first_len, outlen);
	}
	outlen = 0;
	bool final_ok = scram_server_final(&s, final, final_len, out, sizeof(out), &outlen);
	FUZZ_CHECK(first_ok || !final_ok);
	if (final_ok) {
		uint8_t stored[SCRAM_KEY_LEN];
		FUZZ_CHECK(outlen > 2 && memcmp(out, "v=", 2) == 0 && strlen(out) == outlen);
		SHA256(s.client_key, SCRAM_KEY_LEN, stored);
		FUZZ_CHECK(memcmp(stored, secret.stored_key, SCRAM_KEY_LEN) == 0);
	}
	FUZZ_CHECK(!scram_server_final(&s, final, final_len, out, sizeof(out), NULL));
	FUZZ_CHECK(!scram_server_first(&s, first, first_len, out, sizeof(out), NULL));
	free(first);
	free(final);
	return 0;
}
