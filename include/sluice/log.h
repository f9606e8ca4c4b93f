/*
 * log: leveled log lines to stderr and, when configured, a log file.
 * A line is a level, a message and a struct log_ctx of structured parts
 * (event, connection id, database, user, address, SQLSTATE). log_format
 * text prints them as "time pid LEVEL C-12 db/user@127.0.0.1:5000 message";
 * json as one object per line. Never pass secrets here.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_FATAL = 0,
	LOG_ERROR,
	LOG_WARNING,
	LOG_INFO,
	LOG_DEBUG, /* verbose=1 */
	LOG_NOISE, /* verbose=2 */
};

/* log_format: how a line is written. */
enum log_format {
	LOG_FORMAT_TEXT = 0, /* "2026-12-01 23:40:01.123 42 LOG C-12 db/user@addr:port message" */
	LOG_FORMAT_JSON,     /* one JSON object per line (README: log_format) */
};

/*
 * What a line is about besides its text. Every pointer may be NULL and is
 * only read during the call. With kind 0 the line has no connection and the
 * text format no prefix; otherwise text renders "K-id db/user@host:port",
 * with "(nodb)" / "(nouser)" for a NULL database / user.
 */
struct log_ctx {
	const char *event; /* short stable name ("client_close"); NULL: "log" */
	char kind;         /* 'C' client, 'S' server, 0 none */
	unsigned long long id;
	const char *database;
	const char *user;
	const char *host;     /* peer address or host name; "unix" for a unix socket */
	int port;             /* 0: unknown (unix socket) */
	const char *sqlstate; /* set when the line reports an error that has one */
};

/* A line about no connection, with an event name. */
#define LOG_CTX(ev) ((struct log_ctx){ .event = (ev) })

/* Current threshold; lines above it are dropped before formatting. */
extern enum log_level log_threshold;

/* Set the threshold from PgBouncer's `verbose` (0 = info, 1 = debug, 2+ = noise). */
void log_set_verbose(int verbose);

/* Choose the format of the lines written from now on (text until called). */
void log_set_format(enum log_format format);

/* (Re)open `path` for appending; NULL or "" closes the file and logs to stderr only.
 * Returns false (and keeps the old file) when the file cannot be opened. */
bool log_open_file(const char *path) __attribute__((warn_unused_result));

/* Close the log file (stderr stays). */
void log_close(void);

/* Write one line. Use the macros below instead, which skip disabled levels
 * before evaluating their arguments. */
void log_write(enum log_level level, struct log_ctx ctx, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Append the `len` bytes of `src` to `dst` as the inside of a JSON string:
 * '"', '\\' and control characters escaped (\n, \t... or \u00XX), bytes that
 * are not valid UTF-8 replaced by U+FFFD. Writes at most `cap` bytes and
 * stops before a character whose encoding would not fit, so the output is
 * always valid; no NUL is added. Returns the number of bytes written. Pure.
 */
size_t log_json_escape(char *dst, size_t cap, const char *src, size_t len);

#define log_enabled(lvl) ((lvl) <= log_threshold)

#define log_at(lvl, ctx, ...)                                 \
	do {                                                  \
		if (log_enabled(lvl))                         \
			log_write((lvl), (ctx), __VA_ARGS__); \
	} while (0)

/* A line about no connection, with an event name ("start", "reload"...). */
#define log_event(lvl, ev, ...) log_at(lvl, LOG_CTX(ev), __VA_ARGS__)

/* Lines without an event of their own: json says "log". */
#define log_fatal(...) log_at(LOG_FATAL, LOG_CTX(NULL), __VA_ARGS__)
#define log_error(...) log_at(LOG_ERROR, LOG_CTX(NULL), __VA_ARGS__)
#define log_warn(...)  log_at(LOG_WARNING, LOG_CTX(NULL), __VA_ARGS__)
#define log_info(...)  log_at(LOG_INFO, LOG_CTX(NULL), __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, LOG_CTX(NULL), __VA_ARGS__)
#define log_noise(...) log_at(LOG_NOISE, LOG_CTX(NULL), __VA_ARGS__)

#endif
