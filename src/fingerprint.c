/*
 * fingerprint: a SQL lexer that tells constants, words, operators and
 * punctuation apart the way PostgreSQL's scan.l does, and a writer that
 * replaces the constants, folds constant lists and hashes what it writes.
 * Owns nothing: all state lives on the caller's stack for one call.
 */
#include "sluice/fingerprint.h"

#include <string.h>

enum tok_kind {
	TOK_END,    /* no more input */
	TOK_WORD,   /* unquoted identifier or keyword */
	TOK_QIDENT, /* "quoted" or U&"quoted" identifier, kept as written */
	TOK_NUMBER, /* numeric constant */
	TOK_STRING, /* quoted or dollar-quoted string constant, any prefix */
	TOK_PARAM,  /* $n */
	TOK_OP,     /* a run of operator characters */
	TOK_PUNCT,  /* ( ) [ ] , ; . .. : :: := */
	TOK_OTHER,  /* any other byte, alone */
};

struct token {
	enum tok_kind kind;
	const char *p;
	size_t len;
	bool space; /* whitespace or a comment came before it */
};

struct lexer {
	const char *p, *end;
};

/* ---- character classes (ASCII; bytes >= 0x80 are identifier letters, as in scan.l) */

static bool is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool is_ident_start(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static bool is_ident_cont(unsigned char c)
{
	return is_ident_start(c) || is_digit(c) || c == '$';
}

static bool is_op_char(unsigned char c)
{
	return c != '\0' && strchr("+-*/<>=~!@#%^&|`?", c) != NULL;
}

static char to_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* ---- the lexer: each scan_* takes p at a token's first byte, returns its end */

/* p at slash-star; block comments nest. An unterminated one runs to the end. */
static const char *scan_block_comment(const char *p, const char *end)
{
	unsigned long depth = 0;
	while (p < end) {
		if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
			depth++;
			p += 2;
		} else if (end - p >= 2 && p[0] == '*' && p[1] == '/') {
			p += 2;
			if (--depth == 0)
				return p;
		} else {
			p++;
		}
	}
	return end;
}

/* Skip whitespace and comments; true when there were any. */
static bool skip_space(struct lexer *lx)
{
	const char *p = lx->p, *end = lx->end;
	for (;;) {
		if (p < end && is_space((unsigned char)*p)) {
			p++;
		} else if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
			while (p < end && *p != '\n' && *p != '\r')
				p++;
		} else if (end - p >= 2 && p[0] == '/' && p[1] == '*') {
			p = scan_block_comment(p, end);
		} else {
			break;
		}
	}
	bool any = p != lx->p;
	lx->p = p;
	return any;
}

/* p at the opening quote; a doubled quote is one, backslash escapes when asked. */
static const char *scan_quoted(const char *p, const char *end, char quote, bool backslash)
{
	for (p++; p < end; p++) {
		if (backslash && *p == '\\') {
			if (++p == end)
				break;
		} else if (*p == quote) {
			if (end - p < 2 || p[1] != quote)
				return p + 1;
			p++;
		}
	}
	return end;
}

/*
 * p at '$': a dollar-quoted string $tag$...$tag$, or NULL when no delimiter
 * starts here. Linear: a tag holds no '$', so comparisons started at two
 * different '$' in the body never cover the same bytes.
 */
static const char *scan_dollar(const char *p, const char *end)
{
	const char *t = p + 1;
	if (t < end && is_ident_start((unsigned char)*t))
		for (t++;
		     t < end && (is_ident_start((unsigned char)*t) || is_digit((unsigned char)*t));
		     t++)
			;
	if (t >= end || *t != '$')
		return NULL;
	size_t dlen = (size_t)(t + 1 - p);
	for (const char *q = t + 1; q < end; q++) {
		q = memchr(q, '$', (size_t)(end - q));
		if (q == NULL)
			break;
		if ((size_t)(end - q) >= dlen && memcmp(q, p, dlen) == 0)
			return q + dlen;
	}
	return end;
}

static bool is_radix_digit(unsigned char c, char radix)
{
	if (radix == 'x')
		return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
	return c >= '0' && c <= (radix == 'o' ? '7' : '1');
}

