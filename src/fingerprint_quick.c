/*
 * fingerprint_quick: the ways fingerprint.h tells a text without lexing it.
 * fingerprint_shape hashes a text with its constants left out, for the text
 * cache; fingerprint_alike finds a text to be the text before but for a
 * number, and fingerprint_again does so where the text lies, without a copy.
 * Owns nothing.
 */
#include "sluice/fingerprint.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "sluice/util.h"

/* --- the quick shape pass --- */

#define SH_SPECIAL 1 /* a quote, $, a comment's start, NUL, non-ASCII: looked at closely */
#define SH_DIGIT   2
#define SH_IDENT   4 /* a digit after one of these is part of a name */
/* Per byte: SH_SPECIAL, SH_DIGIT, SH_IDENT bits (generated: letters and _ IDENT;
 * digits DIGIT|IDENT; ' " $ - / NUL and bytes >= 0x80 SPECIAL). */
static const uint8_t shape_cls[256] = {
	1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6,
	0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 0, 0, 0, 0, 4, 0, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
	4, 4, 4, 4, 4, 4, 4, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

/* A letter, digit or _: a constant right after one is part of a name. */
static bool shape_ident_char(unsigned char c)
{
	return (shape_cls[c] & SH_IDENT) != 0;
}

/* A numeric literal at s[i] (a digit not after an identifier character): its end, or 0
 * when it is one the pass does not follow (1e5, 0x1F, 1_000, 12abc, 1.2.3). */
static size_t shape_number(const char *s, size_t len, size_t i, uint64_t *lit)
{
	bool dot = false;
	for (; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '.') {
			if (dot)
				return 0;
			dot = true;
		} else if (c < '0' || c > '9') {
			break;
		}
		*lit = (*lit ^ c) * FP_FNV_PRIME;
	}
	if (i < len && (shape_ident_char((unsigned char)s[i]) || (unsigned char)s[i] >= 0x80))
		return 0;
	return i;
}

/* A plain '...' string at s[i]: the index after its closing quote, or 0 when unterminated. */
static size_t shape_string(const char *s, size_t len, size_t i, uint64_t *lit)
{
	for (i++; i < len; i++) {
		if (s[i] == '\'') {
			if (i + 1 < len && s[i + 1] == '\'') {
				i++;
				continue;
			}
			return i + 1;
		}
		*lit = (*lit ^ (unsigned char)s[i]) * FP_FNV_PRIME;
	}
	return 0;
}

/* A special byte the pass keeps as it is: a '-' or '/' that starts no comment. */
static bool shape_plain_special(const char *s, size_t len, size_t i)
{
	char c = s[i];
	if (c == '-')
		return !(i + 1 < len && s[i + 1] == '-');
	if (c == '/')
		return !(i + 1 < len && s[i + 1] == '*');
	return false;
}

bool fingerprint_shape(const char *sql, size_t len, uint64_t *shape, uint64_t *literals)
{
	uint64_t h = FP_FNV_OFFSET, lit = FP_FNV_OFFSET;
	unsigned char prev = ' ';
	size_t i = 0, run = 0; /* kept bytes since `run` are hashed when a constant comes */
	while (i < len) {
		uint8_t k = shape_cls[(unsigned char)sql[i]];
		if (k == 0 || k == SH_IDENT || (k & SH_DIGIT && shape_cls[prev] & SH_IDENT) ||
		    (k == SH_SPECIAL && shape_plain_special(sql, len, i))) {
			prev = (unsigned char)sql[i++];
			continue;
		}
		unsigned char c = (unsigned char)sql[i];
		size_t next = 0;
		if (c == '$' && i + 1 < len && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
			for (next = i + 1; next < len && sql[next] >= '0' && sql[next] <= '9';
			     next++)
				; /* a parameter stays as it is: $1 and $2 are kept apart */
			prev = '0';
			i = next;
			continue;
		}
		if (c >= '0' && c <= '9')
			next = shape_number(sql, len, i, &lit);
		else if (c == '\'' && !shape_ident_char(prev) && prev != '&')
			next = shape_string(sql, len, i, &lit);
		if (next == 0)
			return false; /* a comment, a quoted identifier, a dollar quote, ... */
		h = util_hash64(h, sql + run, i - run);
		h = (h ^ (c == '\'' ? 0x100 : 0x101)) * FP_FNV_PRIME; /* a string, or a number */
		prev = c == '\'' ? '\'' : '0';
		i = run = next;
	}
	*shape = util_hash64(h, sql + run, i - run);
	*literals = lit;
	return true;
}

