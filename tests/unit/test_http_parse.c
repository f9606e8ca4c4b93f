/*
 * test_http_parse: the admin port's request line, table-driven: the forms
 * probes and Prometheus send, and each way a line is refused (missing parts,
 * wrong version, control bytes, method or path too long for the buffers).
 */
#include <stdbool.h>

#include "sluice/http_parse.h"
#include "unit.h"

static const struct {
	const char *line;
	bool ok;
	const char *method, *path;
} cases[] = {
	{ "GET /metrics HTTP/1.1", true, "GET", "/metrics" },
	{ "HEAD /healthz HTTP/1.0", true, "HEAD", "/healthz" },
	{ "GET /readyz?verbose=1 HTTP/1.1", true, "GET", "/readyz?verbose=1" },
	{ "POST /metrics HTTP/1.1", true, "POST", "/metrics" }, /* 405 is http.c's business */
	{ "GET / HTTP/1.1", true, "GET", "/" },
	{ "GET /metrics HTTP/2.0", false, NULL, NULL },
	{ "GET /metrics HTTP/1.1 ", false, NULL, NULL },
	{ "GET /metrics", false, NULL, NULL },
	{ "GET metrics HTTP/1.1", false, NULL, NULL },
	{ " /metrics HTTP/1.1", false, NULL, NULL },
	{ "GET  /metrics HTTP/1.1", false, NULL, NULL },
	{ "GET /met\trics HTTP/1.1", false, NULL, NULL },
	{ "GET /m\xc3\xa9trics HTTP/1.1", false, NULL, NULL },
	{ "VERYLONGMETHODNAME / HTTP/1.1", false, NULL, NULL },
	{ "", false, NULL, NULL },
};

static void test_cases(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char method[16] = "untouched", path[256] = "untouched";
		bool ok = http_parse_request_line(cases[i].line, strlen(cases[i].line), method,
						  sizeof(method), path, sizeof(path));
		CHECK(ok == cases[i].ok);
		CHECK_STR(method, ok ? cases[i].method : "untouched");
		CHECK_STR(path, ok ? cases[i].path : "untouched");
	}
}

/* The buffers bound method and path exactly; the line need not be NUL-terminated. */
static void test_buffer_sizes(void)
{
	const char line[] = "GET /metrics HTTP/1.1\r\nHost: x";
	size_t len = strlen("GET /metrics HTTP/1.1");
	char method[4], path[9];
	CHECK(http_parse_request_line(line, len, method, 4, path, 9));
	CHECK_STR(method, "GET");
	CHECK_STR(path, "/metrics");
	CHECK(!http_parse_request_line(line, len, method, 3, path, 9));
	CHECK(!http_parse_request_line(line, len, method, 4, path, 8));
	CHECK(!http_parse_request_line(line, len + 2, method, 4, path, 9));
}

static bool headers(const char *h, bool http10, struct http_head *out)
{
	return http_parse_headers(h, strlen(h), http10, out);
}

static void test_headers(void)
{
	struct http_head hh;

	CHECK(headers("", false, &hh) && hh.keep_alive && !hh.has_body);
	CHECK(headers("", true, &hh) && !hh.keep_alive);
	CHECK(headers("Host: x\r\nConnection: close", false, &hh) && !hh.keep_alive);
	CHECK(headers("connection:Keep-Alive", true, &hh) && hh.keep_alive);
	CHECK(headers("Connection: keep-alive, Upgrade\r\nX: y", true, &hh) && hh.keep_alive);
	CHECK(headers("Connection: TE, close", false, &hh) && !hh.keep_alive);
	CHECK(headers("Connection: closed", false, &hh) && hh.keep_alive); /* not the token */
	CHECK(headers("Content-Length: 0", false, &hh) && !hh.has_body);
	CHECK(headers("Content-Length: 12", false, &hh) && hh.has_body);
	CHECK(headers("Transfer-Encoding: chunked", false, &hh) && hh.has_body);
	CHECK(!headers("Content-Length: -1", false, &hh));
	CHECK(!headers("Content-Length: ", false, &hh));
	CHECK(!headers("no colon here", false, &hh));
	CHECK(!headers(": empty name", false, &hh));
	CHECK(headers("X-Empty:", false, &hh));
}

int main(void)
{
	test_cases();
	test_buffer_sizes();
	test_headers();
	UNIT_DONE();
}
