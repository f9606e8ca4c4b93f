/*
 * hba: the auth_hba_file's rules and the look-up over them (see hba.h).
 * Owns the rules, their name lists (with the names read from @files) and
 * their map names; hba_match hands out pointers into them.
 */
#include "sluice/hba.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/hbalex.h"

#define N_ELEMS(a)     (sizeof(a) / sizeof((a)[0]))
#define MAX_FILE_DEPTH 10 /* @file inside @file: enough for sane setups, stops loops */
/*
 * @files read for one hba file in all: the depth limit alone lets a file that
 * names itself k times on a line be read k^10 times.
 */
#define MAX_FILE_READS 1000
#define HBA_WHY_LEN    512

/* A database or user field. */
#define NAME_ALL         1u
#define NAME_SAMEUSER    2u /* database field: the database named like the user */
#define NAME_REPLICATION 4u /* database field: replication connections, which sluice refuses */

struct names {
	unsigned flags;
	char **list;
	size_t n, cap;
};

enum rule_type {
	RULE_LOCAL = 0,
	RULE_HOST,
	RULE_HOSTSSL,
	RULE_HOSTNOSSL,
};

struct rule {
	struct hba_verdict verdict;
	enum rule_type type;
	struct names db, user;
	bool any_addr;
	int family;       /* AF_INET or AF_INET6 unless any_addr */
	uint8_t addr[16]; /* already masked */
	uint8_t mask[16];
	char *map; /* verdict.map points here */
};

struct hba {
	struct rule *rules;
	size_t n, cap;
};

/* One line being turned into a rule. */
struct line_ctx {
	const char *path; /* the hba file: @file names are relative to its directory */
	const struct hbalex_line *line;
	size_t field;         /* the next field to read */
	bool in_file;         /* why holds the message of a bad line in an @file */
	unsigned *files_read; /* @files read so far for the whole hba file */
	char why[HBA_WHY_LEN];
};

