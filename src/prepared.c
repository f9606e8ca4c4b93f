/*
 * prepared: named prepared statements across pooled servers. Owns the
 * registry of statements (refcounted, shared by all pools), each client's
 * map from its names to them and each server's LRU of what it has prepared.
 * Works only through the relay: rewritten messages are framed with
 * relay_client_replace, injected ones with relay_inject, its own answers
 * with relay_reply, and what it is owed back is settled in prepared_settle.
 */
#include "sluice/prepared.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/client.h"
#include "sluice/insight.h"
#include "sluice/list.h"
#include "sluice/pool.h"
#include "sluice/relay.h"
#include "sluice/runtime.h"
#include "sluice/server.h"
#include "sluice/util.h"

/* Server-side names: "sluice_<id>"; these three are never an id, so never a statement. */
#define NAME_PREFIX  "sluice_"
#define NAME_MISSING "sluice_missing" /* stands in for a name the client never prepared */
#define NAME_DUP     "sluice_dup"     /* the target of a Parse that must fail */
#define NAME_DEALLOC "sluice_dealloc" /* prepared and deallocated for a client's DEALLOCATE */
#define NAME_LEN     32

/* --- a chained hash table of nodes that begin with a struct hnode --- */

struct hnode {
	struct hnode *next;
	uint32_t hash;
};

struct htab {
	struct hnode **b;
	uint32_t n;     /* buckets: a power of two, or 0 before the first insert */
	uint32_t count; /* nodes */
};

#define BUCKET(t, h) ((t)->b[(h) & ((t)->n - 1)])

static void htab_insert(struct htab *t, struct hnode *e)
{
	if (t->count >= t->n / 2) { /* grow: at most two nodes a bucket on average */
		uint32_t n = t->n ? t->n * 2 : 16;
		struct hnode **b = xcalloc(n, sizeof(*b));
		for (uint32_t i = 0; i < t->n; i++) {
			while (t->b[i]) {
				struct hnode *x = t->b[i];
				t->b[i] = x->next;
				x->next = b[x->hash & (n - 1)];
				b[x->hash & (n - 1)] = x;
			}
		}
		free(t->b);
		t->b = b;
		t->n = n;
	}
	e->next = BUCKET(t, e->hash);
	BUCKET(t, e->hash) = e;
	t->count++;
}

static void htab_unlink(struct htab *t, struct hnode *e)
{
	struct hnode **pp = &BUCKET(t, e->hash);
	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	t->count--;
}

/* Any node, to empty a table one by one; NULL when empty. */
static struct hnode *htab_any(const struct htab *t)
{
	for (uint32_t i = 0; t->count && i < t->n; i++)
		if (t->b[i])
			return t->b[i];
	return NULL;
}

static uint32_t hash_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

/* --- the registry: one entry per distinct statement --- */

/* A statement as PostgreSQL sees it: what follows the name in a Parse. */
struct pstmt {
	struct hnode node;   /* hash of the text */
	uint32_t refs;       /* client names, server copies, queued uses */
	uint64_t id;         /* its server-side name; a new one once a server's copy went stale */
	char name[NAME_LEN]; /* "sluice_<id>", written once per id: every Bind uses it */
	uint32_t name_len;
	uint32_t len;
	uint8_t text[]; /* query, NUL, int16 parameter count, int32 type OIDs */
};

struct prepared_registry {
	struct htab statements;
	uint64_t next_id;
};

struct prepared_registry *prepared_registry_new(void)
{
	return xcalloc(1, sizeof(struct prepared_registry));
}

void prepared_registry_free(struct prepared_registry *reg)
{
	struct hnode *e;
	if (reg == NULL)
		return;
	while ((e = htab_any(&reg->statements)) != NULL) { /* none should be left */
		htab_unlink(&reg->statements, e);
		free(e);
	}
	free(reg->statements.b);
	free(reg);
}

uint32_t prepared_registry_count(const struct prepared_registry *reg)
{
	return reg ? reg->statements.count : 0;
}

