/*
 * insight: the statement table (see insight.h). Entries live in one array of
 * query_stats_max slots, found through a chained hash of their key and kept
 * in a least-recently-used list; a client refers to an entry by index and
 * serial, so an evicted or reset entry is never charged by mistake. Owns the
 * entries' strings and the raw-text cache.
 */
#include "sluice/insight.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sluice/client.h"
#include "sluice/fingerprint.h"
#include "sluice/log.h"
#include "sluice/nplusone.h"
#include "sluice/params.h"
#include "sluice/proto.h"
#include "sluice/relay.h"
#include "sluice/runtime.h"
#include "sluice/stats.h"
#include "sluice/util.h"

#define TEXT_CACHE  4096 /* distinct raw texts remembered: hash of the bytes -> fingerprint */
#define NAMED_FIRST 16   /* named statements a client's table holds at first */
#define NAMED_MAX   1024 /* and at most (drivers cache 100 to 256) */
#define ERR_CLASSES 4    /* SQLSTATE classes counted one by one per statement */
#define NONE        (-1)

struct qstat {
	uint64_t key; /* hash of database, user, application and fingerprint */
	uint64_t fp;
	char *db, *user, *app, *text;
	uint32_t serial; /* changes whenever the slot is given to another statement */
	int32_t hnext;   /* hash chain */
	int32_t prev, next;
	uint64_t calls, rows, errors;
	struct {
		char cls[3];
		uint32_t n;
	} err[ERR_CLASSES];
	usec_t total, max, wait;
	struct wait_hist hist; /* execution times */
};

struct ref {
	int32_t idx;
	uint32_t serial;
};

struct insight {
	struct n1_table *loops; /* N+1 patterns */
	struct qstat *e;
	uint32_t max, n;  /* slots, and slots in use (the first n) */
	int32_t *buckets; /* heads of hash chains */
	uint32_t mask;
	int32_t head, tail;   /* most and least recently used */
	uint32_t next_serial; /* serials are never reused, across resets too */
	uint64_t evictions;
	struct {
		uint64_t raw;
		uint32_t len;
		uint64_t fp;
	} cache[TEXT_CACHE];
};

/* A client's named statement: the hash of its name (0: an empty slot). */
struct named {
	uint64_t name;
	struct ref st;
};

struct insight_client {
	struct named *named; /* open addressing by name hash, 3/4 full at most */
	uint32_t named_cap, named_used;
	struct ref parsed; /* the unnamed statement's text */
	struct ref parse;  /* the statement of the last Parse (unnamed or named) */
	struct ref cur;    /* what the next Execute runs */
	/* an error not charged yet: its SQLSTATE class, and whose it is: 'Q' the
	 * Query being answered, 'X' the Execute that a failed Bind (or a Parse
	 * prepared.c rewrote) made the server skip, 0 none */
	char err[3];
	char err_for;
	usec_t answered; /* when the last of its statements was answered */
	char *app;       /* the application_name base was computed for (held, interned) */
	uint64_t base;   /* hash of database, user and application_name */
	/* the last text looked up, so that the same statement sent again is known
	 * without a pass (fingerprint_alike) */
	struct {
		char *text;
		uint32_t len, cap;
		bool shaped; /* fingerprint_shape took it */
		struct fp_anchor anchor;
		struct ref st;
		uint64_t params;
	} prev;
	/* c->last_query_gen when c->last_query was prev.text, or alike it at
	 * prev.anchor (fingerprint_again may then compare the next text with it) */
	uint64_t again;
	uint64_t again_params; /* what c->last_query's constants hashed to */
	uint64_t params;   /* hash of the next execution's parameters (Bind) or raw text (Query) */
	struct n1_run run; /* the N+1 detector's */
};

/* FNV-1a, 64 bits. */
static uint64_t hash_bytes(const void *p, size_t len, uint64_t h)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < len; i++)
		h = (h ^ s[i]) * UINT64_C(0x100000001b3);
	return h;
}

#define HASH_SEED UINT64_C(0xcbf29ce484222325)

static uint64_t hash_str(const char *s, uint64_t h)
{
	return hash_bytes(s ? s : "", s ? strlen(s) + 1 : 1, h);
}

struct insight *insight_new(void)
{
	struct insight *in = xcalloc(1, sizeof(*in));
	in->head = in->tail = NONE;
	in->loops = n1_new();
	return in;
}