static const char *failf(struct line_ctx *lc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static const char *failf(struct line_ctx *lc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(lc->why, sizeof(lc->why), fmt, ap);
	va_end(ap);
	return lc->why;
}

/* ---- names ---- */

static void names_free(struct names *nm)
{
	for (size_t i = 0; i < nm->n; i++)
		free(nm->list[i]);
	free(nm->list);
	*nm = (struct names){ 0 };
}

static bool names_add(struct names *nm, const char *name)
{
	if (!hbalex_grow((void **)&nm->list, nm->n, &nm->cap, sizeof(*nm->list)))
		return false;
	if ((nm->list[nm->n] = strdup(name)) == NULL)
		return false;
	nm->n++;
	return true;
}

static const char *add_name(struct line_ctx *lc, struct names *nm, bool is_db,
			    const struct hbalex_token *t, const char *base, int depth);

/* `name` read relative to the directory of the file `base` (unless absolute). */
static char *relative_path(const char *base, const char *name)
{
	char *dir, *out;

	if (name[0] == '/')
		return strdup(name);
	if ((dir = strdup(base)) == NULL)
		return NULL;
	if (asprintf(&out, "%s/%s", dirname(dir), name) < 0)
		out = NULL;
	free(dir);
	return out;
}

/* One @file being read: where its names go. */
struct name_file {
	struct line_ctx *lc;
	struct names *nm;
	bool is_db;
	const char *path;
	int depth;
};

/* Every token of every line of an @file is a name, read as if on the rule's line. */
static const char *name_file_line(void *arg, const struct hbalex_line *line)
{
	struct name_file *nf = arg;
	const char *why = NULL;

	for (size_t i = 0; why == NULL && i < line->n_tokens; i++)
		why = add_name(nf->lc, nf->nm, nf->is_db, &line->tokens[i], nf->path,
			       nf->depth + 1);
	return why;
}

static const char *read_name_file(struct line_ctx *lc, struct names *nm, bool is_db,
				  const char *path, int depth)
{
	struct name_file nf = { lc, nm, is_db, path, depth };
	char err[HBA_WHY_LEN];

	if (hbalex_read_file(path, name_file_line, &nf, err, sizeof(err)))
		return NULL;
	if (lc->in_file)
		return lc->why; /* an inner @file's message, already naming its file and line */
	lc->in_file = true;
	return failf(lc, "%s", err);
}

/* Keywords of the database field other than all; NULL when t is none. */
static const char *db_keyword(struct line_ctx *lc, struct names *nm, const struct hbalex_token *t,
			      bool *done)
{
	*done = true;
	if (hbalex_is_keyword(t, "sameuser"))
		nm->flags |= NAME_SAMEUSER;
	else if (hbalex_is_keyword(t, "replication"))
		nm->flags |= NAME_REPLICATION;
	else if (hbalex_is_keyword(t, "samerole") || hbalex_is_keyword(t, "samegroup"))
		return failf(lc, "\"%s\" is not supported: sluice does not know PostgreSQL's roles",
			     t->text);
	else
		*done = false;
	return NULL;
}

/*
 * One token of a database (is_db) or user field: a keyword, an @file, or a
 * name. `base` is the file the token was read from.
 */
static const char *add_name(struct line_ctx *lc, struct names *nm, bool is_db,
			    const struct hbalex_token *t, const char *base, int depth)
{
	const char *field = is_db ? "database" : "user";
	bool done = false;
	const char *why = is_db ? db_keyword(lc, nm, t, &done) : NULL;

	if (why != NULL || done)
		return why;
	if (hbalex_is_keyword(t, "all")) {
		nm->flags |= NAME_ALL;
		return NULL;
	}
	if (!t->quoted && t->text[0] == '+' && !is_db)
		return failf(lc,
			     "group membership (\"%s\") is not supported: sluice does not know "
			     "PostgreSQL's roles",
			     t->text);
	if (!t->quoted && t->text[0] == '/')
		return failf(lc, "regular expressions (\"%s\") are not supported in the %s field",
			     t->text, field);
	if (t->quoted || t->text[0] != '@')
		return names_add(nm, t->text) ? NULL : "out of memory";
	if (t->text[1] == '\0')
		return failf(lc, "empty file name after @ in the %s field", field);
	if (depth >= MAX_FILE_DEPTH)
		return failf(lc, "@file nested more than %d deep (a loop?)", MAX_FILE_DEPTH);
	if (++*lc->files_read > MAX_FILE_READS)
		return failf(lc, "more than %d @file reads in all (a file naming itself?)",
			     MAX_FILE_READS);
	char *path = relative_path(base, t->text + 1);
	if (path == NULL)
		return "out of memory";
	why = read_name_file(lc, nm, is_db, path, depth);
	free(path);
	return why;
}

static bool names_match(const struct names *nm, const char *name, const char *user)
{
	if (nm->flags & NAME_ALL)
		return true;
	if ((nm->flags & NAME_SAMEUSER) && strcmp(name, user) == 0)
		return true;
	for (size_t i = 0; i < nm->n; i++)
		if (strcmp(nm->list[i], name) == 0)
			return true;
	return false;
}

/* ---- fields ---- */

/* The single token of the next field, or NULL with lc->why set. */
static const struct hbalex_token *next_single(struct line_ctx *lc, const char *what)
{
	if (lc->field >= lc->line->n_fields) {
		failf(lc, "end-of-line before %s", what);
		return NULL;
	}
	if (lc->line->fields[lc->field].n != 1) {
		failf(lc, "multiple values specified for %s", what);
		return NULL;
	}
	return hbalex_tok(lc->line, lc->field++, 0);
}

static const struct {
	const char *word;
	enum rule_type type;
} rule_types[] = {
	{ "local", RULE_LOCAL },
	{ "host", RULE_HOST },
	{ "hostssl", RULE_HOSTSSL },
	{ "hostnossl", RULE_HOSTNOSSL },
};

static const char *parse_type(struct line_ctx *lc, struct rule *r)
{
	const struct hbalex_token *t = next_single(lc, "connection type");

	if (t == NULL)
		return lc->why;
	for (size_t i = 0; i < N_ELEMS(rule_types); i++) {
		if (hbalex_is_keyword(t, rule_types[i].word)) {
			r->type = rule_types[i].type;
			return NULL;
		}
	}
	if (hbalex_is_keyword(t, "hostgssenc") || hbalex_is_keyword(t, "hostnogssenc"))
		return failf(lc, "connection type \"%s\" is not supported", t->text);
	return failf(lc, "invalid connection type \"%s\"", t->text);
}

static const char *parse_names(struct line_ctx *lc, struct names *nm, bool is_db)
{
	const char *why = NULL;

	if (lc->field >= lc->line->n_fields)
		return failf(lc, "end-of-line before %s specification",
			     is_db ? "database" : "role");
	const struct hbalex_field *f = &lc->line->fields[lc->field++];
	for (size_t i = 0; why == NULL && i < f->n; i++)
		why = add_name(lc, nm, is_db, &lc->line->tokens[f->first + i], lc->path, 0);
	return why;
}

/* An IPv4 or IPv6 address in text. */
static bool parse_ip(const char *text, int *family, uint8_t out[16])
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, text, out) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, text, out) == 1)
		*family = AF_INET6;
	else
		return false;
	return true;
}