static void server_name(uint64_t id, char out[NAME_LEN])
{
	snprintf(out, NAME_LEN, NAME_PREFIX "%" PRIu64, id);
}

/* A fresh server-side name for ps (new, or its servers' copies went stale). */
static void pstmt_new_id(struct prepared_registry *reg, struct pstmt *ps)
{
	ps->id = ++reg->next_id;
	server_name(ps->id, ps->name);
	ps->name_len = (uint32_t)strlen(ps->name);
}

/* The statement with this text, with one more reference. */
static struct pstmt *pstmt_get(struct prepared_registry *reg, const uint8_t *text, uint32_t len)
{
	uint32_t h = hash_bytes(text, len);
	struct htab *t = &reg->statements;
	for (struct hnode *e = t->n ? BUCKET(t, h) : NULL; e; e = e->next) {
		struct pstmt *ps = (struct pstmt *)e;
		if (e->hash == h && ps->len == len && memcmp(ps->text, text, len) == 0) {
			ps->refs++;
			return ps;
		}
	}
	struct pstmt *ps = xmalloc(sizeof(*ps) + len);
	ps->node.hash = h;
	ps->refs = 1;
	pstmt_new_id(reg, ps);
	ps->len = len;
	memcpy(ps->text, text, len);
	htab_insert(t, &ps->node);
	return ps;
}

static void pstmt_unref(struct prepared_registry *reg, struct pstmt *ps)
{
	if (--ps->refs > 0)
		return;
	htab_unlink(&reg->statements, &ps->node);
	free(ps);
}

/* --- a client's names --- */

struct cstmt {
	struct hnode node; /* hash of the name */
	uint32_t refs;     /* the map, and queued requests about it */
	bool live;         /* still in its client's map */
	struct pstmt *ps;
	char name[];
};

struct prepared_client {
	struct htab names;
};

/* Drop n references to cs (the map's and/or a queued request's), freeing it at none. */
static void cstmt_unref_n(struct prepared_registry *reg, struct cstmt *cs, uint32_t n)
{
	cs->refs -= n;
	if (cs->refs > 0)
		return;
	pstmt_unref(reg, cs->ps);
	free(cs);
}

static void cstmt_unref(struct prepared_registry *reg, struct cstmt *cs)
{
	cstmt_unref_n(reg, cs, 1);
}

/* Take `cs` out of its client's map, keeping the map's reference for the caller. */
static void cmap_unlink(struct prepared_client *pc, struct cstmt *cs)
{
	htab_unlink(&pc->names, &cs->node);
	cs->live = false;
}

static struct cstmt *cmap_find(const struct prepared_client *pc, const char *name)
{
	if (pc == NULL || pc->names.n == 0)
		return NULL;
	uint32_t h = hash_bytes(name, strlen(name));
	for (struct hnode *e = BUCKET(&pc->names, h); e; e = e->next)
		if (e->hash == h && strcmp(((struct cstmt *)e)->name, name) == 0)
			return (struct cstmt *)e;
	return NULL;
}

/* Map `name` (absent) to ps, taking over the caller's reference to ps. */
static struct cstmt *cmap_add(struct prepared_client **pcp, const char *name, struct pstmt *ps)
{
	if (*pcp == NULL)
		*pcp = xcalloc(1, sizeof(**pcp));
	size_t len = strlen(name);
	struct cstmt *cs = xmalloc(sizeof(*cs) + len + 1);
	cs->node.hash = hash_bytes(name, len);
	cs->refs = 1;
	cs->live = true;
	cs->ps = ps;
	memcpy(cs->name, name, len + 1);
	htab_insert(&(*pcp)->names, &cs->node);
	return cs;
}

/* Take `cs` out of its client's map (Close, DEALLOCATE, a failed Parse). */
static void cmap_remove(struct prepared_registry *reg, struct prepared_client *pc, struct cstmt *cs)
{
	if (!cs->live)
		return;
	cmap_unlink(pc, cs);
	cstmt_unref(reg, cs);
}

