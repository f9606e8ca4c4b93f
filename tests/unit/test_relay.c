/*
 * test_relay: the relay without sockets. Client messages are noted in the
 * queue of expected replies; server replies are fed to relay_server_input in
 * pieces of every size from 1 byte up, and what would go to the client (its
 * out queue, then the server buffer's framed range) is collected and compared
 * with what must arrive: forwarded replies in order, swallowed ones gone,
 * sluice's own answers at their turn, errors attributed up to the Sync.
 */
#include <stdarg.h>

#include "sluice/relay.h"
#include "unit.h"

/* ---- building messages ---- */

struct bytes {
	uint8_t d[1 << 16];
	uint32_t n;
};

static void put_msg(struct bytes *b, char type, const void *body, uint32_t len)
{
	b->d[b->n++] = (uint8_t)type;
	uint32_t l = len + 4;
	uint8_t hdr[4] = { (uint8_t)(l >> 24), (uint8_t)(l >> 16), (uint8_t)(l >> 8), (uint8_t)l };
	memcpy(b->d + b->n, hdr, 4);
	b->n += 4;
	if (len)
		memcpy(b->d + b->n, body, len);
	b->n += len;
}

/* Messages with no body or a short text body: "1", "2", "C:SELECT 1", "Z:I", "D:..." */
static void put(struct bytes *b, const char *spec)
{
	const char *colon = strchr(spec, ':');
	put_msg(b, spec[0], colon ? colon + 1 : "", colon ? (uint32_t)strlen(colon + 1) + 1 : 0);
}

static void puts_all(struct bytes *b, int n, ...)
{
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		put(b, va_arg(ap, const char *));
	va_end(ap);
}

static void put_error(struct bytes *b, const char *severity, const char *code)
{
	uint8_t body[128];
	int n = snprintf((char *)body, sizeof(body), "S%s%cV%s%cC%s%cMboom%c", severity, 0,
			 severity, 0, code, 0, 0);
	body[n] = 0;
	put_msg(b, 'E', body, (uint32_t)n + 1);
}

/* ---- a client and a server without sockets ---- */

static struct iobuf_pool pool;
static int n_ready;
static char last_status;
static const struct relay_hooks hooks = { NULL };

struct link {
	struct relay r;
	struct conn client, server;
	struct bytes to_client; /* everything the client received */
	struct bytes to_server;
};

static void link_init(struct link *l)
{
	memset(l, 0, sizeof(*l));
	l->client.fd = l->server.fd = -1;
	l->r.tx_status = 'I';
	n_ready = 0;
	last_status = 0;
}

static void link_free(struct link *l)
{
	relay_free(&l->r, &hooks, NULL);
	if (l->client.in)
		iobuf_put(&pool, l->client.in);
	if (l->server.in)
		iobuf_put(&pool, l->server.in);
	if (l->client.out) {
		pktbuf_free(&l->client.out->buf);
		free(l->client.out);
	}
	if (l->server.out) {
		pktbuf_free(&l->server.out->buf);
		free(l->server.out);
	}
}

/* "send" to dst: its out queue, then src's framed range; both consumed. */
static void deliver(struct conn *src, struct conn *dst, struct bytes *got)
{
	if (dst->out) {
		memcpy(got->d + got->n, dst->out->buf.data, dst->out->buf.len);
		got->n += (uint32_t)dst->out->buf.len;
		pktbuf_free(&dst->out->buf);
		free(dst->out);
		dst->out = NULL;
	}
	struct iobuf *b = src->in;
	if (b && b->scan > b->start) {
		memcpy(got->d + got->n, b->data + b->start, b->scan - b->start);
		got->n += b->scan - b->start;
		b->start = b->scan;
	}
	if (b && b->start == b->end)
		b->start = b->scan = b->end = 0;
}

/* "recv" len bytes into c's buffer, as conn_recv would (compacting when full). */
static void feed(struct conn *c, const uint8_t *data, uint32_t len)
{
	if (c->in == NULL)
		c->in = iobuf_get(&pool);
	struct iobuf *b = c->in;
	if (b->cap - b->end < len)
		iobuf_compact(b);
	CHECK(b->cap - b->end >= len);
	memcpy(b->data + b->end, data, len);
	b->end += len;
}

