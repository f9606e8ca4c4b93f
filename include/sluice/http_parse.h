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

#endif