/* Put back a name the client forgot when the server did not follow: a Close
 * or DEALLOCATE skipped after an error, or refused in a failed transaction
 * (unless the name was taken again meanwhile). */
static void cmap_restore(struct prepared_client *pc, struct cstmt *cs)
{
	if (pc == NULL || cs->live || cmap_find(pc, cs->name) != NULL)
		return;
	htab_insert(&pc->names, &cs->node);
	cs->live = true;
	cs->refs++;
}

void prepared_client_free(struct prepared_registry *reg, struct prepared_client **pcp)
{
	struct prepared_client *pc = *pcp;
	struct hnode *e;
	if (pc == NULL)
		return;
	while ((e = htab_any(&pc->names)) != NULL)
		cmap_remove(reg, pc, (struct cstmt *)e);
	free(pc->names.b);
	free(pc);
	*pcp = NULL;
}

uint32_t prepared_client_count(const struct prepared_client *pc)
{
	return pc ? pc->names.count : 0;
}

/* --- what a server has prepared --- */

struct sstmt {
	struct hnode node; /* hash of the id */
	struct list lru;   /* most recently used first */
	uint64_t id;       /* the name it has on the server */
	struct pstmt *ps;
	uint32_t pending; /* queued expectations referring to it: freed only after them */
	bool live;        /* in the server's set */
	bool evicting;    /* a Close of it is on its way */
};

struct prepared_server {
	struct htab ids;
	uint32_t n_kept; /* live entries not being evicted: what max_prepared_statements caps */
	struct list lru;
};

static uint32_t id_hash(uint64_t id)
{
	return (uint32_t)(id * 0x9E3779B97F4A7C15ull >> 32);
}

static struct sstmt *sset_find(const struct prepared_server *set, uint64_t id)
{
	if (set == NULL || set->ids.n == 0)
		return NULL;
	for (struct hnode *e = BUCKET(&set->ids, id_hash(id)); e; e = e->next)
		if (((struct sstmt *)e)->id == id)
			return (struct sstmt *)e;
	return NULL;
}

/* The server now has (or is about to have) ps under its current id. */
static struct sstmt *sset_add(struct prepared_server **setp, struct pstmt *ps)
{
	if (*setp == NULL) {
		*setp = xcalloc(1, sizeof(**setp));
		list_init(&(*setp)->lru);
	}
	struct prepared_server *set = *setp;
	struct sstmt *ss = xcalloc(1, sizeof(*ss));
	ss->node.hash = id_hash(ps->id);
	ss->id = ps->id;
	ss->ps = ps;
	ps->refs++;
	ss->live = true;
	htab_insert(&set->ids, &ss->node);
	list_add_head(&set->lru, &ss->lru);
	set->n_kept++;
	return ss;
}

static void sstmt_release(struct prepared_registry *reg, struct sstmt *ss)
{
	if (ss->live || ss->pending > 0)
		return;
	pstmt_unref(reg, ss->ps);
	free(ss);
}

/* The server no longer has ss (closed, never created, or the set is dropped). */
static void sset_drop(struct prepared_registry *reg, struct prepared_server *set, struct sstmt *ss)
{
	if (!ss->live)
		return;
	htab_unlink(&set->ids, &ss->node);
	list_del(&ss->lru);
	ss->live = false;
	if (!ss->evicting)
		set->n_kept--;
	sstmt_release(reg, ss);
}

void prepared_server_free(struct prepared_registry *reg, struct prepared_server **setp)
{
	struct prepared_server *set = *setp;
	struct hnode *e;
	if (set == NULL)
		return;
	while ((e = htab_any(&set->ids)) != NULL)
		sset_drop(reg, set, (struct sstmt *)e);
	free(set->ids.b);
	free(set);
	*setp = NULL;
}

uint32_t prepared_server_count(const struct prepared_server *set)
{
	return set ? set->ids.count : 0;
}

/* --- building messages --- */