/* Free what an entry owns and empty it. */
static void qstat_release(struct qstat *q)
{
	free(q->db);
	free(q->user);
	free(q->app);
	free(q->text);
	*q = (struct qstat){ 0 };
}

void insight_free(struct insight *in)
{
	if (in == NULL)
		return;
	insight_reset(in);
	n1_free(in->loops);
	free(in);
}

void insight_reset(struct insight *in)
{
	n1_reset(in->loops);
	for (uint32_t i = 0; i < in->n; i++)
		qstat_release(&in->e[i]);
	free(in->e);
	free(in->buckets);
	in->e = NULL;
	in->buckets = NULL;
	in->max = in->n = 0;
	in->head = in->tail = NONE;
	memset(in->cache, 0, sizeof(in->cache));
}

/* --- the LRU list and the hash chains --- */

static void lru_unlink(struct insight *in, int32_t i)
{
	struct qstat *q = &in->e[i];
	if (q->prev != NONE)
		in->e[q->prev].next = q->next;
	else
		in->head = q->next;
	if (q->next != NONE)
		in->e[q->next].prev = q->prev;
	else
		in->tail = q->prev;
}

static void lru_push(struct insight *in, int32_t i)
{
	struct qstat *q = &in->e[i];
	q->prev = NONE;
	q->next = in->head;
	if (in->head != NONE)
		in->e[in->head].prev = i;
	in->head = i;
	if (in->tail == NONE)
		in->tail = i;
}

static void touch(struct insight *in, int32_t i)
{
	if (in->head == i)
		return;
	lru_unlink(in, i);
	lru_push(in, i);
}

static void chain_remove(struct insight *in, int32_t i)
{
	int32_t *pp = &in->buckets[in->e[i].key & in->mask];
	while (*pp != NONE && *pp != i)
		pp = &in->e[*pp].hnext;
	if (*pp == i)
		*pp = in->e[i].hnext;
}

/* The least recently used entry, emptied for reuse. */
static int32_t evict(struct insight *in)
{
	int32_t i = in->tail;
	struct qstat *q = &in->e[i];
	lru_unlink(in, i);
	chain_remove(in, i);
	qstat_release(q);
	in->evictions++;
	return i;
}

/* --- the table's size --- */

/* The hash chains of a table of `max` slots, all empty. */
static void new_buckets(struct insight *in, uint32_t max)
{
	uint32_t nb = 16;
	while (nb < max * 2)
		nb <<= 1;
	free(in->buckets);
	in->buckets = xmalloc(nb * sizeof(*in->buckets));
	for (uint32_t i = 0; i < nb; i++)
		in->buckets[i] = NONE;
	in->mask = nb - 1;
}

static void chain_add(struct insight *in, int32_t i)
{
	struct qstat *q = &in->e[i];
	q->hnext = in->buckets[q->key & in->mask];
	in->buckets[q->key & in->mask] = i;
}

/* A table of max slots for more entries than fit: the most recently used
 * move to it, in order, as many as fit; the rest are evicted. */
static void shrink(struct insight *in, uint32_t max)
{
	struct qstat *old = in->e;
	int32_t i = in->head;
	in->e = xcalloc(max, sizeof(*in->e));
	in->max = max;
	in->n = 0;
	in->head = in->tail = NONE;
	new_buckets(in, max);
	for (int32_t next; i != NONE; i = next) {
		next = old[i].next;
		if (in->n < max) {
			in->e[in->n++] = old[i]; /* its strings move with it */
		} else {
			qstat_release(&old[i]);
			in->evictions++;
		}
	}
	free(old);
	for (int32_t j = (int32_t)in->n - 1; j >= 0;
	     j--) { /* least recent first: the order stays */
		chain_add(in, j);
		lru_push(in, j);
	}
}

/*
 * Size the table for `max` entries (query_stats_max). Entries that fit keep
 * their slots (and clients' references to them stay good); a table too small
 * for them keeps the most recently used (shrink), whose references resolve
 * only where an entry kept its slot: elsewhere a client's next statement is
 * looked up again.
 */
