/*
 * relay: the bytes between a client and the server linked to it. Frames the
 * messages of both directions and passes each on: forwarded in place (the
 * common case: it leaves in the same send as its neighbours), or with
 * sluice's own messages injected before it, its reply swallowed, or a reply
 * of sluice's own given instead. For every request sent to a server it
 * queues the reply it expects, so that every reply is attributed and a
 * server is handed on only when everything sent on it has been answered.
 *
 * Bytes for a peer leave in order: first the peer's out queue (sluice's own
 * messages, and bytes moved there when something had to be inserted), then
 * the source's framed range [start, scan) sent straight from its buffer.
 * Nothing here touches a socket except relay_flush.
 */
#ifndef SLUICE_RELAY_H
#define SLUICE_RELAY_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/conn.h"
#include "sluice/proto.h"

/* What a request sent to a server is answered with. The order matters: Parse
 * to Close are the extended-protocol requests (see relay_client_message). */
enum relay_req {
	RQ_PARSE = 1, /* ParseComplete */
	RQ_BIND,      /* BindComplete */
	RQ_DESCRIBE,  /* [ParameterDescription] then RowDescription or NoData */
	RQ_EXECUTE,   /* rows or COPY, then CommandComplete, EmptyQuery or PortalSuspended */
	RQ_CLOSE,     /* CloseComplete */
	RQ_SYNC,      /* ReadyForQuery */
	RQ_QUERY,     /* anything, then ReadyForQuery */
	RQ_FUNCTION,  /* FunctionCallResponse, then ReadyForQuery */
	RQ_REPLY,     /* nothing from the server: sluice answers the client itself here */
};

/* Flags of an expected reply. */
#define RX_SWALLOW 0x01 /* sluice's own request: its success reply is not the client's */
#define RX_ERROR   0x02 /* the server's ErrorResponse is replaced by `bytes` */
#define RX_READY   0x04 /* RQ_REPLY: a ReadyForQuery follows `bytes` (sluice answers a Query) */

/* One expected reply, in the order the requests were sent. */
struct relay_expect {
	uint8_t req;    /* enum relay_req */
	uint8_t flags;  /* RX_* */
	uint8_t op;     /* the owner's note: settled through relay_hooks.settle */
	uint32_t len;   /* of bytes */
	uint8_t *bytes; /* RQ_REPLY: the answer; RX_ERROR: the replacement error (owned) */
	union {         /* what the owner of `op` keeps (one owner per op) */
		struct {
			void *ref; /* prepared.c's references */
			void *ref2;
		};
		struct {
			uint64_t stmt; /* RELAY_OP_INSIGHT: the statement and when it was sent */
			int64_t sent;
		};
	};
};

/* The op of an Execute or Query whose statement query insight charges when it
 * is answered; prepared.c's ops are below it. */
#define RELAY_OP_INSIGHT 0x80

/* The replies a server still owes, oldest first (a ring that grows). */
struct relay_queue {
	struct relay_expect *e;
	uint32_t cap;
	uint32_t head;
	uint32_t len;
	uint32_t n_ready;   /* entries answered by ReadyForQuery (Sync, Query, FunctionCall) */
	uint32_t n_replies; /* RQ_REPLY entries: sluice's own answers waiting for their turn */
};

/* The exchange between one server and the client linked to it. */
struct relay {
	struct relay_queue q;
	bool unsynced; /* extended-protocol messages sent since the last Sync or Query */
	bool skipping; /* after an extended-protocol error the server ignores all until Sync */
	bool fatal;    /* the server sent a FATAL (or PANIC) error: the session ends */
	char fatal_sqlstate[6];
	char tx_status;     /* status of the last ReadyForQuery: 'I', 'T' or 'E' */
	uint8_t ready_seen; /* RELAY_READY* bits since the owner last cleared them */
	/* with relay_hooks.rows: the rows of the CommandCompletes passed on since
	 * an expectation was last settled (what settle may read; 0 after it) */
	uint64_t rows;
};

/* ReadyForQuery passed on since the owner cleared ready_seen (whether another
 * is still expected: relay_pending_ready): */
