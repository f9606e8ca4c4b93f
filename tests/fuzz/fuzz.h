/*
 * fuzz.h: what the libFuzzer targets share. FUZZ_CHECK states an invariant:
 * when it does not hold, the target prints it and aborts, and libFuzzer keeps
 * the input as a crash.
 */
#ifndef SLUICE_FUZZ_H
#define SLUICE_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(expr)                                                                     \
	do {                                                                                 \
		if (!(expr)) {                                                               \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, \
				#expr);                                                      \
			abort();                                                             \
		}                                                                            \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* True when the NUL-terminated string s starts inside [base, base + len) and ends there too. */
static inline int fuzz_str_inside(const char *s, const void *base, size_t len)
{
	const char *b = base;
	if (s < b || s >= b + len)
		return 0;
	for (const char *p = s; p < b + len; p++)
		if (*p == '\0')
			return 1;
	return 0;
}

/* A heap copy of exactly `len` bytes (ASan allocates even 0), so AddressSanitizer
 * catches any read past the end; the caller frees it. */
static inline uint8_t *fuzz_copy(const uint8_t *data, size_t len)
{
	uint8_t *p = malloc(len);
	FUZZ_CHECK(p != NULL);
	for (size_t i = 0; i < len; i++)
		p[i] = data[i];
	return p;
}

#endif
