/*
 * util: clocks, randomness and aborting allocators.
 */
#include "sluice/util.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sluice/log.h"

usec_t util_cached_now;

usec_t util_tick(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	util_cached_now = (usec_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	return util_cached_now;
}

/* The first reading, before main: util_now() never sees an unset clock. */
__attribute__((constructor)) static void util_first_tick(void)
{
	util_tick();
}

usec_t util_wallclock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (usec_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

bool util_random_bytes(void *buf, size_t n)
{
	return RAND_bytes(buf, (int)n) == 1;
}

uint32_t util_random_u32(void)
{
	/* one RAND_bytes call per 64 keys: each call costs thousands of instructions */
	static uint32_t pool[64];
	static size_t left;
	if (left == 0) {
		if (!util_random_bytes(pool, sizeof(pool))) {
			log_fatal("random number generator failed");
			abort();
		}
		left = sizeof(pool) / sizeof(pool[0]);
	}
	uint32_t v = pool[--left];
	pool[left] = 0;
	return v;
}

static void *oom(size_t n)
{
	log_fatal("out of memory allocating %zu bytes", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	return p ? p : oom(n);
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	return p ? p : oom(n * size);
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	return q ? q : oom(n);
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	return p ? p : oom(strlen(s) + 1);
}

char *xstrdup_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void str_replace(char **dst, const char *src)
{
	char *copy = xstrdup_null(src);
	free(*dst);
	*dst = copy;
}

bool str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

void str_wipe_free(char *s)
{
	if (s != NULL) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

uint64_t util_hash64(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	const uint64_t k = UINT64_C(0x9e3779b97f4a7c15);
	size_t len = n;
	uint64_t w;
	for (; n >= 8; s += 8, n -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * k;
		h ^= h >> 29;
	}
	if (n > 0 && len >= 8) { /* the last 8 bytes, some hashed already */
		memcpy(&w, s + n - 8, 8);
	} else {
		w = 0;
		for (size_t i = 0; i < n; i++)
			w |= (uint64_t)s[i] << (8 * i);
	}
	h = (h ^ w ^ ((uint64_t)len << 56)) * k; /* the length: "ab" and "ab\0" differ */
	return h ^ (h >> 29);
}