/* "24" into a mask of that many leading one bits; false when not 0..bits. */
static bool prefix_mask(const char *text, int family, uint8_t mask[16])
{
	int bits = family == AF_INET ? 32 : 128, len = 0;

	if (text[0] == '\0' || strlen(text) > 3)
		return false;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		len = len * 10 + (*p - '0');
	}
	if (len > bits)
		return false;
	memset(mask, 0, 16);
	for (int i = 0; i < len; i++)
		mask[i / 8] |= (uint8_t)(0x80 >> (i % 8));
	return true;
}

/* The field after an address without /len: its netmask. */
static const char *parse_netmask(struct line_ctx *lc, struct rule *r)
{
	const struct hbalex_token *t = next_single(lc, "netmask specification");
	int family;

	if (t == NULL)
		return lc->why;
	if (!parse_ip(t->text, &family, r->mask))
		return failf(lc, "invalid IP mask \"%s\"", t->text);
	if (family != r->family)
		return failf(lc, "IP address and mask do not match");
	return NULL;
}

static const char *parse_address(struct line_ctx *lc, struct rule *r)
{
	const struct hbalex_token *t = next_single(lc, "IP address specification");
	char text[INET6_ADDRSTRLEN + 8];
	const char *why = NULL;

	if (t == NULL)
		return lc->why;
	if (hbalex_is_keyword(t, "all")) {
		r->any_addr = true;
		return NULL;
	}
	if (hbalex_is_keyword(t, "samehost") || hbalex_is_keyword(t, "samenet"))
		return failf(lc, "\"%s\" is not supported: give the addresses", t->text);
	snprintf(text, sizeof(text), "%s", t->text);
	char *slash = strchr(text, '/');
	if (slash)
		*slash = '\0';
	if (strlen(t->text) >= sizeof(text) || !parse_ip(text, &r->family, r->addr))
		return failf(lc,
			     "host names are not supported (\"%s\"): give an IP address with a "
			     "/length or a netmask",
			     t->text);
	if (slash && !prefix_mask(slash + 1, r->family, r->mask))
		return failf(lc, "invalid CIDR mask in address \"%s\"", t->text);
	if (!slash)
		why = parse_netmask(lc, r);
	for (int i = 0; i < 16; i++)
		r->addr[i] &= r->mask[i];
	return why;
}

#define METHOD_IDENT       (-1) /* peer on a local rule; refused elsewhere */
#define METHOD_UNSUPPORTED (-2) /* a PostgreSQL method sluice does not have */