#define RELAY_READY      0x01 /* at least one */
#define RELAY_READY_IDLE 0x04 /* one saying 'I' (no transaction open) */

/* Called for the few server messages sluice acts on while relaying. Any may be NULL. */
struct relay_hooks {
	/* a ParameterStatus was passed on */
	void (*param)(void *arg, const uint8_t *body, uint32_t len);
	/* a CommandComplete whose tag begins with 'D' (DEALLOCATE, DISCARD: what
	 * closes prepared statements) was passed on (tag not NUL-terminated within len) */
	void (*complete)(void *arg, const char *tag, uint32_t len);
	/*
	 * An expectation with an `op` is done: ok when its reply came, else failed
	 * with `sqlstate`, or (sqlstate NULL) dropped unanswered: skipped by the
	 * server after an earlier error, or forgotten because the exchange ended.
	 */
	void (*settle)(void *arg, struct relay_expect *x, bool ok, const char *sqlstate);
	/* an ErrorResponse was passed on, in reply to x (the oldest expectation, NULL when
	 * none; settled after this); sqlstate "" when it was too big to read */
	void (*error)(void *arg, const struct relay_expect *x, const char *sqlstate);
	bool rows; /* count the rows CommandCompletes report (relay.rows) */
};

/* Outcome of relaying what a server sent. */
enum relay_result {
	RELAY_OK = 0,    /* everything whole has been staged for the client */
	RELAY_VIOLATION, /* a reply nothing was expected for, or a bad length: close the server */
};

/* Forget everything queued (each expectation with an op settled as dropped). */
void relay_reset_queue(struct relay *r, const struct relay_hooks *h, void *arg);

/* A fresh exchange (on link): forgets what is queued. The status of the last
 * ReadyForQuery stays (it is the server's). */
static inline void relay_reset(struct relay *r, const struct relay_hooks *h, void *arg)
{
	if (r->q.len)
		relay_reset_queue(r, h, arg);
	r->unsynced = false;
	r->skipping = false;
	r->ready_seen = 0;
}
/* Free everything (the server is going away). */
void relay_free(struct relay *r, const struct relay_hooks *h, void *arg);

/* Nothing sent is unanswered and no extended-protocol exchange is open. */
static inline bool relay_idle(const struct relay *r)
{
	return r->q.len == 0 && !r->unsynced;
}

/* The expectation queued last (the queue must not be empty). */
static inline struct relay_expect *relay_newest(struct relay *r)
{
	return &r->q.e[(r->q.head + r->q.len - 1) & (r->q.cap - 1)];
}

/* Requests whose ReadyForQuery is still to come. */
static inline uint32_t relay_pending_ready(const struct relay *r)
{
	return r->q.n_ready;
}

/*
 * The client message m (header at src->in->scan, at least its first `m->total`
 * bytes or all of it that fits in the buffer) goes to the server: note what
 * it will be answered with and frame it for sending. Message types are the
 * caller's to check (only frontend messages after log-in reach here).
 */
/* The general rules of relay_client_message (skipping, Flush, COPY data, a full queue). */
void relay_note_request(struct relay *r, uint8_t type);

/* The expectation each frontend message type queues (0: none). */
extern const uint8_t relay_fe_req[256];

static inline void relay_client_message(struct relay *r, struct conn *src,
					const struct proto_msg *m)
{
	struct relay_queue *q = &r->q;
	uint8_t req = relay_fe_req[m->type];
	if (req != 0 && q->len < q->cap && !r->skipping) {
		/* the common case, noted in place (relay_note_request has the same rules) */
		struct relay_expect *x = &q->e[(q->head + q->len) & (q->cap - 1)];
		x->req = req;
		x->flags = 0;
		x->op = 0;
		x->bytes = NULL;
		q->len++;
		if (req <= RQ_CLOSE) {
			r->unsynced = true; /* Parse .. Close: open until a Sync */
		} else {
			q->n_ready += 1;
			if (req != RQ_FUNCTION)
				r->unsynced =
					false; /* a Sync or a Query answers for what came before */
		}
	} else {
		relay_note_request(r, m->type);
	}
	iobuf_pass_message(src->in, m->total, &src->pkt_remain);
}

