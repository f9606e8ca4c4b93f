/*
 * ident: the auth_ident_file's lines and the check over them (see ident.h).
 * Owns the lines and their compiled regular expressions.
 */
#include "sluice/ident.h"

#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/hbalex.h"

#define IDENT_WHY_LEN 512

struct ident_line {
	char *map;
	char *system; /* the name, or the pattern without its leading '/' */
	char *db_user;
	bool is_regex;
	bool db_all; /* database user `all` */
	regex_t re;
};

struct ident_map {
	struct ident_line *lines;
	size_t n, cap;
};

static void line_free(struct ident_line *l)
{
	if (l->is_regex)
		regfree(&l->re);
	free(l->map);
	free(l->system);
	free(l->db_user);
}

/* Most parse-tree nodes a map's expression may need (about ten times any real one). */
#define REGEX_MAX_COST 2000

static size_t sat_add(size_t a, size_t b)
{
	return a + b > REGEX_MAX_COST ? REGEX_MAX_COST + 1 : a + b;
}

static size_t sat_mul(size_t a, size_t b)
{
	return b != 0 && a > (REGEX_MAX_COST + 1) / b ? REGEX_MAX_COST + 1 : a * b;
}

/*
 * Past the atom at p (not a quantifier): an escaped character, a bracket
 * expression ("[]a]", "[^]a]", "[[:alpha:]_]" are one each) or one character.
 */
static const char *skip_atom(const char *p)
{
	if (*p == '\\' && p[1])
		return p + 2;
	if (*p != '[')
		return p + (*p ? 1 : 0);
	const char *q = p + 1;
	q += *q == '^';
	q += *q == ']'; /* a "]" first is a member */
	while (*q && *q != ']') {
		if (q[0] == '[' && (q[1] == ':' || q[1] == '.' || q[1] == '=')) {
			char end[3] = { q[1], ']', '\0' };
			const char *close = strstr(q + 2, end);
			q = close ? close + 2 : q + strlen(q);
		} else {
			q++;
		}
	}
	return q + (*q ? 1 : 0);
}

/* Whether a quantifier starts at p ("*", "+", "?", "{digit"). */
static bool is_quantifier(const char *p)
{
	return *p == '*' || *p == '+' || *p == '?' || (*p == '{' && p[1] >= '0' && p[1] <= '9');
}

/* The copies of its operand a quantifier starting at *p asks for; *p moves past it. */
static size_t quantifier_copies(const char **p)
{
	const char *q = *p;
	if (*q != '{') {
		*p = q + 1;
		return 2; /* "*", "?", "+": glibc writes a+ as aa* */
	}
	/* "{m}", "{m,}" or "{m,n}": the largest count, and one more */
	const char *close = strchr(q, '}'), *comma = strchr(q, ',');
	unsigned long lo = strtoul(q + 1, NULL, 10), hi = lo;
	if (close && comma && comma < close)
		hi = comma[1] == '}' ? lo + 1 : strtoul(comma + 1, NULL, 10);
	*p = close ? close + 1 : q + strlen(q);
	hi = hi > lo ? hi : lo;
	return hi >= REGEX_MAX_COST ? REGEX_MAX_COST + 1 : hi + 1;
}

/*
 * An upper bound of the nodes glibc's regcomp builds for an extended regular
 * expression: it copies a quantified operand once per repetition, so
 * "(a{100}){100}" would take gigabytes. Saturates above REGEX_MAX_COST.
 */
static size_t regex_cost(const char *p)
{
	size_t total[64] = { 0 }, last[64] = { 0 };
	int depth = 0;
	while (*p) {
		if (*p == '(' && depth < 63) {
			depth++;
			total[depth] = last[depth] = 0;
			p++;
		} else if (*p == ')' && depth > 0) {
			size_t group = sat_add(total[depth--], 1);
			total[depth] = sat_add(total[depth], group);
			last[depth] = group;
			p++;
		} else if (is_quantifier(p)) {
			size_t copies = quantifier_copies(&p);
			total[depth] = sat_add(total[depth], sat_mul(last[depth], copies));
			last[depth] = sat_mul(last[depth], copies);
		} else {
			p = skip_atom(p);
			total[depth] = sat_add(total[depth], 1);
			last[depth] = 1;
		}
	}
	size_t sum = 0;
	for (int d = 0; d <= depth; d++)
		sum = sat_add(sum, total[d]);
	return sum;
}

/*
 * Whether a quantifier follows a quantifier ("a**", "(x)++", "a{2}*"), other
 * than one "?" making the first lazy as PostgreSQL writes it ("a*?"). POSIX
 * leaves such stacks undefined, PostgreSQL refuses most of them, and glibc
 * spends time exponential in their length computing epsilon closures.
 */
static bool stacked_quantifiers(const char *p)
{
	int run = 0; /* quantifiers in a row just before p (2: one made lazy) */
	while (*p) {
		if (!is_quantifier(p)) {
			run = 0;
			p = *p == '(' || *p == ')' ? p + 1 : skip_atom(p);
			continue;
		}
		bool lazy = run == 1 && *p == '?';
		if (run > 0 && !lazy)
			return true;
		run = lazy ? 2 : 1;
		(void)quantifier_copies(&p);
	}
	return false;
}

