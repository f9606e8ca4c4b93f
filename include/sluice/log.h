/*
 * log: leveled log lines to stderr and, when configured, a log file.
 * Every line carries a timestamp, the process id, the level and an optional
 * connection prefix ("C-12 db/user@127.0.0.1:5000"). Never pass secrets here.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <stdbool.h>

enum log_level {
	LOG_FATAL = 0,
	LOG_ERROR,
	LOG_WARNING,
	LOG_INFO,
	LOG_DEBUG, /* verbose=1 */
	LOG_NOISE, /* verbose=2 */
};

/* Current threshold; lines above it are dropped before formatting. */
extern enum log_level log_threshold;

/* Set the threshold from PgBouncer's `verbose` (0 = info, 1 = debug, 2+ = noise). */
void log_set_verbose(int verbose);

/* (Re)open `path` for appending; NULL or "" closes the file and logs to stderr only.
 * Returns false (and keeps the old file) when the file cannot be opened. */
bool log_open_file(const char *path) __attribute__((warn_unused_result));

/* Close the log file (stderr stays). */
void log_close(void);

/* Write one line. `prefix` may be NULL. Use the macros below instead. */
void log_write(enum log_level level, const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_enabled(lvl) ((lvl) <= log_threshold)

#define log_at(lvl, prefix, ...)                                 \
	do {                                                     \
		if (log_enabled(lvl))                            \
			log_write((lvl), (prefix), __VA_ARGS__); \
	} while (0)

#define log_fatal(...) log_at(LOG_FATAL, NULL, __VA_ARGS__)
#define log_error(...) log_at(LOG_ERROR, NULL, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_WARNING, NULL, __VA_ARGS__)
#define log_info(...)  log_at(LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, NULL, __VA_ARGS__)
#define log_noise(...) log_at(LOG_NOISE, NULL, __VA_ARGS__)

#endif