/* --- the same shape as the text before --- */

/* 1 for a digit, 2 for a dot: what a number is made of */
static const uint8_t num_cls[256] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1,
	['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['.'] = 2,
};

#if defined(__SSE2__)
/* Bit i set when a[i] != b[i], for i < 16. */
static unsigned differ16(const char *a, const char *b)
{
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)a);
	__m128i y = _mm_loadu_si128((const __m128i *)(const void *)b);
	return (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, y)) ^ 0xffffu;
}
#endif

/* The length of the common prefix of a and b, both at least n bytes long. */
static inline size_t common_prefix(const char *a, const char *b, size_t n)
{
	size_t p = 0;
#if defined(__SSE2__)
	for (; p + 16 <= n; p += 16) {
		unsigned differ = differ16(a + p, b + p);
		if (differ)
			return p + (size_t)__builtin_ctz(differ);
	}
	if (p < n && n >= 16) { /* the last 16 bytes, overlapping what was compared */
		unsigned differ = differ16(a + n - 16, b + n - 16);
		return differ ? n - 16 + (size_t)__builtin_ctz(differ) : n;
	}
#endif
	while (p < n && a[p] == b[p])
		p++;
	return p;
}

/*
 * How many bytes of the word w (read little-endian: its first byte lowest)
 * are digits, from its first on (0 to 8). A byte is a digit when, xor '0',
 * it is below 10, which is when neither it nor it + 6 reaches 0x10; a carry
 * out of a byte (>= 0xfa, not a digit) only reaches later bytes.
 */
static inline size_t word_digits(uint64_t w)
{
	uint64_t t = w ^ UINT64_C(0x3030303030303030);
	uint64_t not_digit =
		(t | (t + UINT64_C(0x0606060606060606))) & UINT64_C(0xf0f0f0f0f0f0f0f0);
	return not_digit ? (size_t)__builtin_ctzll(not_digit) / 8 : 8;
}

/* The digits at s[i..] run to the returned index; s[len] is a NUL. Eight
 * bytes at a time while they lie within s[0..len]. */
static inline size_t digits_end(const unsigned char *s, size_t i, size_t len)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	for (; i + 8 <= len + 1; i += 8) {
		uint64_t w;
		memcpy(&w, s + i, 8);
		size_t d = word_digits(w);
		if (d < 8)
			return i + d;
	}
#endif
	while (num_cls[s[i]] == 1)
		i++;
	return i;
}

/* An id of the constant s[i..e) of a text followed by FP_ALIKE_PAD NULs: its
 * bytes themselves when they fit in a word (digits are never 0, so the length
 * is in them). */
static uint64_t number_id(const unsigned char *s, size_t i, size_t e)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (e - i < 8) {
		uint64_t w;
		memcpy(&w, s + i, 8);
		return w & ((UINT64_C(1) << (8 * (e - i))) - 1);
	}
#endif
	return util_hash64(FP_FNV_OFFSET, s + i, e - i);
}

/*
 * fingerprint_alike at the anchor, for the common case: prev's number at
 * `at` (its start, with no name before it) and in sql an integer of one to
 * seven digits there, all else the same. The answer, or -1 when that is not
 * so (the texts differ elsewhere, or the number is longer or has a dot): the
 * general way then tells. The word read at `at` may reach into the padding.
 */
static int alike_at(const unsigned char *a, size_t plen, const unsigned char *b, size_t len,
		    const struct fp_anchor *an, uint64_t *literal)
{
	size_t p = an->at, tail = an->tail;
	if (len < p + tail + 1 || memcmp(a, b, p) != 0)
		return -1;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t w;
	memcpy(&w, b + p, 8);
	size_t digits = word_digits(w);
	size_t e = p + digits;
	if (digits == 0 || digits == 8 || b[e] == '.' || len - e != tail)
		return -1;
	if (tail <= 8) { /* mostly: ";", ")", " LIMIT 1"; the NULs after both ends are alike */
		uint64_t ta, tb;
		memcpy(&ta, a + plen - tail, 8);
		memcpy(&tb, b + e, 8);
		if (ta != tb)
			return -1;
	} else if (memcmp(a + plen - tail, b + e, tail) != 0) {
		return -1;
	}
	*literal = w & ((UINT64_C(1) << (8 * digits)) - 1); /* as number_id gives it */
	/* the same bytes when the same length (prev's literal is a hash only when longer) */
	return e == plen - tail && *literal == an->literal ? FP_SAME_TEXT : FP_SAME_SHAPE;
#else
	return -1;
#endif
}

