/*
 * test_iobuf: the receive buffer the hot path frames from: taking whole
 * messages that arrive in pieces, making room for a message larger than the
 * buffer, compaction keeping unsent bytes, and the free list.
 */
#include <stdint.h>

#include "sluice/iobuf.h"
#include "sluice/proto.h"
#include "unit.h"

/* Append bytes as a recv would. */
static void feed(struct iobuf *b, const uint8_t *p, uint32_t n)
{
	if (b->cap - b->end < n)
		iobuf_compact(b);
	memcpy(b->data + b->end, p, n);
	b->end += n;
}

static void test_take_in_pieces(void)
{
	struct iobuf_pool pool;
	iobuf_pool_init(&pool, 64);
	struct iobuf *b = iobuf_get(&pool);
	struct pktbuf msg;
	pktbuf_init(&msg);
	proto_build_query(&msg, "select 1");
	proto_build_terminate(&msg);
	struct proto_msg m;
	const uint8_t *body;
	/* one byte at a time: nothing is taken until the message is whole */
	uint32_t i = 0;
	for (; i < 13; i++) {
		feed(b, msg.data + i, 1);
		CHECK(iobuf_take_message(b, 1000, &m, &body) == PROTO_FRAME_NEED_MORE);
	}
	feed(b, msg.data + i, 1);
	i++;
	CHECK(iobuf_take_message(b, 1000, &m, &body) == PROTO_FRAME_OK);
	CHECK(m.type == 'Q' && m.len == 9 && strcmp((const char *)body, "select 1") == 0);
	CHECK(b->start == b->scan && b->scan == 14);
	feed(b, msg.data + i, msg.len - i);
	CHECK(iobuf_take_message(b, 1000, &m, &body) == PROTO_FRAME_OK && m.type == 'X');
	CHECK(iobuf_drained(b));
	pktbuf_free(&msg);
	iobuf_put(&pool, b);
	iobuf_pool_clear(&pool);
}

static void test_message_larger_than_buffer(void)
{
	struct iobuf_pool pool;
	iobuf_pool_init(&pool, 32);
	struct iobuf *b = iobuf_get(&pool);
	struct pktbuf msg;
	pktbuf_init(&msg);
	char sql[200];
	memset(sql, 'x', sizeof(sql) - 1);
	sql[sizeof(sql) - 1] = '\0';
	proto_build_query(&msg, sql);
	struct proto_msg m;
	const uint8_t *body;
	uint32_t fed = 0;
	enum proto_frame_result r = PROTO_FRAME_NEED_MORE;
	while (r == PROTO_FRAME_NEED_MORE && fed < msg.len) {
		uint32_t n = b->cap - b->end < 7 ? b->cap - b->end : 7;
		if (n > msg.len - fed)
			n = (uint32_t)msg.len - fed;
		CHECK(n > 0); /* take_message made room: never stuck with a full buffer */
		if (n == 0)
			break;
		feed(b, msg.data + fed, n);
		fed += n;
		r = iobuf_take_message(b, 1000, &m, &body);
	}
	CHECK(r == PROTO_FRAME_OK && m.len == 200 && strcmp((const char *)body, sql) == 0);
	CHECK(b->cap >= 205);
	/* a grown buffer is not kept on the free list */
	iobuf_put(&pool, b);
	CHECK(pool.n_free == 0);
	pktbuf_free(&msg);
	iobuf_pool_clear(&pool);
}

static void test_bad_length_and_limit(void)
{
	struct iobuf_pool pool;
	iobuf_pool_init(&pool, 64);
	struct iobuf *b = iobuf_get(&pool);
	const uint8_t too_big[5] = { 'Q', 0, 0, 0x10, 0 };
	feed(b, too_big, 5);
	struct proto_msg m;
	const uint8_t *body;
	CHECK(iobuf_take_message(b, 1000, &m, &body) == PROTO_FRAME_BAD_LENGTH);
	CHECK(b->scan == 0); /* nothing consumed */
	iobuf_put(&pool, b);
	iobuf_pool_clear(&pool);
}

static void test_compact_keeps_pending(void)
{
	struct iobuf_pool pool;
	iobuf_pool_init(&pool, 16);
	struct iobuf *b = iobuf_get(&pool);
	feed(b, (const uint8_t *)"abcdefghijklmnop", 16);
	b->start = 4; /* sent */
	b->scan = 10; /* framed, waiting to be sent */
	iobuf_compact(b);
	CHECK(b->start == 0 && b->scan == 6 && b->end == 12);
	CHECK(memcmp(b->data, "efghijklmnop", 12) == 0);
	iobuf_put(&pool, b);
	/* the free list hands the same buffer back, emptied */
	struct iobuf *again = iobuf_get(&pool);
	CHECK(again == b && again->start == 0 && again->end == 0);
	CHECK(pool.n_used == 1 && pool.n_free == 0);
	iobuf_put(&pool, again);
	iobuf_pool_clear(&pool);
}

/* A message streamed through in pieces: framed as it arrives, never held whole. */
static void test_pass_streamed(void)
{
	struct iobuf_pool pool;
	iobuf_pool_init(&pool, 16);
	struct iobuf *b = iobuf_get(&pool);
	uint32_t remain = 0;
	uint8_t chunk[16];
	memset(chunk, 'x', sizeof(chunk));
	feed(b, chunk, 10);
	iobuf_pass_message(b, 40, &remain); /* a 40-byte message, 10 bytes here */
	CHECK(b->scan == 10 && remain == 30);
	b->start = b->scan; /* forwarded */
	b->start = b->scan = b->end = 0;
	feed(b, chunk, 16);
	iobuf_pass_remaining(b, &remain);
	CHECK(b->scan == 16 && remain == 14);
	b->start = b->scan = b->end = 0;
	feed(b, chunk, 16); /* the last 14 bytes and 2 of the next message */
	iobuf_pass_remaining(b, &remain);
	CHECK(b->scan == 14 && remain == 0);
	iobuf_pass_message(b, 5, &remain); /* whole messages in the buffer pass at once */
	CHECK(b->scan == 16 && remain == 3);
	iobuf_put(&pool, b);
	iobuf_pool_clear(&pool);
}

int main(void)
{
	test_pass_streamed();
	test_take_in_pieces();
	test_message_larger_than_buffer();
	test_bad_length_and_limit();
	test_compact_keeps_pending();
	UNIT_DONE();
}