static void ensure_table(struct insight *in, uint32_t max)
{
	if (in->max == max && in->e != NULL)
		return;
	if (max < in->n) {
		shrink(in, max);
		return;
	}
	in->e = xrealloc(in->e, max * sizeof(*in->e));
	memset(in->e + in->n, 0, (max - in->n) * sizeof(*in->e));
	in->max = max;
	new_buckets(in, max);
	for (uint32_t i = 0; i < in->n; i++)
		chain_add(in, (int32_t)i);
}

/* --- entries --- */

static bool same(const struct qstat *q, uint64_t key, uint64_t fp, const char *db, const char *user,
		 const char *app)
{
	return q->key == key && q->fp == fp && strcmp(q->db, db) == 0 &&
	       strcmp(q->user, user) == 0 && strcmp(q->app, app) == 0;
}

/* The entry of (db, user, app, fp), or NONE. */
static int32_t lookup(struct insight *in, uint64_t key, uint64_t fp, const char *db,
		      const char *user, const char *app)
{
	for (int32_t i = in->buckets[key & in->mask]; i != NONE; i = in->e[i].hnext)
		if (same(&in->e[i], key, fp, db, user, app))
			return i;
	return NONE;
}

/* A new entry (evicting the least recently used one when the table is full). */
static int32_t add(struct insight *in, uint64_t key, uint64_t fp, const char *db, const char *user,
		   const char *app, const char *text)
{
	int32_t i = in->n < in->max ? (int32_t)in->n++ : evict(in);
	struct qstat *q = &in->e[i];
	if (++in->next_serial == 0) /* 0 marks an empty slot */
		in->next_serial = 1;
	q->serial = in->next_serial;
	q->key = key;
	q->fp = fp;
	q->db = xstrdup(db);
	q->user = xstrdup(user);
	q->app = xstrdup(app);
	q->text = xstrdup(text);
	chain_add(in, i);
	lru_push(in, i);
	return i;
}

static struct qstat *deref(struct insight *in, struct ref r)
{
	if ((uint32_t)r.idx >= in->n) /* NONE too */
		return NULL;
	struct qstat *q = &in->e[r.idx];
	return q->serial == r.serial ? q : NULL; /* an emptied slot's serial is 0, never a ref's */
}

/* --- what clients do --- */

static struct insight_client *client_state(struct client *c)
{
	if (c->insight == NULL) {
		struct insight_client *ic = xcalloc(1, sizeof(*ic));
		ic->parsed.idx = ic->parse.idx = ic->cur.idx = ic->prev.st.idx = NONE;
		n1_run_init(&ic->run);
		c->insight = ic;
	}
	return c->insight;
}

void insight_client_free(struct insight_client *ic)
{
	if (ic != NULL) {
		param_value_drop(ic->app);
		free(ic->prev.text);
		free(ic->named);
	}
	free(ic);
}

/*
 * The cache key of a text: its shape (fingerprint_shape: texts that differ
 * only in constants share it, and their fingerprint), else a hash of all its
 * bytes; *params is the hash of its constants, or of all of it.
 */
#define SHAPE_LEN UINT32_MAX /* the cache's len of a shape key */

static uint64_t text_key(const char *text, uint32_t len, uint32_t *klen, uint64_t *params)
{
	uint64_t shape;
	if (fingerprint_shape(text, len, &shape, params)) {
		*klen = SHAPE_LEN;
		return shape;
	}
	*klen = len;
	*params = hash_bytes(text, len, HASH_SEED);
	return *params;
}

/* The fingerprint of a raw text: from the cache, or normalised now (text into buf,
 * *have_text); *shaped when its cache key is its shape. */
static uint64_t fingerprint_of(struct insight *in, const char *text, uint32_t len, char *buf,
			       size_t bufcap, bool *have_text, bool *shaped, uint64_t *params)
{
	uint32_t klen;
	uint64_t raw = text_key(text, len, &klen, params);
	*shaped = klen == SHAPE_LEN;
	size_t slot = raw & (TEXT_CACHE - 1);
	if (in->cache[slot].raw == raw && in->cache[slot].len == klen && in->cache[slot].fp) {
		*have_text = false;
		return in->cache[slot].fp;
	}
	struct fingerprint fp;
	fingerprint_sql(text, len, buf, bufcap, &fp);
	in->cache[slot].raw = raw;
	in->cache[slot].len = klen;
	in->cache[slot].fp = fp.id;
	*have_text = true;
	return fp.id;
}

