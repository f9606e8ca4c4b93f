/*
 * fuzz_http: the admin port's HTTP request line. The input's first line (up
 * to CRLF, else all of it) goes to http_parse_request_line with http.c's
 * buffer sizes. Asserts: on success "METHOD SP PATH SP HTTP/1.x" rebuilds the
 * line exactly, the path starts with '/', neither part holds a space or a
 * control byte, and the line parses into buffers of exactly the right size
 * but not into one a byte shorter; buffers are never written past their size.
 * The lines after it go to http_parse_headers: HTTP/1.0 and 1.1 accept or
 * refuse them alike, and 1.0 never keeps a connection 1.1 would close.
 */
#include <stdbool.h>
#include <string.h>

#include "sluice/http_parse.h"

#include "fuzz.h"

#define METHOD_CAP 16 /* as http_process */
#define PATH_CAP   256

static bool parse(const char *line, size_t len, size_t mcap, size_t pcap, char **method,
		  char **path)
{
	*method = malloc(mcap);
	*path = malloc(pcap);
	FUZZ_CHECK(*method != NULL && *path != NULL);
	return http_parse_request_line(line, len, *method, mcap, *path, pcap);
}

static void check_printable(const char *s)
{
	for (; *s; s++)
		FUZZ_CHECK(*s > 0x20 && *s < 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *eol = size >= 2 ? memmem(data, size, "\r\n", 2) : NULL;
	size_t len = eol ? (size_t)(eol - data) : size;
	char *line = (char *)fuzz_copy(data, len);
	char *method, *path;

	if (parse(line, len, METHOD_CAP, PATH_CAP, &method, &path)) {
		size_t mlen = strlen(method), plen = strlen(path);
		FUZZ_CHECK(mlen >= 1 && mlen < METHOD_CAP && plen >= 1 && plen < PATH_CAP);
		FUZZ_CHECK(path[0] == '/');
		check_printable(method);
		check_printable(path);
		FUZZ_CHECK(len == mlen + 1 + plen + 1 + 8);
		FUZZ_CHECK(memcmp(line, method, mlen) == 0 && line[mlen] == ' ');
		FUZZ_CHECK(memcmp(line + mlen + 1, path, plen) == 0 &&
			   line[mlen + 1 + plen] == ' ');
		FUZZ_CHECK(memcmp(line + mlen + plen + 2, "HTTP/1.", 7) == 0);

		char *m2, *p2;
		FUZZ_CHECK(parse(line, len, mlen + 1, plen + 1, &m2, &p2));
		FUZZ_CHECK(strcmp(m2, method) == 0 && strcmp(p2, path) == 0);
		free(m2);
		free(p2);
		FUZZ_CHECK(!parse(line, len, mlen, plen + 1, &m2, &p2));
		free(m2);
		free(p2);
		FUZZ_CHECK(!parse(line, len, mlen + 1, plen, &m2, &p2));
		free(m2);
		free(p2);
	}
	free(method);
	free(path);
	free(line);

	/* the rest, up to an empty line, as header lines: keep_alive as the rules say */
	if (eol != NULL) {
		const uint8_t *rest = eol + 2, *end = data + size;
		const uint8_t *stop = memmem(rest, (size_t)(end - rest), "\r\n\r\n", 4);
		size_t hlen = stop ? (size_t)(stop - rest) : (size_t)(end - rest);
		char *h = (char *)fuzz_copy(rest, hlen);
		struct http_head hh, hh10;
		bool ok = http_parse_headers(h, hlen, false, &hh);
		FUZZ_CHECK(ok == http_parse_headers(h, hlen, true, &hh10));
		if (ok) /* HTTP/1.0 keeps a connection only where 1.1 would too */
			FUZZ_CHECK(!hh10.keep_alive || hh.keep_alive);
		free(h);
	}
	return 0;
}
