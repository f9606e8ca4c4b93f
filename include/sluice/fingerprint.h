/*
 * fingerprint: SQL statement texts normalised and hashed, so that statements
 * differing only in their constants group together (query insight, like
 * pg_stat_statements' queryid, but from the text alone: no parser, no
 * catalog). Pure and allocation-free: bytes in, a caller's buffer and a small
 * struct out; linear in the input, safe on any bytes.
 */
#ifndef SLUICE_FINGERPRINT_H
#define SLUICE_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the admin console shows of a statement; a good size for the caller's buffer. */
#define FINGERPRINT_TEXT_MAX 1024

/* FNV-1a's 64-bit offset basis and prime: what fingerprint.c and
 * fingerprint_quick.c hash texts and constants with. */
#define FP_FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define FP_FNV_PRIME  UINT64_C(0x100000001b3)

/* What fingerprint_sql replaces a folded list's other members with. */
#define FINGERPRINT_FOLD_MARK "/*, ... */"

struct fingerprint {
	uint64_t id;         /* hash of the whole normalised token stream; never 0 */
	size_t len;          /* bytes written to the text, without its NUL */
	bool truncated;      /* the text stops early, at a token boundary; id does not */
	unsigned statements; /* non-empty ';'-separated statements (0 for only comments) */
};

/*
 * Normalise the SQL text sql[0..len) (a Query's text or a Parse's query: any
 * bytes, not NUL-terminated; a NUL byte ends the text as it does in the
 * protocol) into out, NUL-terminated, at most outcap - 1 bytes, and fill *fp.
 * out may be NULL when outcap is 0 (only the id is wanted). The rules:
 *
 * - Constants become numbered parameters $1, $2, ... in order of appearance:
 *   numbers (decimal, exponent, 0x/0o/0b, with '_'), every string form ('..',
 *   E'..', B'..', X'..', N'..', U&'..', $$..$$, $tag$..$tag$; adjacent strings
 *   are one constant, as SQL continues them), TRUE, FALSE and NULL (not after
 *   IS, nor NULL after NOT), and the text's own $n parameters, renumbered.
 *   Casts stay: interval '1 day' gives "interval $1", '1'::int "$1::int".
 * - A minus sign before a number where an operand starts (after an operator,
 *   '(', ',', '[', ';', the start or a keyword such as SELECT, WHERE, AND,
 *   THEN) is part of the constant: "x = -1" and "x = 1" are both "x = $1".
 * - Lists of constants fold to their first member and FINGERPRINT_FOLD_MARK,
 *   a comment (pg_stat_statements' form): IN (1, 2, 3) and IN ($1, $2) give
 *   "in ($1 MARK)", ARRAY[1, 2] gives "array[$1 MARK]", and the constant rows
 *   of VALUES (1, 2), (3, 4) give "values ($1, $2) MARK".
 * - Unquoted words are lower-cased (ASCII, as PostgreSQL folds them);
 *   "quoted identifiers" are kept byte for byte; != is written <>.
 * - Comments (-- to the line's end, and block comments, nested) are whitespace; whitespace collapses to one
 *   space where the text had some (and where two tokens would otherwise run
 *   together); empty statements and a final ';' are dropped.
 * - Unterminated strings, identifiers and comments run to the end of the text.
 *
 * The id hashes the tokens, not the spacing, and covers the whole text
 * however small out is; normalising a normalised (untruncated) text gives the
 * same text and id. standard_conforming_strings is assumed on.
 */
void fingerprint_sql(const char *sql, size_t len, char *out, size_t outcap, struct fingerprint *fp);

/*
 * A quick pass for the common simple-protocol text: a hash of sql[0..len)
 * with the numeric literals and the contents of plain '...' strings left
 * out (*shape), and a hash of what was left out (*literals). Two texts with
 * the same shape have the same fingerprint, so a cache keyed by the shape
 * spares the lexer for texts that differ only in their constants. False
 * (nothing set) when the text holds what the pass does not follow: comments,
 * "quoted" identifiers, $ (parameters, dollar quotes), prefixed strings
 * (E'', B'', U&''), exponents, 1_000, non-ASCII bytes, or a number like 1.2.3.
 */
bool fingerprint_shape(const char *sql, size_t len, uint64_t *shape, uint64_t *literals)
	__attribute__((warn_unused_result));

enum fp_alike {
	FP_DIFFERENT,  /* maybe another statement: fingerprint it */
	FP_SAME_TEXT,  /* byte for byte the text before */
	FP_SAME_SHAPE, /* the text before with one number (or digits in a string) changed */
};

/*
 * Where a number of prev differed last time (fingerprint_alike keeps it):
 * the next text is checked there first, with two compares and no search.
 * Zero it whenever prev changes.
 */
struct fp_anchor {
	uint32_t at;      /* where the number starts in prev (0: no anchor) */
	uint32_t tail;    /* bytes of prev after the number */
	uint64_t literal; /* prev's number, as fingerprint_alike gives one */
};

/*
 * Is sql[0..len) the statement prev[0..plen) is, without a pass over either?
 * For a client that sends one statement again and again with another number
 * in it: they are compared once, byte for byte, and the one region where
 * they differ must be a run of digits (one dot at most) in both, with no
 * name, `$` or non-ASCII byte before it. Both texts must be followed by
 * FP_ALIKE_PAD NULs (prev[plen] == sql[len] == '\0' and the 7 bytes after
 * them: it reads words there). prev must be a text fingerprint_shape
 * took (else only FP_SAME_TEXT is meaningful). FP_SAME_SHAPE: same shape and
 * fingerprint as prev, *literal the hash of sql's differing digits. *anchor
 * (zeroed with each new prev) makes the next call cheaper; the answer is the
 * same with or without it.
 */
#define FP_ALIKE_PAD 8

enum fp_alike fingerprint_alike(const char *prev, size_t plen, const char *sql, size_t len,
				struct fp_anchor *anchor, uint64_t *literal)
	__attribute__((warn_unused_result));

/*
 * fingerprint_alike without a pass over sql or a copy of it, for the text a
 * client sent before (`last`) and the one it sends now (sql), where it lies.
 * last[0..llen) is followed by FP_ALIKE_PAD NULs in a buffer of cap bytes;
 * it is the text fingerprint_alike left `an` for, or one it found alike
 * that text with this anchor. sql's text runs to its NUL, which must lie in
 * sql[0..avail) (the 7 bytes after sql[avail - 1] are read too; they decide
 * nothing). The length of sql's text when it is last again byte for byte
 * (*literal 0), or, with an anchor (an->at > 0), last but for an integer of
 * one to seven digits there (*literal its number as fingerprint_alike gives
 * it); `last` then holds it (and its padding). Else 0, and `last` past its
 * first an->at bytes may have been written over: write it anew (and ask
 * fingerprint_alike).
 */
size_t fingerprint_again(char *last, size_t llen, size_t cap, const char *sql, size_t avail,
			 const struct fp_anchor *an, uint64_t *literal)
	__attribute__((warn_unused_result));

#endif
