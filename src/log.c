/*
 * log: formats one line per call, as text or as one JSON object, and writes
 * it to stderr and the optional log file with a single write(2) each, so
 * lines from one process never interleave mid-line. Owns the threshold, the
 * format and the log file descriptor.
 */
#include "sluice/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Longest line: text lines and json messages are cut to LINE_MAX_TEXT bytes. */
#define LINE_MAX_TEXT 4096
#define LINE_MAX_JSON 8192
/* Escaped bytes of one json field other than the message (names, addresses). */
#define FIELD_MAX_JSON 512

enum log_level log_threshold = LOG_INFO;
static enum log_format log_fmt = LOG_FORMAT_TEXT;
static int log_fd = -1;

static const char *const level_names[] = {
	[LOG_FATAL] = "FATAL", [LOG_ERROR] = "ERROR", [LOG_WARNING] = "WARNING",
	[LOG_INFO] = "LOG",    [LOG_DEBUG] = "DEBUG", [LOG_NOISE] = "NOISE",
};

void log_set_verbose(int verbose)
{
	if (verbose <= 0)
		log_threshold = LOG_INFO;
	else if (verbose == 1)
		log_threshold = LOG_DEBUG;
	else
		log_threshold = LOG_NOISE;
}

void log_set_format(enum log_format format)
{
	log_fmt = format;
}

bool log_open_file(const char *path)
{
	if (path == NULL || path[0] == '\0') {
		if (log_fd >= 0)
			close(log_fd);
		log_fd = -1;
		return true;
	}
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		return false;
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	return true;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		buf += n;
		len -= (size_t)n;
	}
}

/* --- JSON --- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t need;
	unsigned char lo = 0x80, hi = 0xbf; /* bounds of the second byte */

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef)
		need = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 4;
	else
		return 0; /* continuation byte, overlong lead 0xc0/0xc1, or above U+10FFFF */
	if (c == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c == 0xed)
		hi = 0x9f; /* UTF-16 surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong */
	else if (c == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	if (n < need || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < need; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return need;
}

size_t log_json_escape(char *dst, size_t cap, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t out = 0, i = 0;

	while (i < len) {
		char esc[8];
		const char *piece = esc;
		size_t plen, used = 1;
		unsigned char c = s[i];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			plen = 2;
		} else if (c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f') {
			esc[0] = '\\';
			esc[1] = c == '\n'   ? 'n'
				 : c == '\r' ? 'r'
				 : c == '\t' ? 't'
				 : c == '\b' ? 'b'
					     : 'f';
			plen = 2;
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 0xf];
			plen = 6;
		} else if (c < 0x80) {
			piece = (const char *)s + i;
			plen = 1;
		} else if ((used = utf8_len(s + i, len - i)) > 0) {
			piece = (const char *)s + i;
			plen = used;
		} else {
			piece = "\xef\xbf\xbd"; /* U+FFFD for one invalid byte */
			plen = 3;
			used = 1;
		}
		if (plen > cap - out)
			break;
		memcpy(dst + out, piece, plen);
		out += plen;
		i += used;
	}
	return out;
}

/* A json line being built; appends that do not fit are dropped whole. */
struct jline {
	char *buf;
	size_t len, cap;
};

static void j_raw(struct jline *j, const char *s)
{
	size_t n = strlen(s);
	if (n <= j->cap - j->len) {
		memcpy(j->buf + j->len, s, n);
		j->len += n;
	}
}

/* ,"name":"value" with value escaped to at most max bytes; nothing when value is NULL
 * or the name does not fit. The closing quote always fits. */
static void j_str(struct jline *j, const char *name, const char *value, size_t len, size_t max)
{
	size_t open = strlen(name) + 5; /* ,"name":" */
	if (value == NULL || j->cap - j->len < open + 1)
		return;
	snprintf(j->buf + j->len, open + 1, ",\"%s\":\"", name);
	j->len += open;
	size_t room = j->cap - j->len - 1;
	j->len += log_json_escape(j->buf + j->len, room < max ? room : max, value, len);
	j->buf[j->len++] = '"';
}