static const char *compile(struct ident_line *l, char *why, size_t whylen)
{
	if (stacked_quantifiers(l->system)) {
		snprintf(why, whylen,
			 "invalid regular expression \"/%s\": a quantifier follows a quantifier",
			 l->system);
		return why;
	}
	if (regex_cost(l->system) > REGEX_MAX_COST) {
		snprintf(why, whylen,
			 "regular expression \"/%s\" is too complex (repetitions nest too deep)",
			 l->system);
		return why;
	}
	int rc = regcomp(&l->re, l->system, REG_EXTENDED);
	char msg[128];

	if (rc != 0) {
		regerror(rc, &l->re, msg, sizeof(msg));
		snprintf(why, whylen, "invalid regular expression \"/%s\": %s", l->system, msg);
		return why;
	}
	l->is_regex = true;
	if (strstr(l->db_user, "\\1") != NULL && l->re.re_nsub < 1) {
		snprintf(why, whylen,
			 "regular expression \"/%s\" has no group to fill \\1 in \"%s\"", l->system,
			 l->db_user);
		return why;
	}
	return NULL;
}

/* Fill *l from a line of three single-valued fields; NULL or the reason (in why). */
static const char *parse_line(const struct hbalex_line *line, struct ident_line *l, char *why,
			      size_t whylen)
{
	static const char *const names[] = { "map name", "system user name", "database user name" };

	if (line->n_fields != 3) {
		snprintf(why, whylen,
			 "expected 3 fields (map name, system user, database user), "
			 "found %zu",
			 line->n_fields);
		return why;
	}
	for (size_t f = 0; f < 3; f++) {
		if (line->fields[f].n != 1) {
			snprintf(why, whylen, "multiple values specified for %s", names[f]);
			return why;
		}
	}
	const struct hbalex_token *map = hbalex_tok(line, 0, 0), *sys = hbalex_tok(line, 1, 0),
				  *db = hbalex_tok(line, 2, 0);
	if (!db->quoted && (db->text[0] == '+' || db->text[0] == '/')) {
		snprintf(why, whylen, "%s (\"%s\") as the database user is not supported",
			 db->text[0] == '+' ? "a group" : "a regular expression", db->text);
		return why;
	}
	l->db_all = hbalex_is_keyword(db, "all");
	bool regex = sys->text[0] == '/';
	l->map = strdup(map->text);
	l->system = strdup(sys->text + (regex ? 1 : 0));
	l->db_user = strdup(db->text);
	if (l->map == NULL || l->system == NULL || l->db_user == NULL)
		return "out of memory";
	return regex ? compile(l, why, whylen) : NULL;
}

/* One line into the map; why is the caller's buffer for formatted reasons. */
struct line_reader {
	struct ident_map *map;
	char why[IDENT_WHY_LEN];
};

static const char *add_line(void *arg, const struct hbalex_line *line)
{
	struct line_reader *lr = arg;
	struct ident_map *m = lr->map;

	if (!hbalex_grow((void **)&m->lines, m->n, &m->cap, sizeof(*m->lines)))
		return "out of memory";
	struct ident_line *l = &m->lines[m->n];
	*l = (struct ident_line){ 0 };
	const char *reason = parse_line(line, l, lr->why, sizeof(lr->why));
	if (reason != NULL)
		line_free(l);
	else
		m->n++;
	return reason;
}

struct ident_map *ident_map_load(const char *path, char *err, size_t errlen)
{
	struct line_reader lr = { .map = calloc(1, sizeof(struct ident_map)) };

	if (lr.map == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return NULL;
	}
	if (!hbalex_read_file(path, add_line, &lr, err, errlen)) {
		ident_map_free(lr.map);
		return NULL;
	}
	return lr.map;
}

void ident_map_free(struct ident_map *map)
{
	if (map == NULL)
		return;
	for (size_t i = 0; i < map->n; i++)
		line_free(&map->lines[i]);
	free(map->lines);
	free(map);
}

size_t ident_map_count(const struct ident_map *map)
{
	return map ? map->n : 0;
}

/*
 * The database user a regular-expression line expects for `system_user`
 * (its first `\1` replaced by the first group, as PostgreSQL does), or NULL
 * when the expression does not match. The caller frees the result.
 */
static char *regex_expected(const struct ident_line *l, const char *system_user)
{
	regmatch_t m[2];

	if (regexec(&l->re, system_user, 2, m, 0) != 0)
		return NULL;
	const char *ref = strstr(l->db_user, "\\1");
	if (ref == NULL)
		return strdup(l->db_user);
	int glen = m[1].rm_so < 0 ? 0 : (int)(m[1].rm_eo - m[1].rm_so);
	const char *group = m[1].rm_so < 0 ? "" : system_user + m[1].rm_so;
	char *out;
	if (asprintf(&out, "%.*s%.*s%s", (int)(ref - l->db_user), l->db_user, glen, group,
		     ref + 2) < 0)
		return NULL;
	return out;
}

static bool line_allows(const struct ident_line *l, const char *system_user, const char *db_user)
{
	if (!l->is_regex)
		return strcmp(l->system, system_user) == 0 &&
		       (l->db_all || strcmp(l->db_user, db_user) == 0);
	char *expected = regex_expected(l, system_user);
	bool ok = expected != NULL && (l->db_all || strcmp(expected, db_user) == 0);
	free(expected);
	return ok;
}

bool ident_map_allows(const struct ident_map *map, const char *mapname, const char *system_user,
		      const char *db_user)
{
	if (map == NULL)
		return false;
	for (size_t i = 0; i < map->n; i++) {
		const struct ident_line *l = &map->lines[i];
		if (strcmp(l->map, mapname) == 0 && line_allows(l, system_user, db_user))
			return true;
	}
	return false;
}
