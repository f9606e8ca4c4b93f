/*
 * relay: framing and attribution of the messages between a client and its
 * server. The client side notes, for each request it frames, the reply it
 * expects; the server side matches each reply with the oldest expectation
 * and forwards, swallows or replaces it. sluice's own answers wait in the
 * queue for their turn, so they reach the client exactly where PostgreSQL's
 * own answer would have been.
 */
#include "sluice/relay.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice/util.h"

/* Largest server message sluice reads whole while relaying (ReadyForQuery,
 * ParameterStatus, an ErrorResponse, a reply it swallows). */
#define RELAY_MAX_INSPECTED (1024 * 1024)

/* --- the queue of expected replies --- */

/* Parse, Bind, Describe, Execute, Close: after an error the server skips to the Sync. */
static bool extended(uint8_t req)
{
	return req >= RQ_PARSE && req <= RQ_CLOSE;
}

static void q_grow(struct relay_queue *q)
{
	uint32_t cap = q->cap ? q->cap * 2 : 16; /* a power of two: indexes wrap with a mask */
	struct relay_expect *e = xmalloc(cap * sizeof(*e));
	for (uint32_t i = 0; i < q->len; i++)
		e[i] = q->e[(q->head + i) & (q->cap - 1)];
	free(q->e);
	q->e = e;
	q->cap = cap;
	q->head = 0;
}

/* Expectations answered by a ReadyForQuery: 1 for Sync, Query, FunctionCall. */
static const uint8_t ends_in_ready[RQ_REPLY + 1] = {
	[RQ_SYNC] = 1,
	[RQ_QUERY] = 1,
	[RQ_FUNCTION] = 1,
};

/* Queue an expectation; only req, flags, op and bytes are set (ref, ref2 and
 * len are the owner's, meaningful with an op or bytes). Hot: once per request. */
static inline struct relay_expect *q_push(struct relay_queue *q, uint8_t req, uint8_t flags)
{
	if (q->len == q->cap)
		q_grow(q);
	struct relay_expect *x = &q->e[(q->head + q->len) & (q->cap - 1)];
	q->len++;
	x->req = req;
	x->flags = flags;
	x->op = 0;
	x->bytes = NULL;
	q->n_ready += ends_in_ready[req];
	return x;
}

static inline struct relay_expect *q_head(const struct relay_queue *q)
{
	return q->len ? &q->e[q->head] : NULL;
}

static inline void q_pop(struct relay_queue *q)
{
	struct relay_expect *x = &q->e[q->head];
	q->n_ready -= ends_in_ready[x->req];
	if (x->req == RQ_REPLY) { /* sluice's own answer */
		q->n_replies--;
		q->n_ready -= (x->flags & RX_READY) != 0;
	}
	if (x->bytes)
		free(x->bytes);
	q->head = (q->head + 1) & (q->cap - 1);
	q->len--;
}

/* Pop the head, telling its owner how it ended when it carries an op. */
static inline void pop(struct relay *r, const struct relay_hooks *h, void *arg, bool ok,
		       const char *sqlstate)
{
	struct relay_expect *x = &r->q.e[r->q.head];
	if (x->op && h && h->settle)
		h->settle(arg, x, ok, sqlstate);
	r->rows = 0;
	q_pop(&r->q);
}

void relay_reset_queue(struct relay *r, const struct relay_hooks *h, void *arg)
{
	while (r->q.len)
		pop(r, h, arg, false, NULL); /* (each also zeroes rows) */
	r->q.head = 0;
}

void relay_free(struct relay *r, const struct relay_hooks *h, void *arg)
{
	relay_reset_queue(r, h, arg);
	free(r->q.e);
	r->q.e = NULL;
	r->q.cap = 0;
}

/* --- moving bytes --- */

void relay_stage(struct conn *src, struct conn *dst)
{
	struct iobuf *b = src->in;
	if (b == NULL || b->scan == b->start)
		return;
	pkt_put_bytes(conn_out_buf(dst), b->data + b->start, b->scan - b->start);
	b->start = b->scan;
}

/* Drop the whole message at scan (staging what was framed before it). */
static void skip_message(struct conn *src, struct conn *dst, uint32_t total)
{
	relay_stage(src, dst);
	src->in->scan += total;
	src->in->start = src->in->scan;
}

static void append(struct conn *dst, const uint8_t *data, uint32_t len)
{
	pkt_put_bytes(conn_out_buf(dst), data, len);
}

bool relay_client_at_boundary(struct conn *server, struct conn *client)
{
	if (server->pkt_remain > 0)
		return false;
	relay_stage(server, client);
	return true;
}