static const struct {
	const char *word;
	int method;
} method_words[] = {
	{ "trust", HBA_TRUST },         { "reject", HBA_REJECT },
	{ "password", HBA_PASSWORD },   { "md5", HBA_MD5 },
	{ "scram-sha-256", HBA_SCRAM }, { "cert", HBA_CERT },
	{ "peer", HBA_PEER },           { "ident", METHOD_IDENT },
	{ "gss", METHOD_UNSUPPORTED },  { "sspi", METHOD_UNSUPPORTED },
	{ "ldap", METHOD_UNSUPPORTED }, { "radius", METHOD_UNSUPPORTED },
	{ "pam", METHOD_UNSUPPORTED },  { "bsd", METHOD_UNSUPPORTED },
};

const char *hba_method_str(enum hba_method m)
{
	for (size_t i = 0; i < N_ELEMS(method_words); i++)
		if (method_words[i].method == (int)m)
			return method_words[i].word;
	return "?";
}

static const char *parse_method(struct line_ctx *lc, struct rule *r)
{
	const struct hbalex_token *t = next_single(lc, "authentication method");
	int m = METHOD_UNSUPPORTED - 1;

	if (t == NULL)
		return lc->why;
	for (size_t i = 0; i < N_ELEMS(method_words); i++)
		if (hbalex_is_keyword(t, method_words[i].word))
			m = method_words[i].method;
	if (m == METHOD_IDENT && r->type == RULE_LOCAL)
		m = HBA_PEER; /* as PostgreSQL: ident over a unix socket is peer */
	if (m == METHOD_IDENT)
		return failf(lc, "authentication method \"ident\" is not supported (on a local "
				 "rule it means peer)");
	if (m == METHOD_UNSUPPORTED)
		return failf(lc, "authentication method \"%s\" is not supported", t->text);
	if (m < 0)
		return failf(lc, "invalid authentication method \"%s\"", t->text);
	r->verdict.method = (enum hba_method)m;
	if (m == HBA_PEER && r->type != RULE_LOCAL)
		return failf(lc, "peer authentication is only supported on local sockets");
	if (m == HBA_CERT && r->type != RULE_HOSTSSL)
		return failf(lc, "cert authentication is only supported on hostssl connections");
	return NULL;
}

/* name=value options after the method: only map=, for peer and cert. */
static const char *parse_options(struct line_ctx *lc, struct rule *r)
{
	const struct hbalex_line *l = lc->line;

	for (size_t i = l->fields[lc->field - 1].first + 1; i < l->n_tokens; i++) {
		const char *opt = l->tokens[i].text, *eq = strchr(opt, '=');
		if (eq == NULL)
			return failf(lc, "authentication option not in name=value format: %s", opt);
		if ((size_t)(eq - opt) != 3 || strncmp(opt, "map", 3) != 0)
			return failf(lc, "authentication option \"%.*s\" is not supported",
				     (int)(eq - opt), opt);
		if (r->verdict.method != HBA_PEER && r->verdict.method != HBA_CERT)
			return failf(lc, "authentication option \"map\" is only valid for "
					 "authentication methods peer and cert");
		if (eq[1] == '\0')
			return failf(lc, "empty map name");
		free(r->map);
		if ((r->map = strdup(eq + 1)) == NULL)
			return "out of memory";
	}
	r->verdict.map = r->map;
	return NULL;
}

/* ---- loading ---- */

static void rule_free(struct rule *r)
{
	names_free(&r->db);
	names_free(&r->user);
	free(r->map);
}

/* Turn one line into a rule in *r; NULL on success, else the reason. */
static const char *parse_rule(struct line_ctx *lc, struct rule *r)
{
	const char *why;

	*r = (struct rule){ .verdict.line = lc->line->lineno };
	if ((why = parse_type(lc, r)) == NULL && (why = parse_names(lc, &r->db, true)) == NULL &&
	    (why = parse_names(lc, &r->user, false)) == NULL &&
	    (r->type == RULE_LOCAL || (why = parse_address(lc, r)) == NULL) &&
	    (why = parse_method(lc, r)) == NULL)
		why = parse_options(lc, r);
	if (why != NULL)
		rule_free(r);
	return why;
}