/* Parse of `name` with `text` (query, NUL, parameter types) into out. */
static void build_parse(struct pktbuf *out, const char *name, const uint8_t *text, uint32_t len)
{
	pkt_begin(out, 'P');
	pkt_put_str(out, name);
	pkt_put_bytes(out, text, len);
	pkt_end(out);
}

/* Parse of `name` with a query and no parameter types. */
static void build_parse_sql(struct pktbuf *out, const char *name, const char *sql)
{
	pkt_begin(out, 'P');
	pkt_put_str(out, name);
	pkt_put_str(out, sql);
	pkt_put_u16(out, 0);
	pkt_end(out);
}

static void build_close(struct pktbuf *out, const char *name)
{
	pkt_begin(out, 'C');
	pkt_put_u8(out, 'S');
	pkt_put_str(out, name);
	pkt_end(out);
}

/* An ErrorResponse owned by the caller, for RX_ERROR. */
static uint8_t *error_bytes(const char *sqlstate, const char *msg, uint32_t *len)
{
	struct pktbuf b;
	pktbuf_init(&b);
	proto_build_error(&b, "ERROR", sqlstate, msg);
	*len = (uint32_t)b.len;
	return b.data; /* the pktbuf's allocation, now the caller's */
}

/* --- the link: client c and its server --- */

enum prep_op {
	OP_NONE = 0,
	OP_INJECTED_PARSE, /* ref: sstmt, which the server has only once this Parse succeeds */
	OP_CLIENT_PARSE,   /* ref: sstmt (new on the server), ref2: the client's cstmt */
	OP_CLIENT_REPARSE, /* the same, for a statement closed on the server just before */
	OP_EVICT,          /* ref: sstmt being closed to make room */
	OP_USE,            /* Bind or Describe of ref: pstmt (0A000 makes its copies stale) */
	OP_FORGET, /* Close or DEALLOCATE of ref2: the client's cstmt, put back on failure */
};

static struct prepared_registry *registry(const struct client *c)
{
	return c->rt->prepared;
}

/* The client forgets `cs` now (later messages must not see it); the request
 * x doing it puts it back if the server does not follow (see cmap_restore). */
static void forget(struct client *c, struct cstmt *cs, struct relay_expect *x)
{
	insight_close(c, cs->name); /* its Binds are no longer its statement's */
	if (x != NULL) {
		x->op = OP_FORGET;
		x->ref2 = cs;
		cs->refs++;
	}
	cmap_remove(registry(c), c->prepared, cs);
}

/* Queue msg (built in out) for the server instead of the client's message at scan. */
static struct relay_expect *replace(struct client *c, const struct proto_msg *m, uint32_t consumed,
				    const struct pktbuf *out, uint8_t flags)
{
	struct server *s = c->server;
	return relay_client_replace(&s->relay, &c->conn, &s->conn, m, consumed, out->data,
				    (uint32_t)out->len, flags);
}

/* A request of sluice's own before the client's message at scan. */
static struct relay_expect *inject(struct client *c, const struct pktbuf *out, uint8_t flags)
{
	struct server *s = c->server;
	return relay_inject(&s->relay, &c->conn, &s->conn, out->data, (uint32_t)out->len, flags);
}

/* Make room on the server: Close the least recently used statements beyond the cap. */
static void evict(struct client *c)
{
	struct server *s = c->server;
	struct prepared_server *set = s->prepared;
	int cap = c->rt->cfg->max_prepared_statements;
	if (set == NULL || s->relay.skipping)
		return; /* a Close now would be ignored by the server, and it would keep the statement */
	struct list *it = set->lru.prev;
	while ((int)set->n_kept >= cap && it != &set->lru) {
		struct sstmt *ss = list_entry(it, struct sstmt, lru);
		it = it->prev;
		if (ss->evicting)
			continue;
		char name[NAME_LEN];
		struct pktbuf out;
		pktbuf_init(&out);
		server_name(ss->id, name);
		build_close(&out, name);
		struct relay_expect *x = inject(c, &out, RX_SWALLOW);
		pktbuf_free(&out);
		if (x == NULL)
			return;
		ss->evicting = true;
		set->n_kept--;
		x->op = OP_EVICT;
		x->ref = ss;
		ss->pending++;
	}
}