/* The hash of the client's (database, user, application_name), kept while they stay;
 * the application_name is interned (params.c): its address is its value while held. */
static uint64_t client_key(struct insight_client *ic, const char *db, const char *user, char *app)
{
	if (ic->app != app || ic->base == 0) {
		param_value_drop(ic->app);
		ic->app = param_value_hold(app);
		ic->base = hash_str(app, hash_str(user, hash_str(db, HASH_SEED)));
	}
	return ic->base;
}

static struct ref statement(struct insight *in, const struct config *cfg, struct client *c,
			    const char *text, uint32_t len, bool *shaped, uint64_t *params)
{
	char buf[FINGERPRINT_TEXT_MAX];
	bool have_text;
	ensure_table(in, (uint32_t)cfg->query_stats_max);
	uint64_t fp = fingerprint_of(in, text, len, buf, sizeof(buf), &have_text, shaped, params);
	const char *db = c->dbname ? c->dbname : "", *user = c->user ? c->user : "";
	uint64_t key = client_key(c->insight, db, user, c->params.tracked[PARAM_APPLICATION_NAME]);
	const char *app = c->insight->app ? c->insight->app : "";
	key = (key ^ fp) * UINT64_C(0x9e3779b97f4a7c15);
	int32_t i = lookup(in, key, fp, db, user, app);
	if (i != NONE) {
		touch(in, i);
	} else {
		if (!have_text) { /* a known text of a statement evicted since: normalise again */
			struct fingerprint again;
			fingerprint_sql(text, len, buf, sizeof(buf), &again);
		}
		i = add(in, key, fp, db, user, app, buf);
	}
	return (struct ref){ i, in->e[i].serial };
}

static uint64_t name_hash(const char *name)
{
	return hash_str(name, HASH_SEED) | 1; /* never 0: 0 marks an empty slot */
}

/* Is the client's text before still what it was looked up as: its statement in
 * the table, and the table and application_name those it was looked up with? */
static bool prev_holds(struct insight *in, const struct config *cfg, const struct client *c,
		       const struct insight_client *ic)
{
	return ic->app == c->params.tracked[PARAM_APPLICATION_NAME] && /* prev.st NONE: no text */
	       in->max == (uint32_t)cfg->query_stats_max && deref(in, ic->prev.st) != NULL;
}

/*
 * The statement of the client's text before, when this text is it again
 * byte for byte or but for one number (*params then as statement() gives
 * them: the texts' numbers, hashed), and prev_holds.
 */
static bool repeated(struct insight *in, const struct config *cfg, struct client *c,
		     struct insight_client *ic, const char *text, uint32_t len, struct ref *r,
		     uint64_t *params)
{
	uint64_t lit;
	if (!prev_holds(in, cfg, c, ic))
		return false;
	switch (fingerprint_alike(ic->prev.text, ic->prev.len, text, len, &ic->prev.anchor, &lit)) {
	case FP_SAME_TEXT:
		*params = ic->prev.params;
		break;
	case FP_SAME_SHAPE:
		if (!ic->prev.shaped)
			return false;
		*params = lit;
		break;
	default:
		return false;
	}
	*r = ic->prev.st;
	touch(in, r->idx);
	return true;
}

/* Keep the text statement() just looked up, for repeated(). */
static void remember(struct insight_client *ic, const char *text, uint32_t len, bool shaped,
		     struct ref r, uint64_t params)
{
	if (len + FP_ALIKE_PAD > ic->prev.cap) {
		ic->prev.cap = len + FP_ALIKE_PAD > 64 ? len + FP_ALIKE_PAD : 64;
		ic->prev.text = xrealloc(ic->prev.text, ic->prev.cap);
	}
	memcpy(ic->prev.text, text, len);
	memset(ic->prev.text + len, 0, FP_ALIKE_PAD); /* fingerprint_alike's end mark */
	ic->prev.len = len;
	ic->prev.shaped = shaped;
	ic->prev.anchor = (struct fp_anchor){ 0 };
	ic->prev.st = r;
	ic->prev.params = params;
}

/* The slot of name hash h: its own, or the empty one where it would go. */
static struct named *named_find(struct insight_client *ic, uint64_t h)
{
	uint32_t mask = ic->named_cap - 1;
	for (uint32_t i = (uint32_t)h & mask;; i = (i + 1) & mask)
		if (ic->named[i].name == h || ic->named[i].name == 0)
			return &ic->named[i];
}

