/*
 * fuzz_startup: a start-up packet as a client sends it (int32 length, int32
 * code, key/value pairs, a final NUL), framed with proto_frame_startup and
 * parsed with proto_parse_startup as client.c does; the raw input is parsed
 * as a body too. Asserts: every key, value, user and database returned lies
 * inside the body with its NUL, the pairs tile the body, and user/database
 * are the values of the last "user"/"database" key.
 */
#include <stdbool.h>
#include <string.h>

#include "sluice/proto.h"

#include "fuzz.h"

static void parse_body(const uint8_t *in, size_t len)
{
	uint8_t *body = fuzz_copy(in, len);
	struct proto_startup s;
	if (proto_parse_startup(body, len, &s)) {
		FUZZ_CHECK(len >= 5 && body[len - 1] == '\0');
		FUZZ_CHECK(s.code == (((uint32_t)body[0] << 24) | ((uint32_t)body[1] << 16) |
				      ((uint32_t)body[2] << 8) | body[3]));
		FUZZ_CHECK(s.n >= 0 && s.n <= PROTO_MAX_PARAMS);
		const char *next = (const char *)body + 4, *user = NULL, *database = NULL;
		for (int i = 0; i < s.n; i++) {
			FUZZ_CHECK(s.keys[i] == next && fuzz_str_inside(s.keys[i], body, len));
			FUZZ_CHECK(s.keys[i][0] != '\0');
			next = s.keys[i] + strlen(s.keys[i]) + 1;
			FUZZ_CHECK(s.values[i] == next && fuzz_str_inside(s.values[i], body, len));
			next = s.values[i] + strlen(s.values[i]) + 1;
			if (strcmp(s.keys[i], "user") == 0)
				user = s.values[i];
			else if (strcmp(s.keys[i], "database") == 0)
				database = s.values[i];
		}
		FUZZ_CHECK(next == (const char *)body + len - 1); /* the terminating NUL */
		FUZZ_CHECK(s.user == user && s.database == database);
	}
	free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t len, code;
	if (proto_frame_startup(data, size, &len, &code) == PROTO_FRAME_OK) {
		FUZZ_CHECK(len >= 8 && len <= PROTO_STARTUP_MAX);
		if (size >= len)
			parse_body(data + 4, len - 4);
	}
	parse_body(data, size);
	return 0;
}
