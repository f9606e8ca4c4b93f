/*
 * fuzz_fingerprint: the SQL normaliser on any bytes. Input: the SQL text; its
 * first byte also picks a small buffer size. Asserts: the text is
 * NUL-terminated within the buffer and fp.len long; a small buffer gives a
 * prefix of the full text with the same id; normalising the full text again
 * gives the same text and id; a byte 0x01 in the input is a slot for a
 * number, and filling the slots with different numbers changes neither text
 * nor id (unless the input has a '"': a slot inside a quoted identifier
 * renames it); and whatever bytes sit inside a string, a dollar quote or a
 * comment never reach the text.
 */
#include <stdbool.h>
#include <string.h>

#include "sluice/fingerprint.h"

#include "fuzz.h"

#define FULL_CAP (4 * 4096 + 64) /* every constant of a 4096-byte input as $nnnn */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* Normalise into a heap buffer of exactly cap bytes (cap 0: NULL), check its bounds. */
static char *run(const uint8_t *data, size_t size, size_t cap, struct fingerprint *fp)
{
	char *copy = (char *)fuzz_copy(data, size);
	char *out = cap > 0 ? malloc(cap) : NULL;
	FUZZ_CHECK(cap == 0 || out != NULL);
	fingerprint_sql(copy, size, out, cap, fp);
	free(copy);
	FUZZ_CHECK(fp->id != 0);
	if (cap == 0) {
		FUZZ_CHECK(fp->len == 0);
		return NULL;
	}
	FUZZ_CHECK(fp->len < cap && memchr(out, '\0', cap) == out + fp->len);
	return out;
}

/* A small buffer: a prefix of the full text, the same id and statement count. */
static void check_small(const uint8_t *data, size_t size, const char *full,
			const struct fingerprint *f)
{
	struct fingerprint g;
	size_t cap = size > 0 ? data[0] % 48 : 0;
	char *small = run(data, size, cap, &g);
	FUZZ_CHECK(g.id == f->id && g.statements == f->statements);
	FUZZ_CHECK(g.len <= f->len && (g.len == 0 || memcmp(small, full, g.len) == 0));
	if (!f->truncated)
		FUZZ_CHECK(g.truncated == (f->len > 0 && f->len + 1 > cap));
	free(small);
}

/* The full text read back: itself, with the same id. */
static void check_idempotent(const char *full, const struct fingerprint *f)
{
	struct fingerprint g;
	char *again = run((const uint8_t *)full, f->len, FULL_CAP, &g);
	FUZZ_CHECK(!g.truncated && g.id == f->id && g.statements == f->statements);
	FUZZ_CHECK(strcmp(again, full) == 0);
	free(again);
}

/* data with every 0x01 replaced by a number from `nums`, spaced; the caller frees it. */
static uint8_t *fill_slots(const uint8_t *data, size_t size, const char *const *nums,
			   size_t *outlen)
{
	uint8_t *s = malloc(size * 12 + 1);
	size_t n = 0, k = 0;
	FUZZ_CHECK(s != NULL);
	for (size_t i = 0; i < size; i++) {
		if (data[i] != 0x01) {
			s[n++] = data[i];
			continue;
		}
		const char *num = nums[k++ % 4];
		s[n++] = ' ';
		memcpy(s + n, num, strlen(num));
		n += strlen(num);
		s[n++] = ' ';
	}
	*outlen = n;
	return s;
}

static void check_slots(const uint8_t *data, size_t size)
{
	static const char *const one[] = { "1", "1", "1", "1" };
	static const char *const other[] = { "2345.5e3", ".5", "0x1F", "1_000" };
	if (memchr(data, 0x01, size) == NULL || memchr(data, '"', size) != NULL)
		return;
	size_t alen, blen;
	uint8_t *a = fill_slots(data, size, one, &alen), *b = fill_slots(data, size, other, &blen);
	struct fingerprint fa, fb;
	char *ta = run(a, alen, FULL_CAP, &fa), *tb = run(b, blen, FULL_CAP, &fb);
	FUZZ_CHECK(fa.id == fb.id && strcmp(ta, tb) == 0);
	free(a);
	free(b);
	free(ta);
	free(tb);
}