static bool named_full(const struct insight_client *ic)
{
	return ic->named_used + 1 > ic->named_cap / 4 * 3;
}

/* Statement name h is r now. When the table is at NAMED_MAX and full, the
 * statement in h's home slot is forgotten instead (its Binds go uncounted). */
static void named_put(struct insight_client *ic, uint64_t h, struct ref r)
{
	if (named_full(ic) && ic->named_cap < NAMED_MAX) {
		struct named *old = ic->named;
		uint32_t old_cap = ic->named_cap;
		ic->named_cap = old_cap ? old_cap * 2 : NAMED_FIRST;
		ic->named = xcalloc(ic->named_cap, sizeof(*ic->named));
		for (uint32_t i = 0; i < old_cap; i++)
			if (old[i].name != 0)
				*named_find(ic, old[i].name) = old[i];
		free(old);
	}
	struct named *n = named_find(ic, h);
	if (n->name == 0 && named_full(ic))
		n = &ic->named[h & (ic->named_cap - 1)];
	else if (n->name == 0)
		ic->named_used++;
	n->name = h;
	n->st = r;
}

/* Statement name h is closed: its slot is emptied, and the names after it that
 * would not be found past the hole move into it (linear probing's deletion). */
static void named_drop(struct insight_client *ic, uint64_t h)
{
	if (ic->named_cap == 0)
		return;
	uint32_t mask = ic->named_cap - 1;
	struct named *n = named_find(ic, h);
	if (n->name != h)
		return;
	uint32_t hole = (uint32_t)(n - ic->named);
	for (uint32_t j = (hole + 1) & mask; ic->named[j].name != 0; j = (j + 1) & mask) {
		uint32_t home = (uint32_t)ic->named[j].name & mask;
		if (((j - home) & mask) >= ((j - hole) & mask)) { /* home at or before the hole */
			ic->named[hole] = ic->named[j];
			hole = j;
		}
	}
	ic->named[hole] = (struct named){ 0 };
	ic->named_used--;
}

void insight_close(struct client *c, const char *name)
{
	struct insight_client *ic = c->insight;
	if (ic == NULL)
		return;
	if (name == NULL) {
		if (ic->named_cap > 0)
			memset(ic->named, 0, ic->named_cap * sizeof(*ic->named));
		ic->named_used = 0;
	} else if (name[0] != '\0') {
		named_drop(ic, name_hash(name));
	}
}

/* The statement named `name` (a Parse of it was seen), or NONE. */
static struct ref named_statement(struct insight_client *ic, const char *name)
{
	uint64_t h = name_hash(name);
	struct named *n = ic->named_cap ? named_find(ic, h) : NULL;
	return n && n->name == h ? n->st : (struct ref){ NONE, 0 };
}

/* The client's Parse prepares statement r. */
static void parse_is(struct insight_client *ic, const char *name, struct ref r)
{
	ic->parse = r;
	if (name == NULL || name[0] == '\0')
		ic->parsed = r;
	else
		named_put(ic, name_hash(name), r);
}

/* The client's text is statement r, its constants `params`: what its Query
 * executes, or what its Parse prepares. */
static inline void text_is(struct insight_client *ic, uint8_t type, const char *name, struct ref r,
			   uint64_t params)
{
	ic->again_params = params;
	if (type == 'Q') {
		ic->cur = r;
		ic->params = params; /* its constants are its parameters */
	} else {
		parse_is(ic, name, r);
	}
}

void insight_text(struct insight *in, const struct config *cfg, struct client *c, uint8_t type,
		  const char *name)
{
	if (cfg->query_stats_max <= 0) { /* none kept: nor charged */
		if (c->insight != NULL)
			text_is(c->insight, type, name, (struct ref){ NONE, 0 }, 0);
		return;
	}
	struct insight_client *ic = client_state(c);
	const char *text = c->last_query;
	uint32_t len = c->last_query_len;
	uint64_t params;
	struct ref r;
	if (!repeated(in, cfg, c, ic, text, len, &r, &params)) {
		bool shaped;
		r = statement(in, cfg, c, text, len, &shaped, &params);
		remember(ic, text, len, shaped, r, params);
	}
	ic->again = c->last_query_gen; /* c->last_query is prev.text, or alike it */
	text_is(ic, type, name, r, params);
}