/* fingerprint_alike the general way: where do they differ, and is it a number? */
__attribute__((noinline)) static enum fp_alike alike_anywhere(const char *prev, size_t plen,
							      const char *sql, size_t len,
							      struct fp_anchor *anchor,
							      uint64_t *literal)
{
	const unsigned char *a = (const unsigned char *)prev, *b = (const unsigned char *)sql;
	size_t p = common_prefix(prev, sql, plen < len ? plen : len);
	if (p == plen && p == len)
		return FP_SAME_TEXT;
	/* where they differ, widened to the start of a run of digits and dots */
	while (p > 0 && num_cls[a[p - 1]])
		p--;
	/* a digit in both; before it no name, parameter or literal prefix it could belong to */
	unsigned char before = p ? a[p - 1] : ' ';
	if (num_cls[a[p]] != 1 || num_cls[b[p]] != 1 || shape_ident_char(before) || before == '$' ||
	    before >= 0x80)
		return FP_DIFFERENT;
	/* a number in both (one dot at most in sql's), then the same bytes */
	size_t pe = digits_end(a, p, plen), e = digits_end(b, p, len);
	while (num_cls[a[pe]])
		pe++;
	if (b[e] == '.')
		e = digits_end(b, e + 1, len);
	if (b[e] == '.' || plen - pe != len - e ||
	    common_prefix(prev + pe, sql + e, len - e) != len - e)
		return FP_DIFFERENT;
	*literal = number_id(b, p, e);
	*anchor = (struct fp_anchor){ (uint32_t)p, (uint32_t)(plen - pe), number_id(a, p, pe) };
	return FP_SAME_SHAPE;
}

enum fp_alike fingerprint_alike(const char *prev, size_t plen, const char *sql, size_t len,
				struct fp_anchor *anchor, uint64_t *literal)
{
	if (anchor->at != 0) {
		int r = alike_at((const unsigned char *)prev, plen, (const unsigned char *)sql, len,
				 anchor, literal);
		if (r >= 0)
			return (enum fp_alike)r;
	}
	return alike_anywhere(prev, plen, sql, len, anchor, literal);
}

size_t fingerprint_again(char *last, size_t llen, size_t cap, const char *sql, size_t avail,
			 const struct fp_anchor *an, uint64_t *literal)
{
	size_t p = an->at, tail = an->tail;
	if (p == 0) { /* no anchor: only the same text again is known */
		if (llen == 0 || avail <= llen || memcmp(last, sql, llen + 1) != 0)
			return 0;
		*literal = 0;
		return llen;
	}
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (tail > 8 || avail < p + 2 + tail || llen < p + 1 + tail)
		return 0;
	uint64_t w;
	memcpy(&w, sql + p, 8);
	size_t digits = word_digits(w);
	size_t e = p + digits, len = e + tail;
	if (digits == 0 || digits == 8 || len >= avail || sql[len] != '\0' || e + 16 > cap)
		return 0;
	/* the tails, not what follows sql's NUL (last's starts with no digit or dot,
	 * so that the numbers are alike when the rest is) */
	uint64_t ta, tb, mask = tail == 8 ? ~UINT64_C(0) : (UINT64_C(1) << (8 * tail)) - 1;
	memcpy(&ta, last + llen - tail, 8);
	memcpy(&tb, sql + e, 8);
	tb &= mask;
	if ((ta & mask) != tb)
		return 0;
	/* last becomes sql past the prefix (its number, and bytes the tail then
	 * covers; its tail; NULs), and then the prefixes are compared: little is
	 * left to keep across that call */
	memcpy(last + p, &w, 8);
	memcpy(last + e, &tb, 8);
	memset(last + e + 8, 0, 8);
	*literal = w & ((UINT64_C(1) << (8 * digits)) - 1); /* as number_id gives it */
	return memcmp(last, sql, p) == 0 ? len : 0;
#else
	return 0;
#endif
}