/* --- client to server --- */

const uint8_t relay_fe_req[256] = {
	['P'] = RQ_PARSE, ['B'] = RQ_BIND, ['D'] = RQ_DESCRIBE, ['E'] = RQ_EXECUTE,
	['C'] = RQ_CLOSE, ['S'] = RQ_SYNC, ['Q'] = RQ_QUERY,    ['F'] = RQ_FUNCTION,
};

/*
 * Note the reply `type` (a frontend message type) will get. Returns the
 * expectation queued, valid until the next push, or NULL when none was
 * (no reply will come).
 */
static struct relay_expect *expect_for(struct relay *r, uint8_t type, uint8_t flags)
{
	uint8_t req = relay_fe_req[type];
	if (type == 'S') {
		r->unsynced = false;
		r->skipping = false;
		return q_push(&r->q, RQ_SYNC, flags);
	}
	if (r->skipping)
		return NULL; /* the server ignores it until the Sync: no reply will come */
	if (req == RQ_QUERY) {
		r->unsynced = false; /* a Query answers for everything before it */
		return q_push(&r->q, req, flags);
	}
	if (req == RQ_FUNCTION)
		return q_push(&r->q, req, flags);
	if (req != 0 || type == 'H') {
		r->unsynced = true; /* open until a Sync */
		return req != 0 ? q_push(&r->q, req, flags) : NULL;
	}
	return NULL; /* CopyData, CopyDone, CopyFail: part of a request already counted */
}

void relay_note_request(struct relay *r, uint8_t type)
{
	(void)expect_for(r, type, 0);
}

struct relay_expect *relay_inject(struct relay *r, struct conn *client, struct conn *server,
				  const uint8_t *msg, uint32_t len, uint8_t flags)
{
	if (client)
		relay_stage(client, server);
	append(server, msg, len);
	return expect_for(r, msg[0], flags);
}

struct relay_expect *relay_client_replace(struct relay *r, struct conn *client, struct conn *server,
					  const struct proto_msg *m, uint32_t consumed,
					  const uint8_t *msg, uint32_t len, uint8_t flags)
{
	struct iobuf *b = client->in;
	struct relay_expect *x = relay_inject(r, client, server, msg, len, flags);
	b->scan += consumed;
	b->start = b->scan;
	if (consumed < m->total)
		iobuf_pass_message(b, m->total - consumed, &client->pkt_remain);
	return x;
}

void relay_client_skip(struct conn *client, struct conn *server, const struct proto_msg *m)
{
	skip_message(client, server, m->total);
}

/* --- server to client --- */

/* What a server message is, given the reply expected next. */
enum reply_fate {
	F_BAD = 0, /* nothing expected it */
	F_PART,    /* part of the expected reply, more to come */
	F_LAST,    /* completes the expected reply */
	F_ASYNC,   /* not a reply: a notice or a notification */
	F_PARAM,   /* not a reply: ParameterStatus (read whole) */
	F_READY,   /* ReadyForQuery (read whole) */
	F_ERROR,   /* ErrorResponse (read whole) */
};

/* fate[req][type], req 0 when nothing is expected. */
#define NOT_REPLIES ['N'] = F_ASYNC, ['A'] = F_ASYNC, ['S'] = F_PARAM, ['E'] = F_ERROR
#define COPY_PARTS  ['G'] = F_PART, ['H'] = F_PART, ['W'] = F_PART, ['d'] = F_PART, ['c'] = F_PART
static const uint8_t fate[RQ_REPLY + 1][256] = {
	[0] = { NOT_REPLIES },
	[RQ_PARSE] = { NOT_REPLIES, ['1'] = F_LAST },
	[RQ_BIND] = { NOT_REPLIES, ['2'] = F_LAST },
	[RQ_DESCRIBE] = { NOT_REPLIES, ['t'] = F_PART, ['T'] = F_LAST, ['n'] = F_LAST },
	[RQ_EXECUTE] = { NOT_REPLIES, COPY_PARTS, ['D'] = F_PART, ['C'] = F_LAST, ['I'] = F_LAST,
			 ['s'] = F_LAST },
	[RQ_CLOSE] = { NOT_REPLIES, ['3'] = F_LAST },
	[RQ_SYNC] = { NOT_REPLIES, ['Z'] = F_READY },
	[RQ_QUERY] = { NOT_REPLIES, COPY_PARTS, ['Z'] = F_READY, ['T'] = F_PART, ['D'] = F_PART,
		       ['C'] = F_PART, ['I'] = F_PART },
	[RQ_FUNCTION] = { NOT_REPLIES, ['V'] = F_PART, ['Z'] = F_READY },
	[RQ_REPLY] = { NOT_REPLIES }, /* never consulted: answered before the next message */
};