bool insight_text_again(struct insight *in, const struct config *cfg, struct client *c,
			uint8_t type, const char *name, const char *text, uint32_t avail)
{
	struct insight_client *ic = c->insight;
	uint64_t lit;
	if (ic == NULL || ic->again != c->last_query_gen ||
	    (ic->prev.anchor.at != 0 && !ic->prev.shaped) || !prev_holds(in, cfg, c, ic))
		return false;
	size_t len = fingerprint_again(c->last_query, c->last_query_len, c->last_query_cap, text,
				       avail, &ic->prev.anchor, &lit);
	if (len == 0)
		return false;
	c->last_query_len = (uint32_t)len;
	touch(in, ic->prev.st.idx);
	uint64_t params = ic->again_params; /* the text before again */
	if (ic->prev.anchor.at != 0)        /* as repeated() gives them: prev.text's own again? */
		params = lit == ic->prev.anchor.literal && len == ic->prev.len ? ic->prev.params
									       : lit;
	text_is(ic, type, name, ic->prev.st, params);
	return true;
}

void insight_bind(struct client *c, const char *name, const void *params, uint32_t len)
{
	struct insight_client *ic = c->insight;
	if (ic == NULL)
		return;
	ic->params = util_hash64(HASH_SEED, params, len);
	if (name[0] == '\0') {
		ic->cur = ic->parsed;
		return;
	}
	ic->cur = named_statement(ic, name);
}

/* --- N+1 loops (nplusone.c) --- */

/* The client's run of q is a loop: it just became one (N1_FOUND) or goes on. */
UTIL_COLD static void loop_seen(struct insight *in, struct client *c, struct insight_client *ic,
				const struct qstat *q, enum n1_verdict v)
{
	if (v == N1_GOES_ON) {
		n1_goes_on(in->loops, &ic->run);
		return;
	}
	const char *parent_text = "";
	for (uint32_t i = 0; i < in->n; i++) /* the text before, while it is in the table */
		if (in->e[i].fp == ic->run.prev_fp && in->e[i].text) {
			parent_text = in->e[i].text;
			break;
		}
	struct n1_statement st = { q->fp, q->db, q->user, q->app, q->text };
	n1_found(in->loops, c, &ic->run, &st, parent_text);
}

/* The N+1 detector, at each execution of q. */
static void detect_loop(struct insight *in, const struct config *cfg, struct client *c,
			struct insight_client *ic, const struct qstat *q, bool in_tx)
{
	enum n1_verdict v = n1_step(&ic->run, cfg, q->fp, ic->params, in_tx, util_now());
	if (v != N1_NOTHING)
		loop_seen(in, c, ic, q, v);
}

/* A statement's reference, in the 64 bits a relay expectation keeps for it. */
static uint64_t ref_pack(struct ref r)
{
	return (uint64_t)(uint32_t)r.idx << 32 | r.serial;
}

static struct ref ref_unpack(uint64_t v)
{
	return (struct ref){ (int32_t)(uint32_t)(v >> 32), (uint32_t)v };
}

void insight_sent(struct insight *in, const struct config *cfg, struct client *c,
		  struct relay_expect *x, bool in_tx)
{
	struct insight_client *ic = c->insight;
	usec_t waited = c->waited;
	c->waited = 0;
	if (x != NULL) {
		x->op = RELAY_OP_INSIGHT;
		x->stmt = ref_pack(ic->cur);
		x->sent = util_now();
	}
	struct qstat *q = deref(in, ic->cur);
	if (q == NULL)
		return;
	q->wait += waited;
	detect_loop(in, cfg, c, ic, q, in_tx);
}

void insight_parse_sent(struct client *c, struct relay_expect *x)
{
	x->op = RELAY_OP_INSIGHT;
	x->stmt = ref_pack(c->insight->parse);
	x->sent = util_now();
}

void insight_complete_d(struct client *c, const char *tag, uint32_t len)
{
#define TAG_EQ(word) (len == sizeof(word) && memcmp(tag, word, sizeof(word)) == 0)
	if (TAG_EQ("DEALLOCATE ALL") || TAG_EQ("DISCARD ALL"))
		insight_close(c, NULL);
#undef TAG_EQ
}