/*
 * The shape pass: slots filled with constants it reads (a number, a string)
 * give one shape when it takes both texts, and then one fingerprint too.
 */
static void check_shape_slots(const uint8_t *data, size_t size)
{
	static const char *const one[] = { "1", "'a'", "7.5", "''" };
	static const char *const other[] = { "23.", "'b''c'", "0", "'xyz'" };
	if (memchr(data, 0x01, size) == NULL)
		return;
	size_t alen, blen;
	uint8_t *a = fill_slots(data, size, one, &alen), *b = fill_slots(data, size, other, &blen);
	uint64_t sa, sb, la, lb;
	if (fingerprint_shape((const char *)a, alen, &sa, &la) &&
	    fingerprint_shape((const char *)b, blen, &sb, &lb)) {
		struct fingerprint fa, fb;
		free(run(a, alen, 0, &fa));
		free(run(b, blen, 0, &fb));
		FUZZ_CHECK(sa == sb && fa.id == fb.id);
	}
	free(a);
	free(b);
}

/* s[0..len) and a NUL, in a buffer of its own (ASan sees a read past it). */
static char *nul_copy(const char *s, size_t len)
{
	char *p = malloc(len + FP_ALIKE_PAD);
	FUZZ_CHECK(p != NULL);
	memcpy(p, s, len);
	memset(p + len, 0, FP_ALIKE_PAD);
	return p;
}

/*
 * fingerprint_alike's FP_SAME_SHAPE is a promise: b has a's shape and
 * fingerprint. The anchor earlier calls on a left (*kept) changes nothing.
 */
static enum fp_alike check_alike_pair(const char *a, size_t alen, const char *b, size_t blen,
				      struct fp_anchor *kept)
{
	uint64_t lit = 0, lit2 = 0, sa, sb, la, lb;
	char *na = nul_copy(a, alen), *nb = nul_copy(b, blen);
	struct fp_anchor none = { 0 };
	enum fp_alike r = fingerprint_alike(na, alen, nb, blen, &none, &lit);
	enum fp_alike again = fingerprint_alike(na, alen, nb, blen, kept, &lit2);
	FUZZ_CHECK(again == r && (r != FP_SAME_SHAPE || lit2 == lit));
	free(na);
	free(nb);
	if (r == FP_SAME_TEXT)
		FUZZ_CHECK(alen == blen && memcmp(a, b, alen) == 0);
	if (r != FP_SAME_SHAPE || !fingerprint_shape(a, alen, &sa, &la))
		return r;
	FUZZ_CHECK(fingerprint_shape(b, blen, &sb, &lb) && sa == sb);
	struct fingerprint fa, fb;
	free(run((const uint8_t *)a, alen, 0, &fa));
	free(run((const uint8_t *)b, blen, 0, &fb));
	FUZZ_CHECK(fa.id == fb.id);
	return r;
}

/*
 * fingerprint_again's yes is fingerprint_alike's (or, with no anchor, sql is
 * last again): `last` (a, or alike a at *kept) becomes sql, read where it
 * lies, in a buffer that ends where it may read no further (ASan sees a
 * read past it).
 */
static void check_again(const char *a, size_t alen, const char *last, size_t llen,
			const struct fp_anchor *kept, const char *sql, size_t slen)
{
	size_t cap = llen + 4 * FP_ALIKE_PAD;
	char *l = calloc(1, cap), *s = malloc(slen + 8), *na = nul_copy(a, alen);
	FUZZ_CHECK(l != NULL && s != NULL);
	memcpy(l, last, llen);
	memcpy(s, sql, slen);
	memset(s + slen, '5', 8);
	s[slen] = '\0';
	uint64_t lit = 0, lit2 = 0;
	size_t n = fingerprint_again(l, llen, cap, s, slen + 1, kept, &lit);
	if (n != 0 && kept->at == 0) {
		FUZZ_CHECK(n == llen && memcmp(l, s, n + 1) == 0 && lit == 0);
	} else if (n != 0) {
		FUZZ_CHECK(n <= slen && memcmp(l, s, n) == 0 && l[n] == '\0');
		struct fp_anchor an = *kept;
		char *ns = nul_copy(s, n);
		enum fp_alike r = fingerprint_alike(na, alen, ns, n, &an, &lit2);
		FUZZ_CHECK(r != FP_DIFFERENT && (r != FP_SAME_SHAPE || lit == lit2));
		free(ns);
	} else { /* (past the anchor it may have been written over) */
		FUZZ_CHECK(memcmp(l, last, kept->at < llen ? kept->at : llen) == 0);
	}
	free(l);
	free(s);
	free(na);
}