/* The ReadyForQuery sluice sends when it answers a Query itself. */
static void own_ready(struct relay *r, struct conn *dst)
{
	uint8_t z[6] = { 'Z', 0, 0, 0, 5, (uint8_t)r->tx_status };
	append(dst, z, sizeof(z));
	r->ready_seen |= RELAY_READY | (r->tx_status == 'I' ? RELAY_READY_IDLE : 0);
}

/*
 * sluice's own answers at the head of the queue go to the client now, in
 * turn. An answer to a Query in a failed transaction is PostgreSQL's 25P02
 * instead, and its owner hears that it failed.
 */
static void answer_due(struct relay *r, struct conn *src, struct conn *dst,
		       const struct relay_hooks *h, void *arg)
{
	struct relay_expect *x;
	while ((x = q_head(&r->q)) != NULL && x->req == RQ_REPLY) {
		relay_stage(src, dst);
		bool ready = x->flags & RX_READY;
		bool refused = ready && r->tx_status == 'E';
		if (refused) {
			struct pktbuf *out = conn_out_buf(dst);
			proto_build_error(out, "ERROR", "25P02",
					  "current transaction is aborted, commands ignored until "
					  "end of transaction block");
		} else {
			append(dst, x->bytes, x->len);
		}
		pop(r, h, arg, !refused, refused ? "25P02" : NULL);
		if (ready)
			own_ready(r, dst);
	}
}

/* After an extended-protocol error the server skips to the next Sync: so do we. */
static void skip_to_sync(struct relay *r, const struct relay_hooks *h, void *arg)
{
	struct relay_expect *x;
	while ((x = q_head(&r->q)) != NULL && x->req != RQ_SYNC)
		pop(r, h, arg, false, NULL);
	if (x == NULL) {
		r->skipping = true;
		r->unsynced = true;
	}
}

/* An ErrorResponse (whole when `whole`): forwarded or replaced, then attributed. */
static void on_error(struct relay *r, struct conn *src, struct conn *dst,
		     const struct relay_hooks *h, void *arg, const struct proto_msg *m,
		     const uint8_t *body, bool whole)
{
	struct relay_expect *x = q_head(&r->q);
	struct proto_error_fields f = { 0 };
	char sqlstate[6] = "";
	if (whole && proto_parse_error(body, m->len, &f)) {
		if (f.sqlstate)
			snprintf(sqlstate, sizeof(sqlstate), "%s", f.sqlstate);
		if (f.severity &&
		    (strcmp(f.severity, "FATAL") == 0 || strcmp(f.severity, "PANIC") == 0)) {
			r->fatal = true;
			snprintf(r->fatal_sqlstate, sizeof(r->fatal_sqlstate), "%s",
				 sqlstate[0] ? sqlstate : "?");
		}
	}
	if (h->error)
		h->error(arg, x, sqlstate);
	if (x != NULL && (x->flags & RX_ERROR) && whole) {
		skip_message(src, dst, m->total);
		append(dst, x->bytes, x->len);
	} else {
		iobuf_pass_message(src->in, m->total, &src->pkt_remain);
	}
	if (x != NULL && extended(x->req)) {
		pop(r, h, arg, false, sqlstate);
		skip_to_sync(r, h, arg);
	}
}

/* A message that is not a plain part of a reply (read whole): act on it. */
static void special_message(struct relay *r, struct conn *src, struct conn *dst,
			    const struct relay_hooks *h, void *arg, uint8_t f,
			    const struct proto_msg *m, bool whole)
{
	struct iobuf *b = src->in;
	const uint8_t *body = b->data + b->scan + PROTO_HEADER_LEN;
	switch (f) {
	case F_PARAM:
		if (h->param)
			h->param(arg, body, m->len);
		iobuf_pass_message(b, m->total, &src->pkt_remain);
		return;
	case F_READY:
		r->tx_status = m->len >= 1 ? (char)body[0] : 'I';
		iobuf_pass_message(b, m->total, &src->pkt_remain);
		pop(r, h, arg, true, NULL);
		r->ready_seen |= RELAY_READY | (r->tx_status == 'I' ? RELAY_READY_IDLE : 0);
		return;
	default: /* F_ERROR */
		on_error(r, src, dst, h, arg, m, body, whole);
		return;
	}
}