/* The class of a SQLSTATE ("22" of "22012"; "??" when it is unknown) into cls. */
static void error_class(const char *sqlstate, char cls[3])
{
	cls[0] = sqlstate[0] ? sqlstate[0] : '?';
	cls[1] = sqlstate[0] ? sqlstate[1] : '?';
	cls[2] = '\0';
}

void insight_error(struct client *c, const struct relay_expect *x, const char *sqlstate)
{
	struct insight_client *ic = c->insight;
	if (ic == NULL || x == NULL || (x->req != RQ_QUERY && x->op == RELAY_OP_INSIGHT))
		return; /* an Execute's or Parse's own error comes with its settling */
	error_class(sqlstate, ic->err);
	ic->err_for = x->req == RQ_QUERY ? 'Q' : 'X';
}

/* One more error of class cls for q. */
UTIL_COLD static void count_error(struct qstat *q, const char *cls)
{
	q->errors++;
	for (int i = 0; i < ERR_CLASSES; i++) {
		if (q->err[i].n == 0)
			memcpy(q->err[i].cls, cls, 3);
		if (memcmp(q->err[i].cls, cls, 3) == 0) {
			q->err[i].n++;
			return;
		}
	}
}

/* Which error x's statement had, into cls ("" none): its own (an Execute's), its
 * Query's, or its Bind's when the server skipped it for that. */
UTIL_COLD static void error_of(struct insight_client *ic, const struct relay_expect *x, bool ok,
			       const char *sqlstate, char cls[3])
{
	/* the pending error a statement answered so would own */
	char owner = !ok && sqlstate == NULL ? 'X' : x->req == RQ_QUERY ? 'Q' : 0;
	cls[0] = '\0';
	if (!ok && sqlstate != NULL)
		error_class(sqlstate, cls);
	else if (owner != 0 && ic->err_for == owner)
		memcpy(cls, ic->err, 3);
	ic->err_for = 0; /* used, or nobody's: once anything is answered it is stale */
}

/* The query_log_min_duration line: never a literal or a parameter. */
UTIL_COLD static void log_slow(struct client *c, const struct qstat *q, usec_t exec, uint64_t rows)
{
	client_log(c, LOG_INFO, "slow_query",
		   "duration: %.3f ms, queryid %016" PRIx64 ", rows %" PRIu64 ": %s",
		   (double)exec / 1000.0, q->fp, rows, q->text);
}

/* One call of statement st, sent at `sent`, with the rows of its reply: the
 * call, rows, time, histogram, slow-statement log. Its error, if any, is
 * counted before (count_error). No call on the way but the last, so that it
 * needs no saved registers. */
static inline void charge(struct insight *in, const struct config *cfg, struct client *c,
			  struct insight_client *ic, struct ref st, usec_t sent, uint64_t rows)
{
	struct qstat *q = deref(in, st);
	usec_t now = util_now();
	/* in a pipeline it ran once the one before it was answered */
	usec_t exec = now - (sent > ic->answered ? sent : ic->answered);
	ic->answered = now;
	if (q == NULL)
		return;
	q->calls++;
	q->rows += rows;
	q->total += exec;
	if (exec > q->max)
		q->max = q->hist.max = exec;
	q->hist.buckets[stats_wait_bucket(exec)]++;
	q->hist.count++;
	if (cfg->query_log_min_duration >= 0 && exec >= cfg->query_log_min_duration * 1000)
		log_slow(c, q, exec, rows);
}

/* A call of st whose error is of class cls ("" none): counted, then charged. */
static void charge_failed(struct insight *in, const struct config *cfg, struct client *c,
			  struct insight_client *ic, struct ref st, usec_t sent, uint64_t rows,
			  const char *cls)
{
	struct qstat *q = deref(in, st);
	if (q != NULL && cls[0] != '\0')
		count_error(q, cls);
	charge(in, cfg, c, ic, st, sent, rows);
}

/* insight_settle when the answer failed or an error waits: whose error it is. */
UTIL_COLD static void settle_failed(struct insight *in, const struct config *cfg, struct client *c,
				    struct insight_client *ic, const struct relay_expect *x,
				    bool ok, const char *sqlstate, uint64_t rows)
{
	char cls[3];
	error_of(ic, x, ok, sqlstate, cls);
	if (!ok && sqlstate == NULL && cls[0] == '\0')
		return; /* skipped after an earlier statement's error: never run */
	charge_failed(in, cfg, c, ic, ref_unpack(x->stmt), x->sent, rows, cls);
}