static const char *add_rule(struct hba *hba, const char *path, const struct hbalex_line *line,
			    struct line_ctx *lc, unsigned *files_read)
{
	*lc = (struct line_ctx){ .path = path, .line = line, .files_read = files_read };
	if (!hbalex_grow((void **)&hba->rules, hba->n, &hba->cap, sizeof(*hba->rules)))
		return "out of memory";
	const char *why = parse_rule(lc, &hba->rules[hba->n]);
	if (why == NULL)
		hba->n++;
	return why;
}

struct rule_reader {
	struct hba *hba;
	const char *path;
	unsigned files_read;
	struct line_ctx lc;
};

static const char *rule_line(void *arg, const struct hbalex_line *line)
{
	struct rule_reader *rr = arg;
	return add_rule(rr->hba, rr->path, line, &rr->lc, &rr->files_read);
}

struct hba *hba_load(const char *path, char *err, size_t errlen)
{
	struct rule_reader *rr = calloc(1, sizeof(*rr));
	struct hba *hba = calloc(1, sizeof(*hba));
	bool ok = rr != NULL && hba != NULL;

	if (!ok)
		snprintf(err, errlen, "%s: out of memory", path);
	if (ok) {
		*rr = (struct rule_reader){ .hba = hba, .path = path };
		ok = hbalex_read_file(path, rule_line, rr, err, errlen);
	}
	free(rr);
	if (!ok) {
		hba_free(hba);
		return NULL;
	}
	return hba;
}

void hba_free(struct hba *hba)
{
	if (hba == NULL)
		return;
	for (size_t i = 0; i < hba->n; i++)
		rule_free(&hba->rules[i]);
	free(hba->rules);
	free(hba);
}

size_t hba_count(const struct hba *hba)
{
	return hba ? hba->n : 0;
}

/* ---- matching ---- */

static bool conn_matches(enum rule_type type, enum hba_conn conn)
{
	switch (type) {
	case RULE_LOCAL:
		return conn == HBA_LOCAL;
	case RULE_HOST:
		return conn != HBA_LOCAL;
	case RULE_HOSTSSL:
		return conn == HBA_HOST_TLS;
	case RULE_HOSTNOSSL:
		return conn == HBA_HOST_PLAIN;
	}
	return false;
}

/* The client's address as (family, bytes); IPv4-mapped IPv6 as IPv4. False for others. */
static bool client_ip(const struct sockaddr *sa, int *family, uint8_t out[16])
{
	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		memcpy(out, &in->sin_addr, 4);
		*family = AF_INET;
		return true;
	}
	if (sa == NULL || sa->sa_family != AF_INET6)
		return false;
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
	if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
		memcpy(out, in6->sin6_addr.s6_addr + 12, 4);
		*family = AF_INET;
	} else {
		memcpy(out, in6->sin6_addr.s6_addr, 16);
		*family = AF_INET6;
	}
	return true;
}

static bool addr_matches(const struct rule *r, int family, const uint8_t *ip)
{
	if (r->type == RULE_LOCAL || r->any_addr)
		return true;
	if (family != r->family)
		return false;
	for (int i = 0; i < (family == AF_INET ? 4 : 16); i++)
		if ((ip[i] & r->mask[i]) != r->addr[i])
			return false;
	return true;
}

const struct hba_verdict *hba_match(const struct hba *hba, enum hba_conn conn,
				    const struct sockaddr *addr, const char *database,
				    const char *user)
{
	uint8_t ip[16] = { 0 };
	int family = AF_UNSPEC;

	if (hba == NULL)
		return NULL;
	if (conn != HBA_LOCAL && !client_ip(addr, &family, ip))
		return NULL;
	for (size_t i = 0; i < hba->n; i++) {
		const struct rule *r = &hba->rules[i];
		if (conn_matches(r->type, conn) && addr_matches(r, family, ip) &&
		    names_match(&r->db, database, user) && names_match(&r->user, user, user))
			return &r->verdict;
	}
	return NULL;
}
