/*
 * util: small helpers shared by the runtime modules: clocks, random numbers,
 * allocation that aborts on exhaustion (a pooler that cannot allocate a few
 * bytes cannot make progress either), string helpers.
 */
#ifndef SLUICE_UTIL_H
#define SLUICE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/config.h"

/* A function on a rare path (an error, a log line, a first sight): kept out
 * of line, so that the hot code around its call needs fewer registers. */
#define UTIL_COLD __attribute__((cold, noinline))
/* A function one dispatcher calls among others (a relay hook's cases): kept out
 * of line, so that each case pays for its own registers only. */
#define UTIL_NOINLINE __attribute__((noinline))

/*
 * Monotonic clock in microseconds, read once per event (util_tick) and
 * cached: everything one callback does shares one instant, and the hot path
 * makes no clock call per state change.
 */
/* Read the clock again; called at the start of every event callback. */
usec_t util_tick(void);
extern usec_t util_cached_now; /* util_tick's last reading (a first one runs before main) */
static inline usec_t util_now(void)
{
	return util_cached_now;
}
/* Wall clock in microseconds since the epoch (for display only). */
usec_t util_wallclock(void);
/* Cryptographically random 32 bits. */
uint32_t util_random_u32(void);
/* Random bytes; false only if the RNG fails. */
bool util_random_bytes(void *buf, size_t n) __attribute__((warn_unused_result));

/* A fast 64-bit hash of p[0..n) on top of h, eight bytes at a time; not for
 * anything an attacker must not collide (it is not keyed). */
uint64_t util_hash64(uint64_t h, const void *p, size_t n);
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* strdup of NULL is NULL. */
char *xstrdup_null(const char *s);

/* Replace *dst by a copy of src (NULL allowed), freeing the old one. */
void str_replace(char **dst, const char *src);
/* NULL-safe equality. */
bool str_eq(const char *a, const char *b);
/* Overwrite a secret string with zeros, then free it; NULL is allowed. */
void str_wipe_free(char *s);

#endif