/* The server has ps prepared under its current name: inject a Parse when it lacks it. */
static struct sstmt *ensure(struct client *c, struct pstmt *ps)
{
	struct server *s = c->server;
	struct sstmt *ss = sset_find(s->prepared, ps->id);
	if (ss != NULL && !ss->evicting) {
		list_del(&ss->lru);
		list_add_head(&s->prepared->lru, &ss->lru);
		return ss;
	}
	evict(c);
	if (ss != NULL) /* a Close of it is queued: prepare it again behind that */
		sset_drop(registry(c), s->prepared, ss);
	ss = sset_add(&s->prepared, ps);
	struct pktbuf out;
	pktbuf_init(&out);
	build_parse(&out, ps->name, ps->text, ps->len);
	struct relay_expect *x = inject(c, &out, RX_SWALLOW);
	pktbuf_free(&out);
	s->pool->stats.total.server_parse_count++;
	if (x == NULL) { /* ignored by the server (it skips to a Sync): it stays without it */
		sset_drop(registry(c), s->prepared, ss);
		return NULL;
	}
	x->op = OP_INJECTED_PARSE;
	x->ref = ss;
	ss->pending++;
	return ss;
}

/* The server's error for x is replaced by PostgreSQL's own for the client's
 * statement `name`: "prepared statement "name" does not exist" (26000) or
 * "... already exists" (42P05). */
static void attach_error(struct relay_expect *x, const char *sqlstate, const char *name)
{
	char msg[320];
	if (x == NULL)
		return;
	if (strcmp(sqlstate, "42P05") == 0)
		snprintf(msg, sizeof(msg), "prepared statement \"%.256s\" already exists", name);
	else
		snprintf(msg, sizeof(msg), "prepared statement \"%.256s\" does not exist", name);
	x->bytes = error_bytes(sqlstate, msg, &x->len);
}

/* --- messages --- */

/* A named Parse, whole in the buffer. */
static enum prepared_verdict on_parse(struct client *c, const struct proto_msg *m, const char *name,
				      const uint8_t *text, uint32_t len)
{
	struct server *s = c->server;
	struct pktbuf out;
	pktbuf_init(&out);
	if (cmap_find(c->prepared, name) != NULL) {
		/* PostgreSQL's 42P05, from a Parse that fails on the server the same way */
		build_parse_sql(&out, NAME_DUP, "sluice: duplicate statement name");
		struct relay_expect *x = replace(c, m, m->total, &out, RX_ERROR);
		attach_error(x, "42P05", name);
		pktbuf_free(&out);
		return PREP_DONE;
	}
	struct prepared_registry *reg = registry(c);
	struct pstmt *ps = pstmt_get(reg, text, len);
	struct cstmt *cs = cmap_add(&c->prepared, name, ps);
	struct stats_counters *st = &s->pool->stats.total;
	st->client_parse_count++;
	st->server_parse_count++;
	struct sstmt *ss = sset_find(s->prepared, ps->id);
	uint8_t op = OP_CLIENT_PARSE;
	const char *sname = ps->name;
	if (ss != NULL && !ss->evicting) {
		/* the server has it: parse it again, so errors are what they would be now */
		build_close(&out, sname);
		(void)inject(c, &out, RX_SWALLOW);
		pktbuf_reset(&out);
		op = OP_CLIENT_REPARSE;
	} else {
		evict(c);
		if (ss != NULL)
			sset_drop(reg, s->prepared, ss);
		ss = sset_add(&s->prepared, ps);
	}
	list_del(&ss->lru);
	list_add_head(&s->prepared->lru, &ss->lru);
	build_parse(&out, sname, text, len);
	struct relay_expect *x = replace(c, m, m->total, &out, 0);
	pktbuf_free(&out);
	if (x != NULL) {
		x->op = op;
		x->ref = ss;
		x->ref2 = cs;
		ss->pending++;
		cs->refs++;
	}
	return PREP_DONE;
}