/* Decimal digits, with single '_' between them (PostgreSQL 16). */
static const char *scan_digits(const char *p, const char *end)
{
	while (p < end && (is_digit((unsigned char)*p) ||
			   (*p == '_' && end - p >= 2 && is_digit((unsigned char)p[1]))))
		p++;
	return p;
}

/* p at a digit, or at '.' before one. "1..5" is 1, '.', '.', 5 as in scan.l. */
static const char *scan_number(const char *p, const char *end)
{
	char radix = end - p >= 3 && p[0] == '0' ? (char)(p[1] | 0x20) : '\0';
	if ((radix == 'x' || radix == 'o' || radix == 'b') &&
	    is_radix_digit((unsigned char)p[2], radix)) {
		for (p += 2; p < end && (is_radix_digit((unsigned char)*p, radix) || *p == '_');
		     p++)
			;
		return p;
	}
	p = scan_digits(p, end);
	if (p < end && *p == '.' && !(end - p >= 2 && p[1] == '.'))
		p = scan_digits(p + 1, end);
	if (p < end && (*p | 0x20) == 'e') {
		const char *e = p + 1;
		if (e < end && (*e == '+' || *e == '-'))
			e++;
		if (e < end && is_digit((unsigned char)*e))
			p = scan_digits(e, end);
	}
	return p;
}

/* An operator never contains -- or slash-star; one of several characters ends
 * in + or - only when it also holds one of ~ ! @ # % ^ & | ` ? (scan.l's rule,
 * so "=-1" is '=' then -1). */