/*
 * Frame what the server sent (src = server, dst = client) and attribute each
 * reply: forwarded (framed in place), swallowed, or replaced; sluice's own
 * answers to the client are staged in dst's out queue at their turn. Stops at
 * the first incomplete message, or after a FATAL error.
 */
enum relay_result relay_server_input(struct relay *r, struct conn *src, struct conn *dst,
				     const struct relay_hooks *h, void *arg);

/*
 * Queue a request of sluice's own for the server after everything the client
 * has framed so far (`client` may be NULL): `msg` (one whole frontend
 * message) is copied to the server's out queue and its reply expected with
 * `flags`. Returns that expectation, valid until the next message is noted
 * (the caller may attach RX_ERROR bytes), or NULL when no reply will come.
 */
struct relay_expect *relay_inject(struct relay *r, struct conn *client, struct conn *server,
				  const uint8_t *msg, uint32_t len, uint8_t flags);

/*
 * The first `consumed` bytes of the client's message m at scan (in the
 * buffer) are replaced by `msg`: what the client framed before it is staged,
 * `msg` goes to the server's out queue, the reply is expected as for msg's
 * type with `flags`, and the rest of the client's message (when consumed <
 * m->total) is passed on behind it. So `msg` is a whole message when
 * consumed is m->total, else the rewritten start of one (its length field
 * counting the rest). Returns the expectation as relay_inject does.
 */
struct relay_expect *relay_client_replace(struct relay *r, struct conn *client, struct conn *server,
					  const struct proto_msg *m, uint32_t consumed,
					  const uint8_t *msg, uint32_t len, uint8_t flags);

/* Drop the client's message m at scan (whole in the buffer): nothing is sent for it. */
void relay_client_skip(struct conn *client, struct conn *server, const struct proto_msg *m);

/*
 * sluice answers the client itself at this point of the exchange: `reply`
 * (copied) reaches the client after every reply to what was sent before it.
 * With RX_READY in flags it answers a Query: a ReadyForQuery with the status
 * of that moment follows (and when that status is 'E', PostgreSQL's 25P02
 * error replaces `reply`, as the server would have refused the Query).
 * Nothing is answered while the server skips to a Sync after an error
 * (NULL is returned); else the expectation is returned as relay_inject does,
 * and settled ok when the answer goes out from relay_server_input (see
 * relay_answer_due), failed with 25P02, or dropped when the server skipped it.
 */
struct relay_expect *relay_reply(struct relay *r, const uint8_t *reply, uint32_t len,
				 uint8_t flags);

/* sluice's own answers wait at the head of the queue: relay_server_input sends them. */
static inline bool relay_answer_due(const struct relay *r)
{
	return r->q.n_replies > 0 && r->q.e[r->q.head].req == RQ_REPLY;
}

/*
 * Move the framed range of src ([start, scan) of its buffer) to dst's out
 * queue, so that bytes appended to that queue next go after it.
 */
void relay_stage(struct conn *src, struct conn *dst);

/*
 * May sluice append its own message for the client now? True when nothing of
 * the server's is half-way to the client: no message only partly received,
 * and everything framed already staged (it is moved to the client's queue).
 */
bool relay_client_at_boundary(struct conn *server, struct conn *client);

/*
 * Send dst what is queued for it and what src has framed for it. When dst
 * would block, src stops being read and dst is watched for writability
 * (backpressure); once everything is out, dst is no longer watched. Returns
 * what the send returned (CONN_IO_EOF/ERROR: dst failed, the caller closes).
 */
static inline enum conn_io relay_flush(struct conn *src, struct conn *dst)
{
	enum conn_io r = conn_forward(src, dst);
	if (r == CONN_IO_AGAIN) {
		conn_read_stop(src);
		conn_write_start(dst);
	} else if (r == CONN_IO_OK) {
		conn_write_stop(dst);
	}
	return r;
}

#endif