/*
 * Bind or Describe of statement `name`: its first `head` bytes (up to the
 * name's NUL) are rewritten, with `prefix` (portal name or 'S') kept.
 */
static enum prepared_verdict on_use(struct client *c, const struct proto_msg *m,
				    const uint8_t *prefix, uint32_t prefix_len, const char *name)
{
	struct server *s = c->server;
	uint32_t name_len = (uint32_t)strlen(name);
	uint32_t head = PROTO_HEADER_LEN + prefix_len + name_len + 1;
	struct cstmt *cs = cmap_find(c->prepared, name);
	struct sstmt *ss = cs ? ensure(c, cs->ps) : NULL;
	const char *sname = ss != NULL ? cs->ps->name : NAME_MISSING;
	uint32_t sname_len = ss != NULL ? cs->ps->name_len : (uint32_t)strlen(NAME_MISSING);
	/* the new head: type, length, prefix, name; the rest of the message follows as it is
	 * (built on the stack: this runs for every execution of a prepared statement) */
	uint32_t new_len = m->len - name_len + sname_len;
	uint8_t stack[256];
	struct pktbuf out = { .data = stack, .cap = sizeof(stack) };
	uint32_t out_len = PROTO_HEADER_LEN + prefix_len + sname_len + 1;
	if (out_len > sizeof(stack))
		pktbuf_init(&out); /* a long portal name: on the heap */
	pkt_put_u8(&out, m->type);
	pkt_put_u32(&out, new_len + 4);
	pkt_put_bytes(&out, prefix, prefix_len);
	pkt_put_bytes(&out, sname, sname_len + 1);
	struct relay_expect *x = replace(c, m, head, &out, cs == NULL ? RX_ERROR : 0);
	if (out.data != stack)
		pktbuf_free(&out);
	if (cs == NULL) {
		attach_error(x, "26000", name);
		return PREP_DONE;
	}
	if (m->type == 'B')
		s->pool->stats.total.bind_count++;
	if (x != NULL) {
		x->op = OP_USE;
		x->ref = cs->ps;
		cs->ps->refs++;
	}
	return PREP_DONE;
}

/* Close of statement `name`: sluice answers, as PostgreSQL does also for an unknown name. */
static enum prepared_verdict on_close(struct client *c, const struct proto_msg *m, const char *name)
{
	struct server *s = c->server;
	struct cstmt *cs = cmap_find(c->prepared, name);
	relay_client_skip(&c->conn, &s->conn, m);
	static const uint8_t close_complete[] = { '3', 0, 0, 0, 4 };
	struct relay_expect *x = relay_reply(&s->relay, close_complete, sizeof(close_complete), 0);
	if (cs != NULL)
		forget(c, cs, x);
	return PREP_DONE;
}

/*
 * The statement named by "DEALLOCATE [PREPARE] name [;]" (any case, the name
 * folded to lower case unless quoted) into out; false for anything else,
 * DEALLOCATE ALL included (that one goes to the server, see prepared_complete).
 */
static bool parse_deallocate(const char *sql, size_t len, char *out, size_t cap)
{
	const char *p = sql, *end = sql + len;
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (end - p < 10 || strncasecmp(p, "deallocate", 10) != 0)
		return false;
	p += 10;
	while (p < end && isspace((unsigned char)*p))
		p++;
	if (end - p > 7 && strncasecmp(p, "prepare", 7) == 0 && isspace((unsigned char)p[7]))
		for (p += 7; p < end && isspace((unsigned char)*p); p++)
			;
	size_t n = 0;
	if (p < end && *p == '"') {
		for (p++; p < end && n + 1 < cap; p++) {
			if (*p == '"' && (p + 1 >= end || p[1] != '"'))
				break;
			if (*p == '"')
				p++;
			out[n++] = *p;
		}
		if (p >= end || *p != '"')
			return false;
		p++;
	} else {
		for (; p < end && (isalnum((unsigned char)*p) || *p == '_' || *p == '$'); p++) {
			if (n + 1 >= cap)
				return false;
			out[n++] = (char)tolower((unsigned char)*p);
		}
	}
	out[n] = '\0';
	while (p < end && (isspace((unsigned char)*p) || *p == ';'))
		p++;
	return n > 0 && p == end && strcasecmp(out, "all") != 0;
}

