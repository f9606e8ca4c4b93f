/*
 * http_parse: request-line syntax for the admin port's HTTP responder. Strict
 * on purpose: probes and Prometheus send exactly one form, and anything else
 * is answered 400 rather than guessed at.
 */
#include "sluice/http_parse.h"

#include <string.h>
#include <strings.h>

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

/* Does the comma-separated token list [v, v+len) hold `token` (case-insensitive)? */
static bool has_token(const char *v, size_t len, const char *token)
{
	size_t tlen = strlen(token);
	const char *end = v + len;
	while (v < end) {
		while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
			v++;
		const char *start = v;
		while (v < end && *v != ',' && *v != ' ' && *v != '\t')
			v++;
		if ((size_t)(v - start) == tlen && strncasecmp(start, token, tlen) == 0)
			return true;
	}
	return false;
}

/* One "Name: value" line into out; false when it has no colon or a bad Content-Length. */
static bool header_line(const char *line, size_t len, bool *close, bool *keep,
			struct http_head *out)
{
	const char *colon = memchr(line, ':', len);
	if (colon == NULL || colon == line)
		return false;
	size_t nlen = (size_t)(colon - line);
	const char *v = colon + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	if (nlen == 10 && strncasecmp(line, "connection", 10) == 0) {
		*close |= has_token(v, (size_t)(end - v), "close");
		*keep |= has_token(v, (size_t)(end - v), "keep-alive");
	} else if (nlen == 14 && strncasecmp(line, "content-length", 14) == 0) {
		if (v == end)
			return false;
		for (const char *p = v; p < end; p++) {
			if (*p < '0' || *p > '9')
				return false;
			out->has_body |= *p != '0';
		}
	} else if (nlen == 17 && strncasecmp(line, "transfer-encoding", 17) == 0) {
		out->has_body = true;
	}
	return true;
}

bool http_parse_headers(const char *head, size_t len, bool http10, struct http_head *out)
{
	bool close = false, keep = false;
	const char *p = head, *end = head + len;

	*out = (struct http_head){ 0 };
	if (head == NULL)
		return false;
	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		const char *stop = eol ? eol : end;
		if (!header_line(p, (size_t)(stop - p), &close, &keep, out))
			return false;
		p = eol ? eol + 2 : end;
	}
	out->keep_alive = !close && (!http10 || keep);
	return true;
}