void insight_settle(struct insight *in, const struct config *cfg, struct client *c,
		    const struct relay_expect *x, bool ok, const char *sqlstate, uint64_t rows)
{
	struct insight_client *ic = c ? c->insight : NULL;
	if (ic == NULL || (x->req == RQ_PARSE && (ok || sqlstate == NULL)))
		return; /* a Parse is a call only when it fails on its own */
	if (!ok || ic->err_for != 0)
		settle_failed(in, cfg, c, ic, x, ok, sqlstate, rows);
	else
		charge(in, cfg, c, ic, ref_unpack(x->stmt), x->sent, rows);
}

void insight_parse_failed(struct insight *in, const struct config *cfg, struct client *c,
			  const char *name, const char *sqlstate)
{
	struct insight_client *ic = c->insight;
	struct ref st = ic != NULL ? named_statement(ic, name) : (struct ref){ NONE, 0 };
	if (st.idx == NONE)
		return;
	char cls[3];
	error_class(sqlstate, cls);
	ic->err_for = 0; /* charged here, not to the Execute the server skips for it */
	/* prepared.c's expectation has no send time: its exchange's start stands in */
	charge_failed(in, cfg, c, ic, st, c->query_start, 0, cls);
}

void insight_done(struct client *c)
{
	struct insight_client *ic = c->insight;
	if (ic != NULL)
		ic->err_for = 0; /* an error no statement of the exchange owned */
}

/* --- what the table holds, for SHOW QUERIES, SHOW N_PLUS_ONE and /metrics --- */

static int by_total(const void *a, const void *b)
{
	const struct qstat *x = *(const struct qstat *const *)a,
			   *y = *(const struct qstat *const *)b;
	return x->total < y->total ? 1 : x->total > y->total ? -1 : 0;
}

/* The statements with text, largest total time first (a malloc'd array of *n). */
static const struct qstat **by_total_time(struct insight *in, const char *db, uint32_t *n)
{
	const struct qstat **list = xmalloc((in->n ? in->n : 1) * sizeof(*list));
	*n = 0;
	for (uint32_t i = 0; i < in->n; i++)
		if (in->e[i].text && (db == NULL || strcmp(in->e[i].db, db) == 0))
			list[(*n)++] = &in->e[i];
	qsort(list, *n, sizeof(*list), by_total);
	return list;
}

/* q as a row: its error classes as "22:3,42:1". */
static void row_of(const struct qstat *q, struct insight_row *r)
{
	*r = (struct insight_row){
		.db = q->db,
		.user = q->user,
		.app = q->app,
		.text = q->text,
		.queryid = q->fp,
		.calls = q->calls,
		.rows = q->rows,
		.errors = q->errors,
		.total = q->total,
		.wait = q->wait,
		.max = q->max,
		.mean = q->hist.count ? q->total / (usec_t)q->hist.count : 0,
		.p50 = stats_wait_percentile(&q->hist, 0.5),
		.p99 = stats_wait_percentile(&q->hist, 0.99),
	};
	size_t off = 0;
	for (int i = 0; i < ERR_CLASSES && q->err[i].n; i++)
		off += (size_t)snprintf(r->error_classes + off, sizeof(r->error_classes) - off,
					"%s%s:%u", i ? "," : "", q->err[i].cls, q->err[i].n);
}

void insight_foreach_top(struct insight *in, const char *db, int top,
			 void (*fn)(const struct insight_row *row, void *arg), void *arg)
{
	uint32_t n;
	const struct qstat **list = by_total_time(in, db, &n);
	for (uint32_t i = 0; i < n && (top < 0 || (int)i < top); i++) {
		struct insight_row r;
		row_of(list[i], &r);
		fn(&r, arg);
	}
	free(list);
}

void insight_foreach_loop(struct insight *in, void (*fn)(const struct insight_loop *l, void *arg),
			  void *arg)
{
	n1_foreach(in->loops, fn, arg);
}

uint32_t insight_count(const struct insight *in)
{
	return in->n;
}

uint64_t insight_evictions(const struct insight *in)
{
	return in->evictions;
}
