/*
 * hbalex: splits pg_hba.conf / pg_ident.conf text into lines of fields of
 * tokens (see hbalex.h). Owns nothing beyond the line and reader buffers it
 * hands out.
 */
#include "sluice/hbalex.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Larger files are refused: a pg_hba.conf or user list is kilobytes. */
#define HBALEX_MAX_FILE (64L * 1024 * 1024)

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static const char *skip_blanks(const char *p)
{
	while (is_blank(*p))
		p++;
	return p;
}

bool hbalex_grow(void **arr, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return true;
	size_t ncap = *cap ? *cap * 2 : 8;
	void *p = realloc(*arr, ncap * size);
	if (p == NULL)
		return false;
	*arr = p;
	*cap = ncap;
	return true;
}

/*
 * Copy the token at *pp into *dst (unquoted), moving both past it. A token
 * ends at an unquoted blank, comma or '#'. NULL on success, else the reason.
 */
static const char *read_token(const char **pp, char **dst, bool *quoted)
{
	const char *p = *pp;
	char *d = *dst;
	bool in_quote = false;

	*quoted = false;
	for (; *p != '\0'; p++) {
		if (in_quote && *p == '"' && p[1] == '"') {
			*d++ = *p++; /* "" inside quotes: one literal quote */
		} else if (*p == '"') {
			in_quote = !in_quote;
			*quoted = true;
		} else if (!in_quote && (is_blank(*p) || *p == ',' || *p == '#')) {
			break;
		} else {
			*d++ = *p;
		}
	}
	if (in_quote)
		return "unterminated quoted string";
	*d++ = '\0';
	*pp = p;
	*dst = d;
	return NULL;
}

struct split_state {
	struct hbalex_line *out;
	size_t cap_tokens, cap_fields;
};

static bool add_token(struct split_state *st, const char *text, bool quoted)
{
	struct hbalex_line *l = st->out;

	if (!hbalex_grow((void **)&l->tokens, l->n_tokens, &st->cap_tokens, sizeof(*l->tokens)))
		return false;
	l->tokens[l->n_tokens++] = (struct hbalex_token){ text, quoted };
	return true;
}

/* Read one field (a comma-separated list of tokens) at *pp. */
static const char *read_field(struct split_state *st, const char **pp, char **dst)
{
	struct hbalex_line *l = st->out;
	const char *p = *pp;

	if (!hbalex_grow((void **)&l->fields, l->n_fields, &st->cap_fields, sizeof(*l->fields)))
		return "out of memory";
	struct hbalex_field *f = &l->fields[l->n_fields++];
	*f = (struct hbalex_field){ l->n_tokens, 0 };
	for (;;) {
		char *text = *dst;
		bool quoted;
		const char *why = read_token(&p, dst, &quoted);
		if (why != NULL)
			return why;
		if (text[0] == '\0' && !quoted)
			return "empty name in a comma-separated list";
		if (!add_token(st, text, quoted))
			return "out of memory";
		f->n++;
		if (*p != ',')
			break;
		p = skip_blanks(p + 1); /* "a, b" is one list */
	}
	*pp = p;
	return NULL;
}

bool hbalex_split(const char *text, int lineno, struct hbalex_line *out, const char **reason)
{
	struct split_state st = { .out = out };
	size_t len = strlen(text);
	const char *p = text;
	char *dst;

	*out = (struct hbalex_line){ .lineno = lineno };
	/* every token is at most as long as its text, plus its NUL */
	out->text = dst = malloc(2 * len + 2);
	*reason = out->text ? NULL : "out of memory";
	while (*reason == NULL) {
		p = skip_blanks(p);
		if (*p == '\0' || *p == '#')
			break;
		*reason = read_field(&st, &p, &dst);
	}
	if (*reason != NULL)
		hbalex_line_free(out);
	return *reason == NULL;
}

void hbalex_line_free(struct hbalex_line *line)
{
	free(line->tokens);
	free(line->fields);
	free(line->text);
	*line = (struct hbalex_line){ 0 };
}

const struct hbalex_token *hbalex_tok(const struct hbalex_line *line, size_t f, size_t i)
{
	assert(f < line->n_fields && i < line->fields[f].n);
	return &line->tokens[line->fields[f].first + i];
}