/* The client sends whole messages: note each, then deliver them to the server. */
static void client_sends(struct link *l, const struct bytes *msgs)
{
	feed(&l->client, msgs->d, msgs->n);
	struct iobuf *b = l->client.in;
	while (b->scan < b->end) {
		struct proto_msg m = { 0 };
		CHECK(proto_frame(b->data + b->scan, b->end - b->scan, 1 << 30, &m) ==
		      PROTO_FRAME_OK);
		relay_client_message(&l->r, &l->client, &m);
	}
	deliver(&l->client, &l->server, &l->to_server);
}

/* The server's bytes arrive `chunk` at a time; each piece is relayed and delivered. */
static enum relay_result server_sends(struct link *l, const struct bytes *msgs, uint32_t chunk)
{
	enum relay_result res = RELAY_OK;
	for (uint32_t off = 0; off < msgs->n && res == RELAY_OK; off += chunk) {
		uint32_t n = msgs->n - off < chunk ? msgs->n - off : chunk;
		feed(&l->server, msgs->d + off, n);
		res = relay_server_input(&l->r, &l->server, &l->client, &hooks, NULL);
		if (l->r.ready_seen) {
			n_ready++; /* per batch, as the server module counts them */
			last_status = l->r.tx_status;
			l->r.ready_seen = 0;
		}
		deliver(&l->server, &l->client, &l->to_client);
	}
	return res;
}

static bool same(const struct bytes *a, const struct bytes *b)
{
	return a->n == b->n && memcmp(a->d, b->d, a->n) == 0;
}

/* ---- cases ---- */

/* Simple and extended query: every reply forwarded, the server idle after ReadyForQuery. */
static void test_forward_every_split(void)
{
	struct bytes req = { 0 }, rep = { 0 };
	put(&req, "Q:SELECT 1");
	put(&req, "P:\0");
	puts_all(&req, 4, "B", "D:P", "E", "S");
	puts_all(&rep, 5, "T:x", "D:row", "C:SELECT 1", "Z:I", "1");
	puts_all(&rep, 5, "2", "T:x", "D:row", "C:SELECT 1", "Z:T");
	for (uint32_t chunk = 1; chunk <= rep.n; chunk++) {
		struct link l;
		link_init(&l);
		client_sends(&l, &req);
		CHECK(same(&l.to_server, &req));
		CHECK(!relay_idle(&l.r) && relay_pending_ready(&l.r) == 2);
		CHECK(server_sends(&l, &rep, chunk) == RELAY_OK);
		CHECK(same(&l.to_client, &rep));
		CHECK(relay_idle(&l.r) && last_status == 'T');
		CHECK(chunk > 5 || n_ready == 2); /* two batches with a ReadyForQuery each */
		CHECK(l.r.tx_status == 'T');
		link_free(&l);
	}
}

/* Extended messages without a Sync keep the exchange open after their replies. */
static void test_unsynced_stays_open(void)
{
	struct link l;
	struct bytes req = { 0 }, rep = { 0 };
	link_init(&l);
	puts_all(&req, 4, "P", "B", "E", "H");
	puts_all(&rep, 3, "1", "2", "C:INSERT 0 1");
	client_sends(&l, &req);
	CHECK(server_sends(&l, &rep, 3) == RELAY_OK);
	CHECK(same(&l.to_client, &rep));
	CHECK(l.r.q.len == 0 && l.r.unsynced && !relay_idle(&l.r));
	struct bytes sync = { 0 }, z = { 0 };
	put(&sync, "S");
	put(&z, "Z:I");
	client_sends(&l, &sync);
	CHECK(server_sends(&l, &z, 1) == RELAY_OK);
	CHECK(relay_idle(&l.r));
	link_free(&l);
}

