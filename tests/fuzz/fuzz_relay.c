/*
 * fuzz_relay: the relay's attribution of server replies. Input: 1 byte n,
 * n bytes of client requests (each one of P B D E C S Q F H, sluice's own
 * swallowed Parse, or an own answer, chosen by value), 1 byte of chunk size,
 * then what the server sends, fed to relay_server_input in chunks. Asserts:
 * the buffer's marks stay ordered, the queue's counts stay within its length
 * and capacity, and nothing is framed past what arrived; ASan and UBSan watch
 * the rest (the queue's ring, staging, swallowing, replacement errors).
 */
#include <stdbool.h>
#include <string.h>

#include "sluice/relay.h"

#include "fuzz.h"

static struct iobuf_pool pool;
static const struct relay_hooks hooks = { NULL, NULL, NULL, NULL, true };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	iobuf_pool_init(&pool, 16384);
	return 0;
}

static void drop_out(struct conn *c)
{
	if (c->out) {
		pktbuf_free(&c->out->buf);
		free(c->out);
		c->out = NULL;
	}
}

/* Note client request k (one input byte) as the relay would while it is framed. */
static void note(struct relay *r, struct conn *server, uint8_t k)
{
	static const char types[] = "PBDECSQFH";
	static const uint8_t parse[] = { 'P', 0, 0, 0, 6, 0, 0 };
	static const uint8_t close_complete[] = { '3', 0, 0, 0, 4 };
	unsigned i = k % 11;
	if (i < 9)
		relay_note_request(r, (uint8_t)types[i]);
	else if (i == 9)
		(void)relay_inject(r, NULL, server, parse, sizeof(parse), RX_SWALLOW);
	else
		(void)relay_reply(r, close_complete, sizeof(close_complete),
				  (k & 0x80) ? RX_READY : 0);
	drop_out(server);
}

static void check(const struct relay *r, const struct conn *server)
{
	const struct iobuf *b = server->in;
	if (b != NULL)
		FUZZ_CHECK(b->start <= b->scan && b->scan <= b->end && b->end <= b->cap);
	FUZZ_CHECK(r->q.n_ready <= r->q.len && r->q.n_replies <= r->q.len);
	FUZZ_CHECK(r->q.len <= r->q.cap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct relay r = { .tx_status = 'I' };
	struct conn client = { .fd = -1 }, server = { .fd = -1 };
	size_t n = data[0] % 48, pos = 1;
	for (size_t i = 0; i < n && pos < size; i++)
		note(&r, &server, data[pos++]);
	if (pos >= size)
		goto done;
	size_t chunk = (size_t)data[pos++] % 64 + 1;
	uint64_t fed = 0, passed = 0;
	while (pos < size) {
		size_t len = size - pos < chunk ? size - pos : chunk;
		if (server.in == NULL)
			server.in = iobuf_get(&pool);
		struct iobuf *b = server.in;
		if (b->cap - b->end < len)
			iobuf_compact(b);
		if (b->cap - b->end < len)
			break; /* a message larger than the buffer was reserved for: enough */
		memcpy(b->data + b->end, data + pos, len);
		b->end += (uint32_t)len;
		pos += len;
		fed += len;
		enum relay_result res = relay_server_input(&r, &server, &client, &hooks, NULL);
		check(&r, &server);
		/* "send" what was framed and what was staged */
		passed += b->scan - b->start;
		b->start = b->scan;
		if (b->start == b->end)
			b->start = b->scan = b->end = 0;
		drop_out(&client);
		FUZZ_CHECK(passed <= fed);
		if (res != RELAY_OK || r.fatal)
			break;
	}
done:
	relay_free(&r, &hooks, NULL);
	if (server.in)
		iobuf_put(&pool, server.in);
	drop_out(&client);
	drop_out(&server);
	return 0;
}