/*
 * Data is a text, 0x02, and the digits to put in place of its first run of
 * digits and dots; the two texts, and the text and what follows 0x02 as it
 * is, are checked with check_alike_pair, each with the anchor the one before
 * left.
 */
static void check_alike(const uint8_t *data, size_t size)
{
	const uint8_t *cut = memchr(data, 0x02, size);
	if (cut == NULL)
		return;
	const char *a = (const char *)data, *rest = (const char *)cut + 1;
	size_t alen = (size_t)(cut - data), rlen = size - alen - 1, i = 0, j;
	struct fp_anchor kept = { 0 };
	check_alike_pair(a, alen, rest, rlen, &kept);
	while (i < alen && !(a[i] >= '0' && a[i] <= '9'))
		i++;
	for (j = i; j < alen && ((a[j] >= '0' && a[j] <= '9') || a[j] == '.'); j++)
		;
	char *b = malloc(alen + rlen + 1);
	FUZZ_CHECK(b != NULL);
	memcpy(b, a, i);
	memcpy(b + i, rest, rlen);
	memcpy(b + i + rlen, a + j, alen - j);
	size_t blen = alen - (j - i) + rlen;
	if (check_alike_pair(a, alen, b, blen, &kept) != FP_DIFFERENT) {
		check_again(a, alen, b, blen, &kept, rest, rlen);
		check_again(a, alen, b, blen, &kept, a, alen);
	}
	check_alike_pair(a, alen, rest, rlen, &kept);
	free(b);
}

/* prefix + data without the bytes in `drop` + suffix must normalise to `expect`. */
static void check_hidden(const uint8_t *data, size_t size, const char *prefix, const char *drop,
			 size_t ndrop, const char *suffix, const char *expect)
{
	size_t pl = strlen(prefix), sl = strlen(suffix), n = 0;
	uint8_t *s = malloc(pl + size + sl);
	FUZZ_CHECK(s != NULL);
	memcpy(s, prefix, pl);
	n = pl;
	for (size_t i = 0; i < size; i++)
		if (memchr(drop, data[i], ndrop) == NULL)
			s[n++] = data[i];
	memcpy(s + n, suffix, sl);
	struct fingerprint f;
	char *t = run(s, n + sl, 64, &f);
	FUZZ_CHECK(strcmp(t, expect) == 0);
	free(s);
	free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fingerprint f, g;
	char *full = run(data, size, FULL_CAP, &f);
	run(data, size, 0, &g);
	FUZZ_CHECK(g.id == f.id && g.statements == f.statements && g.truncated == (f.len > 0));
	check_small(data, size, full, &f);
	if (!f.truncated)
		check_idempotent(full, &f);
	check_slots(data, size);
	check_shape_slots(data, size);
	check_alike(data, size);
	/* a NUL ends the text: only in the string, where the string runs on to the end anyway */
	check_hidden(data, size, "SELECT '", "'", 1, "'", "select $1");
	check_hidden(data, size, "SELECT $q$", "$", 1, "$q$", "select $1");
	check_hidden(data, size, "SELECT 1 /*", "*/", 3, "*/ + 2", "select $1 + $2");
	check_hidden(data, size, "-- ", "\n\r", 3, "\nSELECT 1", "select $1");
	free(full);
	return 0;
}