/* sluice's own Parse before the client's Bind: its ParseComplete never reaches the client. */
static void test_injected_parse_swallowed(void)
{
	for (uint32_t chunk = 1; chunk <= 40; chunk++) {
		struct link l;
		struct bytes inj = { 0 }, req = { 0 }, rep = { 0 }, want = { 0 };
		link_init(&l);
		put(&inj, "P:sluice_1");
		CHECK(relay_inject(&l.r, NULL, &l.server, inj.d, inj.n, RX_SWALLOW) != NULL);
		puts_all(&req, 3, "B", "E", "S");
		client_sends(&l, &req);
		puts_all(&rep, 5, "1", "2", "D:r", "C:SELECT 1", "Z:I");
		puts_all(&want, 4, "2", "D:r", "C:SELECT 1", "Z:I");
		CHECK(server_sends(&l, &rep, chunk) == RELAY_OK);
		CHECK(same(&l.to_client, &want));
		CHECK(l.to_server.n == inj.n + req.n && memcmp(l.to_server.d, inj.d, inj.n) == 0);
		CHECK(relay_idle(&l.r));
		link_free(&l);
	}
}

/* An injected request that fails: its error is the client's, the rest skipped to the Sync. */
static void test_injected_parse_fails(void)
{
	struct link l;
	struct bytes inj = { 0 }, req = { 0 }, rep = { 0 };
	link_init(&l);
	put(&inj, "P:sluice_1");
	CHECK(relay_inject(&l.r, NULL, &l.server, inj.d, inj.n, RX_SWALLOW) != NULL);
	puts_all(&req, 3, "B", "E", "S");
	client_sends(&l, &req);
	put_error(&rep, "ERROR", "42P01");
	put(&rep, "Z:I");
	CHECK(server_sends(&l, &rep, 7) == RELAY_OK);
	CHECK(same(&l.to_client, &rep));
	CHECK(relay_idle(&l.r) && n_ready == 1);
	link_free(&l);
}

/* sluice answers a Close itself: CloseComplete arrives where the server's would have. */
static void test_own_reply_in_turn(void)
{
	for (uint32_t chunk = 1; chunk <= 30; chunk++) {
		struct link l;
		struct bytes b = { 0 }, close = { 0 }, s = { 0 }, rep = { 0 }, want = { 0 };
		link_init(&l);
		puts_all(&b, 2, "B", "E");
		client_sends(&l, &b);
		put(&close, "3");
		(void)relay_reply(&l.r, close.d, close.n, 0);
		put(&s, "S");
		client_sends(&l, &s);
		puts_all(&rep, 3, "2", "C:SELECT 1", "Z:I");
		puts_all(&want, 4, "2", "C:SELECT 1", "3", "Z:I");
		CHECK(server_sends(&l, &rep, chunk) == RELAY_OK);
		CHECK(same(&l.to_client, &want));
		CHECK(relay_idle(&l.r));
		link_free(&l);
	}
	/* nothing outstanding: the answer is due at once, and goes with the next relay pass */
	struct link l;
	struct bytes close = { 0 };
	link_init(&l);
	put(&close, "3");
	(void)relay_reply(&l.r, close.d, close.n, 0);
	CHECK(relay_answer_due(&l.r));
	CHECK(relay_server_input(&l.r, &l.server, &l.client, &hooks, NULL) == RELAY_OK);
	CHECK(l.client.out != NULL && l.client.out->buf.len == close.n);
	CHECK(!relay_answer_due(&l.r) && relay_idle(&l.r));
	link_free(&l);
}

/* sluice answers a whole Query: its ReadyForQuery carries the status of that moment,
 * and in a failed transaction PostgreSQL's 25P02 stands in for the answer. */
static void test_own_query_answer(void)
{
	for (int failed = 0; failed <= 1; failed++) {
		struct link l;
		struct bytes q = { 0 }, rep = { 0 }, tag = { 0 };
		link_init(&l);
		put(&q, "Q:BEGIN");
		client_sends(&l, &q);
		put(&tag, "C:DEALLOCATE");
		(void)relay_reply(&l.r, tag.d, tag.n, RX_READY);
		CHECK(relay_pending_ready(&l.r) == 2);
		put(&rep, "C:BEGIN");
		put(&rep, failed ? "Z:E" : "Z:T");
		CHECK(server_sends(&l, &rep, 2) == RELAY_OK);
		CHECK(relay_idle(&l.r) && relay_pending_ready(&l.r) == 0);
		struct bytes want = rep;
		if (failed) {
			struct pktbuf b;
			pktbuf_init(&b);
			proto_build_error(&b, "ERROR", "25P02",
					  "current transaction is aborted, commands ignored until "
					  "end of transaction block");
			memcpy(want.d + want.n, b.data, b.len);
			want.n += (uint32_t)b.len;
			pktbuf_free(&b);
		} else {
			put(&want, "C:DEALLOCATE");
		}
		put_msg(&want, 'Z', failed ? "E" : "T", 1); /* a real ReadyForQuery: one byte */
		CHECK(same(&l.to_client, &want));
		link_free(&l);
	}
}

