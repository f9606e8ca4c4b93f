/*
 * fuzz_dburl: dburl_parse over arbitrary bytes (as a NUL-terminated URL).
 * Asserts: no crash and no leak; a refusal leaves every member NULL and an
 * error that starts with "DATABASE_URL: "; an accepted URL has a port in
 * 0..65535 and begins with one of the two schemes.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/dburl.h"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = malloc(size + 1), err[256];
	struct dburl u;

	FUZZ_CHECK(url != NULL);
	memcpy(url, data, size);
	url[size] = '\0';
	if (dburl_parse(url, &u, err, sizeof(err))) {
		FUZZ_CHECK(u.port >= 0 && u.port <= 65535);
		FUZZ_CHECK(strncmp(url, "postgresql://", 13) == 0 ||
			   strncmp(url, "postgres://", 11) == 0);
		dburl_free(&u);
	} else {
		FUZZ_CHECK(u.user == NULL && u.password == NULL && u.host == NULL &&
			   u.dbname == NULL && u.sslmode == NULL);
		FUZZ_CHECK(strncmp(err, "DATABASE_URL: ", 14) == 0);
	}
	free(url);
	return 0;
}
