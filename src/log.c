/*
 * log: formats one line per call and writes it to stderr and the optional
 * log file with a single write(2) each, so lines from one process never
 * interleave mid-line. Owns the threshold and the log file descriptor.
 */
#include "sluice/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum log_level log_threshold = LOG_INFO;
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
	char line[4096];
	struct timeval tv;
	int saved_errno = errno;

	gettimeofday(&tv, NULL);
	size_t len = text_header(line, sizeof(line), level, &ctx, &tv);
	va_list ap;
	va_start(ap, fmt);
	errno = saved_errno; /* for %m */
	int n = vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	va_end(ap);
	if (n > 0)
		len += (size_t)n;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';

	write_all(STDERR_FILENO, line, len);
	if (log_fd >= 0)
		write_all(log_fd, line, len);
	errno = saved_errno;
}

void log_close(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
}