/* Owners' notes (op) are settled once: with the reply, with the error, or dropped. */
static int settled_ok, settled_failed, settled_dropped;
static char settled_state[6];

static void hook_settle(void *arg, struct relay_expect *x, bool ok, const char *sqlstate)
{
	(void)arg;
	CHECK(x->op == 7);
	if (ok)
		settled_ok++;
	else if (sqlstate)
		settled_failed++, snprintf(settled_state, sizeof(settled_state), "%s", sqlstate);
	else
		settled_dropped++;
}

static void test_settle(void)
{
	static const struct relay_hooks h = { NULL, NULL, hook_settle, NULL, false };
	struct link l;
	struct bytes p = { 0 }, req = { 0 }, rep = { 0 };
	link_init(&l);
	settled_ok = settled_failed = settled_dropped = 0;
	put(&p, "P:a");
	relay_inject(&l.r, NULL, &l.server, p.d, p.n, RX_SWALLOW)->op = 7;
	relay_inject(&l.r, NULL, &l.server, p.d, p.n, RX_SWALLOW)->op = 7;
	relay_inject(&l.r, NULL, &l.server, p.d, p.n, RX_SWALLOW)->op = 7;
	put(&req, "S");
	client_sends(&l, &req);
	put(&rep, "1");
	put_error(&rep, "ERROR", "0A000");
	put(&rep, "Z:E");
	feed(&l.server, rep.d, rep.n);
	CHECK(relay_server_input(&l.r, &l.server, &l.client, &h, NULL) == RELAY_OK);
	CHECK(settled_ok == 1 && settled_failed == 1 && settled_dropped == 1);
	CHECK(strcmp(settled_state, "0A000") == 0);
	/* what is still queued when the server goes is dropped too */
	relay_inject(&l.r, NULL, &l.server, p.d, p.n, RX_SWALLOW)->op = 7;
	relay_free(&l.r, &h, NULL);
	CHECK(settled_dropped == 2);
	link_free(&l);
}

/* CommandComplete tags starting with D reach the owner (DEALLOCATE ALL, DISCARD
 * ALL), no other; with hooks.rows the rows of each tag are counted until the
 * expectation is settled. */
static char seen_tag[32];
static int tags_seen;

static void hook_complete(void *arg, const char *tag, uint32_t len)
{
	(void)arg;
	tags_seen++;
	snprintf(seen_tag, sizeof(seen_tag), "%.*s", (int)len, tag);
}

static void test_complete_tags(void)
{
	static const struct relay_hooks h = { NULL, hook_complete, NULL, NULL, true };
	struct link l;
	struct bytes q = { 0 }, rep = { 0 }, ready = { 0 };
	link_init(&l);
	seen_tag[0] = 0;
	tags_seen = 0;
	put(&q, "Q:SELECT 12; UPDATE; DISCARD ALL");
	client_sends(&l, &q);
	puts_all(&rep, 3, "C:SELECT 12", "C:UPDATE 3", "C:DISCARD ALL");
	put(&ready, "Z:I");
	for (uint32_t off = 0; off < rep.n; off++) { /* one byte at a time */
		feed(&l.server, rep.d + off, 1);
		CHECK(relay_server_input(&l.r, &l.server, &l.client, &h, NULL) == RELAY_OK);
		deliver(&l.server, &l.client, &l.to_client);
	}
	CHECK(strcmp(seen_tag, "DISCARD ALL") == 0 && tags_seen == 1);
	CHECK(l.r.rows == 15);
	feed(&l.server, ready.d, ready.n);
	CHECK(relay_server_input(&l.r, &l.server, &l.client, &h, NULL) == RELAY_OK);
	deliver(&l.server, &l.client, &l.to_client);
	CHECK(l.r.rows == 0); /* settled */
	put(&rep, "Z:I");
	CHECK(same(&l.to_client, &rep));
	link_free(&l);
}

