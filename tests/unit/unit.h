/*
 * unit.h: the few macros the unit tests share. A failed CHECK prints the
 * expression with file:line and makes the test program exit 1 at the end.
 */
#ifndef SLUICE_UNIT_H
#define SLUICE_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_failures;
static int unit_checks;

#define CHECK(expr)                                                                              \
	do {                                                                                     \
		unit_checks++;                                                                   \
		if (!(expr)) {                                                                   \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
			unit_failures++;                                                         \
		}                                                                                \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *a_ = (a), *b_ = (b);                                                   \
		unit_checks++;                                                                     \
		if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0) {                             \
			fprintf(stderr, "%s:%d: CHECK_STR failed: %s = \"%s\", expected \"%s\"\n", \
				__FILE__, __LINE__, #a, a_ ? a_ : "(null)", b_ ? b_ : "(null)");   \
			unit_failures++;                                                           \
		}                                                                                  \
	} while (0)

#define UNIT_DONE()                                                           \
	do {                                                                  \
		printf("%d checks, %d failed\n", unit_checks, unit_failures); \
		return unit_failures ? 1 : 0;                                 \
	} while (0)

#endif