/* A simple Query DEALLOCATE of a name the client has: answered by sluice. */
static enum prepared_verdict on_query(struct client *c, const struct proto_msg *m,
				      const uint8_t *body)
{
	char name[256];
	struct server *s = c->server;
	struct cstmt *cs;
	if (m->len == 0 || !parse_deallocate((const char *)body, m->len - 1, name, sizeof(name)) ||
	    (cs = cmap_find(c->prepared, name)) == NULL || s->relay.skipping)
		return PREP_PASS;
	relay_client_skip(&c->conn, &s->conn, m);
	struct pktbuf out;
	pktbuf_init(&out);
	proto_build_command_complete(&out, "DEALLOCATE");
	forget(c, cs, relay_reply(&s->relay, out.data, (uint32_t)out.len, RX_READY));
	pktbuf_free(&out);
	return PREP_DONE;
}

/* An unnamed Parse of "DEALLOCATE name" (how psycopg sends it): the server
 * deallocates a statement of sluice's own instead, so the client gets
 * PostgreSQL's own replies, errors and command tag. */
static enum prepared_verdict on_deallocate_parse(struct client *c, const struct proto_msg *m,
						 const char *sql, const uint8_t *types,
						 uint32_t types_len)
{
	char name[256];
	struct cstmt *cs;
	if (!parse_deallocate(sql, strlen(sql), name, sizeof(name)) ||
	    (cs = cmap_find(c->prepared, name)) == NULL || c->server->relay.skipping)
		return PREP_PASS;
	struct pktbuf out;
	pktbuf_init(&out);
	build_close(&out, NAME_DEALLOC);
	(void)inject(c, &out, RX_SWALLOW);
	pktbuf_reset(&out);
	build_parse_sql(&out, NAME_DEALLOC, "SELECT 1");
	(void)inject(c, &out, RX_SWALLOW);
	pktbuf_reset(&out);
	pkt_begin(&out, 'P');
	pkt_put_str(&out, "");
	pkt_put_str(&out, "DEALLOCATE " NAME_DEALLOC);
	pkt_put_bytes(&out, types, types_len);
	pkt_end(&out);
	forget(c, cs, replace(c, m, m->total, &out, 0));
	pktbuf_free(&out);
	return PREP_DONE;
}

/* Where a NUL-terminated string starting at p (at most avail bytes) ends, or NULL. */
static const uint8_t *str_end(const uint8_t *p, uint32_t avail)
{
	return memchr(p, 0, avail);
}