/* A client's message rewritten at its start, the rest (large) passed on from its buffer. */
static void test_replace_head(void)
{
	static struct bytes msgs, got_want;
	uint8_t body[30000];
	memset(body, 'p', sizeof(body));
	memcpy(body, "\0S_1\0", 5); /* portal "", statement "S_1" */
	struct link l;
	link_init(&l);
	msgs.n = 0;
	put(&msgs, "S"); /* something before it, to be staged in order */
	uint32_t first = msgs.n;
	put_msg(&msgs, 'B', body, sizeof(body));
	feed(&l.client, msgs.d, 16000); /* the Bind arrives in two pieces */
	struct iobuf *b = l.client.in;
	struct proto_msg m = { 0 };
	CHECK(proto_frame(b->data, b->end, 1 << 30, &m) == PROTO_FRAME_OK);
	relay_client_message(&l.r, &l.client, &m);
	CHECK(proto_frame(b->data + b->scan, b->end - b->scan, 1 << 30, &m) == PROTO_FRAME_OK);
	struct bytes head = { 0 };
	head.d[head.n++] = 'B';
	uint32_t newlen = m.len - 3 + 9 + 4;
	uint8_t lenb[4] = { (uint8_t)(newlen >> 24), (uint8_t)(newlen >> 16),
			    (uint8_t)(newlen >> 8), (uint8_t)newlen };
	memcpy(head.d + head.n, lenb, 4);
	head.n += 4;
	memcpy(head.d + head.n, "\0sluice_1\0", 10);
	head.n += 10;
	CHECK(relay_client_replace(&l.r, &l.client, &l.server, &m, 10, head.d, head.n, 0) != NULL);
	deliver(&l.client, &l.server, &l.to_server);
	feed(&l.client, msgs.d + 16000, msgs.n - 16000);
	iobuf_pass_remaining(l.client.in, &l.client.pkt_remain);
	CHECK(l.client.pkt_remain == 0);
	deliver(&l.client, &l.server, &l.to_server);
	got_want.n = 0;
	memcpy(got_want.d, msgs.d, first);
	got_want.n = first;
	memcpy(got_want.d + got_want.n, head.d, head.n);
	got_want.n += head.n;
	memcpy(got_want.d + got_want.n, msgs.d + first + 10, msgs.n - first - 10);
	got_want.n += msgs.n - first - 10;
	CHECK(same(&l.to_server, &got_want));
	CHECK(l.r.q.len == 2); /* Sync, Bind */
	link_free(&l);
}

/* An error in the extended protocol drops what the server will skip, own answers too. */
static void test_error_skips_to_sync(void)
{
	struct link l;
	struct bytes a = { 0 }, close = { 0 }, s = { 0 }, rep = { 0 };
	link_init(&l);
	puts_all(&a, 3, "P", "B", "E");
	client_sends(&l, &a);
	put(&close, "3");
	(void)relay_reply(&l.r, close.d, close.n, 0);
	put(&s, "S");
	client_sends(&l, &s);
	put_error(&rep, "ERROR", "42601");
	put(&rep, "Z:I");
	CHECK(server_sends(&l, &rep, 5) == RELAY_OK);
	CHECK(same(&l.to_client, &rep)); /* no CloseComplete: the server would have skipped it */
	CHECK(relay_idle(&l.r));
	link_free(&l);

	/* the error comes before the client's Sync was even sent: later messages expect nothing */
	link_init(&l);
	struct bytes p = { 0 }, err = { 0 }, more = { 0 }, z = { 0 };
	puts_all(&p, 2, "P", "H");
	client_sends(&l, &p);
	put_error(&err, "ERROR", "42601");
	CHECK(server_sends(&l, &err, 4) == RELAY_OK);
	CHECK(l.r.skipping && !relay_idle(&l.r));
	puts_all(&more, 4, "B", "E", "Q:SELECT 1", "S");
	client_sends(&l, &more);
	CHECK(l.r.q.len == 1); /* only the Sync will be answered */
	put(&z, "Z:I");
	CHECK(server_sends(&l, &z, 1) == RELAY_OK);
	CHECK(relay_idle(&l.r) && !l.r.skipping);
	link_free(&l);
}

