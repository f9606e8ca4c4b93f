/*
 * http_parse: the HTTP/1.x request line as a pure function, so that the
 * admin port's HTTP side can be fuzzed without a runtime. http.c finds the
 * request head in a client's buffer and routes what this returns.
 */
#ifndef SLUICE_HTTP_PARSE_H
#define SLUICE_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Parse "METHOD SP PATH SP HTTP/1.x" from line[0..len) (without its CRLF; not
 * NUL-terminated; any bytes). Every byte must be printable ASCII, METHOD
 * non-empty and shorter than mcap, PATH starting with '/' and shorter than
 * pcap. On success copies both, NUL-terminated, into the caller's method and
 * path buffers and returns true; on false neither buffer is written.
 */
bool http_parse_request_line(const char *line, size_t len, char *method, size_t mcap, char *path,
			     size_t pcap) __attribute__((warn_unused_result));

/* What the responder needs from a request head besides its request line. */
struct http_head {
	bool keep_alive; /* another request may follow on the connection */
	bool has_body;   /* Content-Length > 0 or Transfer-Encoding: the responder reads none */
};

/*
 * The header lines of a head: head[0..len) is everything after the request
 * line's CRLF up to, not including, the CRLF of the empty line that ends the
 * head (so "" for no headers; lines separated by CRLF). `http10` is the
 * request line's version. keep_alive follows RFC 9112 9.3: HTTP/1.1 unless
 * "Connection: close", HTTP/1.0 only with "Connection: keep-alive". False for
 * a line without a colon or a Content-Length that is not a number.
 */
bool http_parse_headers(const char *head, size_t len, bool http10, struct http_head *out)
	__attribute__((warn_unused_result));

#endif