static void j_cstr(struct jline *j, const char *name, const char *value)
{
	j_str(j, name, value, value ? strlen(value) : 0, FIELD_MAX_JSON);
}

/* The json object for one line, newline included, into buf; returns its length. */
static size_t json_line(char *buf, size_t cap, enum log_level level, const struct log_ctx *ctx,
			const struct timeval *tv, const char *msg, size_t msglen)
{
	struct jline j = { buf, 0, cap - 2 }; /* room kept for "}\n" */
	struct tm tm;
	char text[96];

	gmtime_r(&tv->tv_sec, &tm);
	size_t n = strftime(text, sizeof(text), "{\"time\":\"%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(text + n, sizeof(text) - n, ".%03dZ\",\"level\":\"%s\",\"pid\":%d",
		 (int)(tv->tv_usec / 1000), level_names[level], (int)getpid());
	j_raw(&j, text);
	j_cstr(&j, "event", ctx->event ? ctx->event : "log");
	if (ctx->kind) {
		snprintf(text, sizeof(text), "%c-%llu", ctx->kind, ctx->id);
		j_cstr(&j, "client", text);
		j_cstr(&j, "database", ctx->database);
		j_cstr(&j, "user", ctx->user);
		if (ctx->host && ctx->port > 0) {
			bool v6 = strchr(ctx->host, ':') != NULL;
			char addr[FIELD_MAX_JSON];
			snprintf(addr, sizeof(addr), "%s%s%s:%d", v6 ? "[" : "", ctx->host,
				 v6 ? "]" : "", ctx->port);
			j_cstr(&j, "address", addr);
		} else {
			j_cstr(&j, "address", ctx->host);
		}
	}
	j_cstr(&j, "sqlstate", ctx->sqlstate);
	j_str(&j, "message", msg, msglen, cap);
	j.cap = cap;
	j_raw(&j, "}\n");
	return j.len;
}

/* --- text --- */

/* "2026-12-01 23:40:01.123 42 LOG C-12 db/user@addr:port ": local time, as PgBouncer. */
static size_t text_header(char *line, size_t cap, enum log_level level, const struct log_ctx *ctx,
			  const struct timeval *tv)
{
	struct tm tm;
	char prefix[256] = "";

	localtime_r(&tv->tv_sec, &tm);
	size_t len = strftime(line, cap, "%Y-%m-%d %H:%M:%S", &tm);
	if (ctx->kind)
		snprintf(prefix, sizeof(prefix), "%c-%llu %s/%s@%s:%d", ctx->kind, ctx->id,
			 ctx->database ? ctx->database : "(nodb)",
			 ctx->user ? ctx->user : "(nouser)", ctx->host ? ctx->host : "unix",
			 ctx->port);
	int n = snprintf(line + len, cap - len, ".%03d %d %s %s%s", (int)(tv->tv_usec / 1000),
			 (int)getpid(), level_names[level], prefix, ctx->kind ? " " : "");
	if (n > 0)
		len += (size_t)n;
	return len < cap ? len : cap - 1;
}

void log_write(enum log_level level, struct log_ctx ctx, const char *fmt, ...)
{
	char line[LINE_MAX_TEXT];
	char json[LINE_MAX_JSON];
	struct timeval tv;
	int saved_errno = errno;

	gettimeofday(&tv, NULL);
	/* text: header and message share one buffer; json: the message alone */
	size_t len =
		log_fmt == LOG_FORMAT_TEXT ? text_header(line, sizeof(line), level, &ctx, &tv) : 0;
	va_list ap;
	va_start(ap, fmt);
	errno = saved_errno; /* for %m */
	int n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	va_end(ap);
	if (n > 0)
		len += (size_t)n;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;

	const char *out = line;
	if (log_fmt == LOG_FORMAT_JSON) {
		len = json_line(json, sizeof(json), level, &ctx, &tv, line, len);
		out = json;
	} else {
		line[len++] = '\n';
	}
	write_all(STDERR_FILENO, out, len);
	if (log_fd >= 0)
		write_all(log_fd, out, len);
	errno = saved_errno;
}

void log_close(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
}