/* The server's error for a request is replaced by sluice's own (RX_ERROR). */
static void test_error_replaced(void)
{
	struct link l;
	struct bytes inj = { 0 }, s = { 0 }, rep = { 0 }, mine = { 0 }, want = { 0 };
	link_init(&l);
	put(&inj, "P:sluice_dup");
	struct relay_expect *x = relay_inject(&l.r, NULL, &l.server, inj.d, inj.n, RX_ERROR);
	CHECK(x != NULL);
	put_error(&mine, "ERROR", "42P05");
	x->bytes = malloc(mine.n);
	memcpy(x->bytes, mine.d, mine.n);
	x->len = mine.n;
	put(&s, "S");
	client_sends(&l, &s);
	put_error(&rep, "ERROR", "42601");
	put(&rep, "Z:I");
	memcpy(want.d, mine.d, mine.n);
	want.n = mine.n;
	put(&want, "Z:I");
	CHECK(server_sends(&l, &rep, 6) == RELAY_OK);
	CHECK(same(&l.to_client, &want));
	link_free(&l);
}

/* A reply nothing asked for, and a bad length, are protocol violations. */
static void test_violations(void)
{
	struct link l;
	struct bytes rep = { 0 };
	link_init(&l);
	put(&rep, "1");
	CHECK(server_sends(&l, &rep, rep.n) == RELAY_VIOLATION);
	link_free(&l);

	link_init(&l);
	struct bytes q = { 0 }, bad = { 0 };
	put(&q, "P");
	client_sends(&l, &q);
	puts_all(&bad, 1, "2"); /* BindComplete for a Parse */
	CHECK(server_sends(&l, &bad, bad.n) == RELAY_VIOLATION);
	link_free(&l);

	link_init(&l);
	struct bytes len3 = { .d = { 'Z', 0, 0, 0, 3 }, .n = 5 };
	CHECK(server_sends(&l, &len3, 5) == RELAY_VIOLATION);
	link_free(&l);

	/* notices, notifications and parameter changes are not replies: always fine */
	link_init(&l);
	struct bytes async = { 0 };
	puts_all(&async, 3, "N:SNOTICE", "A:\1\1\1\1chan", "S:TimeZone\0UTC");
	CHECK(server_sends(&l, &async, 2) == RELAY_OK);
	CHECK(same(&l.to_client, &async));
	link_free(&l);
}

/* A FATAL error ends the relaying: nothing after it is passed on. */
static void test_fatal_is_last(void)
{
	struct link l;
	struct bytes q = { 0 }, rep = { 0 }, after = { 0 };
	link_init(&l);
	put(&q, "Q:SELECT pg_sleep(10)");
	client_sends(&l, &q);
	put_error(&rep, "FATAL", "57P01");
	after = rep;
	put(&rep, "N:late");
	CHECK(server_sends(&l, &rep, rep.n) == RELAY_OK);
	CHECK(l.r.fatal && strcmp(l.r.fatal_sqlstate, "57P01") == 0);
	CHECK(same(&l.to_client, &after));
	link_free(&l);
}

/* A DataRow larger than the buffer streams through in pieces. */
static void test_large_row_streams(void)
{
	static struct bytes rep;
	struct link l;
	struct bytes q = { 0 };
	uint8_t body[40000];
	memset(body, 'x', sizeof(body));
	link_init(&l);
	put(&q, "Q:SELECT big");
	client_sends(&l, &q);
	rep.n = 0;
	put(&rep, "T:x");
	put_msg(&rep, 'D', body, sizeof(body));
	puts_all(&rep, 2, "C:SELECT 1", "Z:I");
	CHECK(server_sends(&l, &rep, 3000) == RELAY_OK);
	CHECK(same(&l.to_client, &rep));
	CHECK(relay_idle(&l.r) && n_ready == 1);
	link_free(&l);
}

int main(void)
{
	iobuf_pool_init(&pool, 16384);
	test_forward_every_split();
	test_unsynced_stays_open();
	test_injected_parse_swallowed();
	test_injected_parse_fails();
	test_own_reply_in_turn();
	test_error_skips_to_sync();
	test_error_replaced();
	test_violations();
	test_fatal_is_last();
	test_large_row_streams();
	test_own_query_answer();
	test_settle();
	test_complete_tags();
	test_replace_head();
	iobuf_pool_clear(&pool);
	UNIT_DONE();
}
