/*
 * http_parse: request-line syntax for the admin port's HTTP responder. Strict
 * on purpose: probes and Prometheus send exactly one form, and anything else
 * is answered 400 rather than guessed at.
 */
#include "sluice/http_parse.h"

#include <string.h>

bool http_parse_request_line(const char *line, size_t len, char *method, size_t mcap, char *path,
			     size_t pcap)
{
	const char *sp1 = memchr(line, ' ', len);
	if (sp1 == NULL || (size_t)(sp1 - line) >= mcap || sp1 == line)
		return false;
	const char *rest = sp1 + 1;
	const char *sp2 = memchr(rest, ' ', len - (size_t)(rest - line));
	if (sp2 == NULL || (size_t)(sp2 - rest) >= pcap || sp2 == rest || rest[0] != '/')
		return false;
	size_t vlen = len - (size_t)(sp2 + 1 - line);
	if (vlen != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return false;
	for (const char *p = line; p < line + len; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			return false;
	memcpy(method, line, (size_t)(sp1 - line));
	method[sp1 - line] = '\0';
	memcpy(path, rest, (size_t)(sp2 - rest));
	path[sp2 - rest] = '\0';
	return true;
}