static const char *scan_op(const char *p, const char *end)
{
	const char *s = p;
	bool special = false;
	for (; p < end && is_op_char((unsigned char)*p); p++) {
		if (end - p >= 2 && ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*')))
			break;
		special = special || strchr("~!@#%^&|`?", *p) != NULL;
	}
	while (!special && p - s > 1 && (p[-1] == '+' || p[-1] == '-'))
		p--;
	return p;
}

/* The string and identifier forms that start with a letter: E'', B'', X'', N'', U&'', U&"". */
static enum tok_kind scan_prefixed(const char *p, const char *end, const char **next)
{
	char c = to_lower(p[0]), c1 = end - p >= 2 ? p[1] : '\0', c2 = end - p >= 3 ? p[2] : '\0';
	if (c1 == '\'' && (c == 'e' || c == 'b' || c == 'x' || c == 'n')) {
		*next = scan_quoted(p + 1, end, '\'', c == 'e');
		return TOK_STRING;
	}
	if (c == 'u' && c1 == '&' && (c2 == '\'' || c2 == '"')) {
		*next = scan_quoted(p + 2, end, c2, false);
		return c2 == '"' ? TOK_QIDENT : TOK_STRING;
	}
	return TOK_END;
}

/* p at '$': a parameter, a dollar-quoted string or a lone '$'. */
static enum tok_kind scan_dollar_token(const char *p, const char *end, const char **next)
{
	if (end - p >= 2 && is_digit((unsigned char)p[1])) {
		for (p++; p < end && is_digit((unsigned char)*p); p++)
			;
		*next = p;
		return TOK_PARAM;
	}
	*next = scan_dollar(p, end);
	if (*next != NULL)
		return TOK_STRING;
	*next = p + 1;
	return TOK_OTHER;
}

/* One token starting at p < end; its end in *next. */
static enum tok_kind scan_token(const char *p, const char *end, const char **next)
{
	unsigned char c = (unsigned char)*p, c1 = end - p >= 2 ? (unsigned char)p[1] : 0;
	enum tok_kind k = is_ident_start(c) ? scan_prefixed(p, end, next) : TOK_END;
	if (k != TOK_END)
		return k;
	if (c == '\'' || c == '"') {
		*next = scan_quoted(p, end, (char)c, false);
		return c == '"' ? TOK_QIDENT : TOK_STRING;
	}
	if (c == '$')
		return scan_dollar_token(p, end, next);
	if (is_digit(c) || (c == '.' && is_digit(c1))) {
		*next = scan_number(p, end);
		return TOK_NUMBER;
	}
	if (is_ident_start(c)) {
		for (p++; p < end && is_ident_cont((unsigned char)*p); p++)
			;
		*next = p;
		return TOK_WORD;
	}
	if (c == ':' || strchr("()[],;.", c) != NULL) {
		bool two = (c == ':' && (c1 == ':' || c1 == '=')) || (c == '.' && c1 == '.');
		*next = p + (two ? 2 : 1);
		return TOK_PUNCT;
	}
	*next = is_op_char(c) ? scan_op(p, end) : p + 1;
	return is_op_char(c) ? TOK_OP : TOK_OTHER;
}

/* The next token into *t; false (and TOK_END) at the end of the text. */
static bool lex_next(struct lexer *lx, struct token *t)
{
	t->space = skip_space(lx);
	t->p = lx->p;
	if (lx->p >= lx->end) {
		t->kind = TOK_END;
		t->len = 0;
		return false;
	}
	const char *next;
	t->kind = scan_token(lx->p, lx->end, &next);
	t->len = (size_t)(next - lx->p);
	lx->p = next;
	return true;
}

static bool is_punct(const struct token *t, char c)
{
	return t->kind == TOK_PUNCT && t->len == 1 && t->p[0] == c;
}

static bool is_cast(const struct token *t)
{
	return t->kind == TOK_PUNCT && t->len == 2 && t->p[0] == ':' && t->p[1] == ':';
}

/* An unquoted word equal to the lower-case kw, ignoring ASCII case. */
static bool word_is(const struct token *t, const char *kw)
{
	if (t->kind != TOK_WORD || strlen(kw) != t->len)
		return false;
	for (size_t i = 0; i < t->len; i++)
		if (to_lower(t->p[i]) != kw[i])
			return false;
	return true;
}

static bool is_constant_word(const struct token *t)
{
	return word_is(t, "true") || word_is(t, "false") || word_is(t, "null");
}

/* ---- constant lists: read ahead on a copy of the lexer, never writing */

/*
 * One list member starting at *t: [-]number, strings (continued), $n, TRUE,
 * FALSE or NULL, with an optional ::type. On success *end is the member's
 * last byte + 1 and *t the token after it.
 */
static bool scan_member(struct lexer *la, struct token *t, const char **end)
{
	if (t->kind == TOK_OP && t->len == 1 && t->p[0] == '-') {
		lex_next(la, t);
		if (t->kind != TOK_NUMBER)
			return false;
	} else if (t->kind != TOK_NUMBER && t->kind != TOK_STRING && t->kind != TOK_PARAM &&
		   !is_constant_word(t)) {
		return false;
	}
	bool string = t->kind == TOK_STRING;
	do {
		*end = t->p + t->len;
		lex_next(la, t);
	} while (string && t->kind == TOK_STRING);
	if (is_cast(t)) {
		lex_next(la, t);
		if (t->kind != TOK_WORD)
			return false;
		*end = t->p + t->len;
		lex_next(la, t);
	}
	return true;
}

/*
 * After an opening bracket: members separated by ',' up to `close`. On
 * success *first_end ends the first member, *close_at is the closing
 * bracket and la is past it.
 */
static bool scan_list(struct lexer *la, char close, const char **first_end, const char **close_at)
{
	struct token t;
	lex_next(la, &t);
	for (bool first = true;; first = false) {
		const char *end;
		if (!scan_member(la, &t, &end))
			return false;
		if (first)
			*first_end = end;
		if (is_punct(&t, close)) {
			*close_at = t.p;
			return true;
		}
		if (!is_punct(&t, ','))
			return false;
		lex_next(la, &t);
	}
}

/* ---- the writer */

struct writer {
	char *out;
	size_t cap, len;    /* len < cap whenever cap > 0, for the NUL */
	size_t vlen;        /* length of the whole normalised text, written or not */
	bool truncated;     /* a token did not fit: nothing more is written */
	unsigned char last; /* the whole text's last byte */
	uint64_t hash;
};

/* Would a and b, side by side, read back as one token? */
static bool would_join(unsigned char a, unsigned char b)
{
	return is_ident_cont(a) && is_ident_cont(b);
}

/* Append one token (lower-cased when asked) after a space when asked or needed. */
static void put(struct writer *w, const char *s, size_t len, bool lower, bool space)
{
	if (w->vlen == 0)
		space = false;
	else if (would_join(w->last, (unsigned char)s[0]))
		space = true;
	for (size_t i = 0; i < len; i++)
		w->hash = (w->hash ^ (unsigned char)(lower ? to_lower(s[i]) : s[i])) * FP_FNV_PRIME;
	w->hash = (w->hash ^ 0x1ff) * FP_FNV_PRIME; /* the token boundary, unlike any byte */
	size_t need = len + (space ? 1 : 0);
	if (!w->truncated && need < w->cap - w->len) {
		if (space)
			w->out[w->len++] = ' ';
		for (size_t i = 0; i < len; i++)
			w->out[w->len++] = lower ? to_lower(s[i]) : s[i];
	} else {
		w->truncated = true;
	}
	w->vlen += need;
	w->last = (unsigned char)(lower ? to_lower(s[len - 1]) : s[len - 1]);
}

/* murmur3's fmix64: every input bit reaches every output bit. */
static uint64_t hash_final(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h != 0 ? h : 1;
}

/* ---- the normaliser */

struct norm {
	struct lexer lx;
	struct writer w;
	struct token prev, prev2; /* the last two tokens read, written or not */
	unsigned params;          /* placeholders written */
	unsigned statements;
	bool in_statement; /* a token was written since the last ';' */
	bool semi_pending; /* a ';' to write before the next token, if there is one */
	bool semi_space;
	bool after_mark;                    /* the fold mark was the last thing written */
	const char *fold_end, *fold_resume; /* a folded list: mark at fold_end, go on at resume */
};

static bool closes(const char *s, size_t len)
{
	return len == 1 && strchr(")],;", s[0]) != NULL;
}

/* Write a token of the statement, with the ';' before it and the spacing rules. */
static void emit(struct norm *n, const char *s, size_t len, bool lower, bool space)
{
	if (n->semi_pending) {
		put(&n->w, ";", 1, false, n->after_mark ? false : n->semi_space);
		n->semi_pending = false;
		n->after_mark = false;
	}
	if (n->after_mark) {
		space = !closes(s, len); /* spacing after the mark must not depend on the input */
		n->after_mark = false;
	}
	if (!n->in_statement) {
		n->statements++;
		n->in_statement = true;
	}
	put(&n->w, s, len, lower, space);
}

static void emit_param(struct norm *n, bool space)
{
	char buf[16], digits[12];
	size_t nd = 0, len = 0;
	for (unsigned v = ++n->params; v != 0 || nd == 0; v /= 10)
		digits[nd++] = (char)('0' + v % 10);
	buf[len++] = '$';
	while (nd > 0)
		buf[len++] = digits[--nd];
	emit(n, buf, len, false, space);
}

/* Keywords after which a '-' starts a negative number rather than subtracting. */
static bool is_operand_keyword(const struct token *t)
{
	static const char *const kw[] = { "all",      "and",    "between",   "by",     "case",
					  "distinct", "else",   "from",      "having", "ilike",
					  "like",     "limit",  "not",       "offset", "on",
					  "or",       "return", "returning", "select", "then",
					  "to",       "when",   "where" };
	for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
		if (word_is(t, kw[i]))
			return true;
	return false;
}

/* Does the token before a '-' leave it a sign rather than an operator? */
static bool operand_expected(const struct norm *n)
{
	const struct token *p = &n->prev;
	switch (p->kind) {
	case TOK_END:
	case TOK_OP:
		return true;
	case TOK_PUNCT:
		return !is_punct(p, ')') && !is_punct(p, ']') && !is_punct(p, '.');
	case TOK_WORD:
		return is_operand_keyword(p);
	default:
		return false;
	}
}

/* TRUE, FALSE and NULL are constants except in IS [NOT] TRUE, [IS] NOT NULL
 * and as a type name after :: (which scan_member reads as one too). */
static bool word_is_constant(const struct norm *n, const struct token *t)
{
	if (!is_constant_word(t) || word_is(&n->prev, "is") || is_cast(&n->prev))
		return false;
	return !word_is(&n->prev, "not") || (!word_is(t, "null") && !word_is(&n->prev2, "is"));
}

/* An operator; a sign and the number after it become one constant (t then is the number). */
static void op(struct norm *n, struct token *t)
{
	if (t->len == 1 && t->p[0] == '-' && operand_expected(n)) {
		struct lexer peek = n->lx;
		struct token num;
		lex_next(&peek, &num);
		if (num.kind == TOK_NUMBER) {
			emit_param(n, t->space);
			n->lx = peek;
			*t = num;
			return;
		}
	}
	if (t->len == 2 && t->p[0] == '!' && t->p[1] == '=')
		emit(n, "<>", 2, false, t->space);
	else
		emit(n, t->p, t->len, false, t->space);
}

/* After VALUES' '(': fold when the first row and those after it hold only constants. */
static void fold_rows(struct norm *n)
{
	struct lexer la = n->lx;
	const char *first_end, *close_at;
	if (!scan_list(&la, ')', &first_end, &close_at))
		return;
	n->fold_end = n->fold_resume = la.p;
	for (;;) {
		struct token t;
		lex_next(&la, &t);
		if (!is_punct(&t, ','))
			return;
		lex_next(&la, &t);
		if (!is_punct(&t, '(') || !scan_list(&la, ')', &first_end, &close_at))
			return;
		n->fold_resume = la.p;
	}
}

/* After IN's '(' or ARRAY's '[': fold when the list holds only constants. */
static void fold_list(struct norm *n, char close)
{
	struct lexer la = n->lx;
	const char *first_end, *close_at;
	if (scan_list(&la, close, &first_end, &close_at)) {
		n->fold_end = first_end;
		n->fold_resume = close_at;
	}
}

/* The first member (or row) is written: the mark, then on after the last one. */
static void fold_finish(struct norm *n)
{
	emit(n, FINGERPRINT_FOLD_MARK, sizeof(FINGERPRINT_FOLD_MARK) - 1, false, true);
	n->after_mark = true;
	n->lx.p = n->fold_resume;
	n->fold_end = n->fold_resume = NULL;
	n->prev.kind = TOK_PUNCT; /* what came last, for a '-' that may follow a VALUES list */
	n->prev.p = ")";
	n->prev.len = 1;
}

static void punct(struct norm *n, const struct token *t)
{
	if (is_punct(t, ';')) {
		if (n->in_statement) {
			n->semi_pending = true;
			n->semi_space = t->space;
			n->in_statement = false;
		}
		return;
	}
	emit(n, t->p, t->len, false, t->space);
	if (is_punct(t, '(') && word_is(&n->prev, "in"))
		fold_list(n, ')');
	else if (is_punct(t, '(') && word_is(&n->prev, "values"))
		fold_rows(n);
	else if (is_punct(t, '[') && word_is(&n->prev, "array"))
		fold_list(n, ']');
}

static void step(struct norm *n, struct token *t)
{
	switch (t->kind) {
	case TOK_WORD:
		if (word_is_constant(n, t))
			emit_param(n, t->space);
		else
			emit(n, t->p, t->len, true, t->space);
		break;
	case TOK_NUMBER:
	case TOK_PARAM:
		emit_param(n, t->space);
		break;
	case TOK_STRING:
		if (n->prev.kind != TOK_STRING) /* 'a' 'b' is one constant */
			emit_param(n, t->space);
		break;
	case TOK_OP:
		op(n, t);
		break;
	case TOK_PUNCT:
		punct(n, t);
		break;
	default:
		emit(n, t->p, t->len, false, t->space);
		break;
	}
	n->prev2 = n->prev;
	n->prev = *t;
}

void fingerprint_sql(const char *sql, size_t len, char *out, size_t outcap, struct fingerprint *fp)
{
	struct norm n;
	memset(&n, 0, sizeof(n));
	const char *nul = len > 0 ? memchr(sql, '\0', len) : NULL;
	n.lx.p = sql;
	n.lx.end = nul != NULL ? nul : len > 0 ? sql + len : sql;
	n.w.out = out;
	n.w.cap = outcap;
	n.w.hash = FP_FNV_OFFSET;
	n.prev.kind = n.prev2.kind = TOK_END;

	struct token t;
	while (lex_next(&n.lx, &t)) {
		step(&n, &t);
		if (n.fold_end != NULL && n.lx.p >= n.fold_end)
			fold_finish(&n);
	}
	if (outcap > 0)
		out[n.w.len] = '\0';
	fp->id = hash_final(n.w.hash);
	fp->len = n.w.len;
	fp->truncated = n.w.truncated;
	fp->statements = n.statements;
}