/* A CommandComplete: count its rows, and tell the owner a tag that begins with
 * 'D'. False when it is not whole in the buffer yet (room has been made). */
static bool complete_tag(struct relay *r, struct conn *src, const struct relay_hooks *h, void *arg,
			 const struct proto_msg *m)
{
	struct iobuf *b = src->in;
	if (m->len > RELAY_MAX_INSPECTED || m->len == 0)
		return true; /* not a tag PostgreSQL sends */
	if (iobuf_unscanned(b) < m->total) {
		iobuf_reserve_message(b, m->total);
		return false;
	}
	const char *tag = (const char *)b->data + b->scan + PROTO_HEADER_LEN;
	if (h->rows)
		r->rows += proto_tag_rows(tag, m->len);
	if (tag[0] == 'D' && h->complete)
		h->complete(arg, tag, m->len);
	return true;
}

/*
 * The loop every server message of a linked server goes through. The common
 * case (a row or a completion of the expected reply) costs a frame, a table
 * look-up and a pass; the rest is read whole and handled in special_message.
 */
enum relay_result relay_server_input(struct relay *r, struct conn *src, struct conn *dst,
				     const struct relay_hooks *h, void *arg)
{
	struct iobuf *b = src->in;
	if (b == NULL)
		goto done;
	struct relay_expect *x = q_head(&r->q);
	const uint8_t *row = fate[x ? x->req : 0]; /* what each message type is, now */
	for (;;) {
		if (src->pkt_remain > 0) {
			iobuf_pass_remaining(b, &src->pkt_remain);
			if (src->pkt_remain > 0)
				break;
			if (r->q.n_replies)
				answer_due(r, src, dst, h, arg);
			x = q_head(&r->q);
			row = fate[x ? x->req : 0];
		}
		struct proto_msg m;
		enum proto_frame_result fr =
			proto_frame(b->data + b->scan, iobuf_unscanned(b), 0x7fffffff, &m);
		if (fr != PROTO_FRAME_OK) {
			if (fr == PROTO_FRAME_BAD_LENGTH)
				return RELAY_VIOLATION;
			break;
		}
		uint8_t f = row[m.type];
		if (f == F_PART || f == F_LAST) { /* the common case: rows, completions */
			if (m.type == 'C' && (h->complete || h->rows) &&
			    !complete_tag(r, src, h, arg, &m))
				break; /* wait for the whole CommandComplete */
			if (!(x->flags & RX_SWALLOW)) {
				iobuf_pass_message(b, m.total, &src->pkt_remain);
			} else if (iobuf_unscanned(b) >= m.total) {
				skip_message(src, dst, m.total);
			} else {
				if (m.len > RELAY_MAX_INSPECTED)
					return RELAY_VIOLATION; /* no reply to sluice's requests is that big */
				iobuf_reserve_message(b, m.total);
				break;
			}
			if (f == F_PART)
				continue;
			pop(r, h, arg, true, NULL);
		} else if (f == F_ASYNC) {
			iobuf_pass_message(b, m.total, &src->pkt_remain);
			continue;
		} else if (f == F_BAD) {
			return RELAY_VIOLATION;
		} else {
			bool whole = true;
			if (m.len > RELAY_MAX_INSPECTED) {
				if (f != F_ERROR)
					return RELAY_VIOLATION; /* not something PostgreSQL sends */
				whole = false; /* a huge error text: streamed, not read */
			} else if (iobuf_unscanned(b) < m.total) {
				iobuf_reserve_message(b, m.total);
				break;
			}
			special_message(r, src, dst, h, arg, f, &m, whole);
			if (r->fatal)
				break;
		}
		/* the expected reply changed: sluice's own answers due now go out */
		if (r->q.n_replies && src->pkt_remain == 0)
			answer_due(r, src, dst, h, arg);
		x = q_head(&r->q);
		row = fate[x ? x->req : 0];
	}
done:
	if (src->pkt_remain == 0 && !r->fatal && r->q.n_replies)
		answer_due(r, src, dst, h, arg);
	return RELAY_OK;
}

struct relay_expect *relay_reply(struct relay *r, const uint8_t *reply, uint32_t len, uint8_t flags)
{
	if (r->skipping)
		return NULL; /* the server would have ignored the request: no answer */
	struct relay_expect *x = q_push(&r->q, RQ_REPLY, flags & RX_READY);
	r->q.n_replies++;
	r->q.n_ready += (flags & RX_READY) != 0;
	x->bytes = xmalloc(len);
	memcpy(x->bytes, reply, len);
	x->len = len;
	return x;
}