bool hbalex_is_keyword(const struct hbalex_token *tok, const char *kw)
{
	return !tok->quoted && strcmp(tok->text, kw) == 0;
}

/* Reads logical lines from a FILE. */
struct reader {
	FILE *f;
	int lineno; /* physical lines read so far */
	char *phys; /* getline's buffer */
	size_t phys_cap;
	char *joined; /* the logical line being assembled */
	size_t joined_cap;
};

/* Append n bytes to the logical line being assembled. */
static bool join(struct reader *r, size_t *used, const char *s, size_t n)
{
	if (*used + n + 1 > r->joined_cap) {
		size_t ncap = (*used + n + 1) * 2;
		char *p = realloc(r->joined, ncap);
		if (p == NULL)
			return false;
		r->joined = p;
		r->joined_cap = ncap;
	}
	memcpy(r->joined + *used, s, n);
	*used += n;
	r->joined[*used] = '\0';
	return true;
}

/*
 * Assemble the next logical line into r->joined: physical lines whose last
 * character (before the newline) is a backslash go on on the next one, also
 * inside quotes and comments, as in PostgreSQL 15. False at the end of the
 * file with nothing read, or with *reason set.
 */
static bool read_logical(struct reader *r, int *first, const char **reason)
{
	size_t used = 0;
	bool any = false, more = true;

	*reason = NULL;
	while (more) {
		ssize_t n = getline(&r->phys, &r->phys_cap, r->f);
		if (n < 0) {
			if (ferror(r->f))
				*reason = strerror(errno);
			break;
		}
		r->lineno++;
		if (!any)
			*first = r->lineno;
		any = true;
		if (memchr(r->phys, '\0', (size_t)n) != NULL) {
			*reason = "NUL byte in line";
			return false;
		}
		while (n > 0 && (r->phys[n - 1] == '\n' || r->phys[n - 1] == '\r'))
			n--;
		more = n > 0 && r->phys[n - 1] == '\\';
		if (!join(r, &used, r->phys, (size_t)(more ? n - 1 : n))) {
			*reason = "out of memory";
			return false;
		}
	}
	return any && *reason == NULL;
}

/* Every line of r through fn; the reason of the first failure (*lineno: where), or NULL. */
static const char *read_all(struct reader *r, hbalex_line_fn *fn, void *arg, int *lineno)
{
	struct hbalex_line line;
	const char *why;

	for (;;) {
		*lineno = r->lineno + 1;
		if (!read_logical(r, lineno, &why))
			return why;
		if (!hbalex_split(r->joined, *lineno, &line, &why))
			return why;
		if (line.n_fields > 0)
			why = fn(arg, &line);
		hbalex_line_free(&line);
		if (why != NULL)
			return why;
	}
}

/*
 * path opened for reading when it is a regular file of sane size; NULL with
 * err set otherwise. Opened without blocking, so a FIFO or a terminal named
 * by mistake (an @file of "/dev/stdin") is refused instead of hanging a reload.
 */
static FILE *open_regular(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	FILE *f = NULL;

	if (fd < 0 || fstat(fd, &st) != 0)
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		snprintf(err, errlen, "%s: not a regular file", path);
	else if (st.st_size > HBALEX_MAX_FILE)
		snprintf(err, errlen, "%s: larger than %ld MB", path, HBALEX_MAX_FILE >> 20);
	else if ((f = fdopen(fd, "r")) == NULL)
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	if (f == NULL && fd >= 0)
		close(fd);
	return f;
}

bool hbalex_read_file(const char *path, hbalex_line_fn *fn, void *arg, char *err, size_t errlen)
{
	struct reader r = { .f = open_regular(path, err, errlen) };
	int lineno = 0;

	if (r.f == NULL)
		return false;
	const char *why = read_all(&r, fn, arg, &lineno);
	if (why != NULL && ferror(r.f))
		snprintf(err, errlen, "%s: %s", path, why);
	else if (why != NULL)
		snprintf(err, errlen, "%s:%d: %s", path, lineno, why);
	free(r.phys);
	free(r.joined);
	fclose(r.f);
	return why == NULL;
}