enum prepared_verdict prepared_client_message(struct client *c, const struct proto_msg *m)
{
	struct iobuf *b = c->conn.in;
	uint32_t avail = iobuf_unscanned(b) - PROTO_HEADER_LEN;
	const uint8_t *body = b->data + b->scan + PROTO_HEADER_LEN;
	if (avail > m->len)
		avail = m->len;
	if (m->type == 'B') { /* only the names are needed: parameters may be huge */
		const uint8_t *portal_end = str_end(body, avail);
		const uint8_t *stmt_end =
			portal_end
				? str_end(portal_end + 1, avail - (uint32_t)(portal_end + 1 - body))
				: NULL;
		if (stmt_end == NULL) {
			if (avail == m->len || avail >= 65536)
				return PREP_PASS; /* malformed, or names no client uses */
			iobuf_reserve_message(b, m->total < 65536 + PROTO_HEADER_LEN
							 ? m->total
							 : 65536 + PROTO_HEADER_LEN);
			return PREP_MORE;
		}
		if (portal_end[1] == '\0' || c->server->relay.skipping)
			return PREP_PASS; /* the unnamed statement */
		return on_use(c, m, body, (uint32_t)(portal_end + 1 - body),
			      (const char *)portal_end + 1);
	}
	if (avail < m->len) { /* Parse, Describe, Close, a Query that may be DEALLOCATE: whole */
		iobuf_reserve_message(b, m->total);
		return PREP_MORE;
	}
	switch (m->type) {
	case 'Q':
		return on_query(c, m, body);
	case 'D':
	case 'C': {
		if (m->len < 2 || body[0] != 'S' || body[1] == '\0' || body[m->len - 1] != '\0' ||
		    c->server->relay.skipping)
			return PREP_PASS; /* a portal, the unnamed statement, or malformed */
		if (m->type == 'C')
			return on_close(c, m, (const char *)body + 1);
		return on_use(c, m, body, 1, (const char *)body + 1);
	}
	default: { /* 'P' */
		const uint8_t *name_end = str_end(body, m->len);
		const uint8_t *text = name_end ? name_end + 1 : NULL;
		uint32_t len = text ? m->len - (uint32_t)(text - body) : 0;
		const uint8_t *sql_end = text ? str_end(text, len) : NULL;
		if (sql_end == NULL || c->server->relay.skipping)
			return PREP_PASS; /* malformed: the server says so */
		if (body[0] == '\0')
			return on_deallocate_parse(c, m, (const char *)text, sql_end + 1,
						   len - (uint32_t)(sql_end + 1 - text));
		return on_parse(c, m, (const char *)body, text, len);
	}
	}
}

/* --- what comes back --- */

UTIL_NOINLINE void prepared_settle(struct server *s, struct relay_expect *x, bool ok,
				   const char *sqlstate)
{
	struct prepared_registry *reg = s->rt->prepared;
	struct sstmt *ss = x->ref;
	struct cstmt *cs = x->ref2;
	struct client *c = s->client;
	switch (x->op) {
	case OP_INJECTED_PARSE:
		if (!ok)
			sset_drop(reg, s->prepared, ss);
		break;
	case OP_CLIENT_PARSE:
	case OP_CLIENT_REPARSE:
		/* after a Close that ran, a failed Parse leaves the server without it */
		if (!ok && (x->op == OP_CLIENT_PARSE || sqlstate != NULL))
			sset_drop(reg, s->prepared, ss);
		/* failed with its own error: a failed call for query insight */
		if (!ok && sqlstate != NULL && c != NULL)
			insight_parse_failed(s->rt->insight, s->rt->cfg, c, cs->name, sqlstate);
		if (!ok && c != NULL && cs->live) { /* PostgreSQL would not have it either */
			cmap_unlink(c->prepared, cs);
			cstmt_unref_n(reg, cs, 2); /* the map's reference and this request's */
		} else {
			cstmt_unref(reg, cs);
		}
		break;
	case OP_EVICT:
		if (ok) {
			sset_drop(reg, s->prepared, ss);
		} else if (ss->live && ss->evicting) {
			ss->evicting = false; /* the server skipped the Close: it keeps it */
			s->prepared->n_kept++;
		}
		break;
	case OP_FORGET:
		if (!ok && c != NULL)
			cmap_restore(c->prepared, cs);
		cstmt_unref(reg, cs);
		return;
	case OP_USE: {
		struct pstmt *ps = x->ref;
		if (!ok && sqlstate && strcmp(sqlstate, "0A000") == 0)
			pstmt_new_id(reg, ps); /* "cached plan must not change result type" */
		pstmt_unref(reg, ps);
		return;
	}
	default:
		return;
	}
	ss->pending--;
	sstmt_release(reg, ss);
}

UTIL_COLD void prepared_complete(struct server *s, const char *tag, uint32_t len)
{
	if (memchr(tag, 0, len) == NULL ||
	    (strcmp(tag, "DISCARD ALL") != 0 && strcmp(tag, "DEALLOCATE ALL") != 0))
		return;
	struct prepared_registry *reg = s->rt->prepared;
	prepared_server_free(reg, &s->prepared);
	if (s->client)
		prepared_client_free(reg, &s->client->prepared);
}
