/*
 * fuzz_frame: message framing as the relay does it. Input: 2 bytes of max_len,
 * 1 of chunk size, then a byte stream fed to an iobuf in chunks and framed with
 * proto_frame, iobuf_take_message (types E N S Z R, as server.c inspects) and
 * iobuf_pass_*. Asserts: an OK frame has 4 <= length <= max_len and total ==
 * len + 5; start <= scan <= end <= cap always; the bytes framed are exactly the
 * input, in order; whatever a body parser returns lies inside the body.
 */
#include <stdbool.h>
#include <string.h>

#include "sluice/iobuf.h"
#include "sluice/proto.h"

#include "fuzz.h"

static uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* proto_frame and proto_frame_startup on the raw bytes, against their contracts. */
static void check_frames(const uint8_t *data, size_t size, uint32_t max_len)
{
	struct proto_msg m;
	switch (proto_frame(data, size, max_len, &m)) {
	case PROTO_FRAME_NEED_MORE:
		FUZZ_CHECK(size < PROTO_HEADER_LEN);
		break;
	case PROTO_FRAME_OK:
		FUZZ_CHECK(size >= PROTO_HEADER_LEN && m.type == data[0]);
		FUZZ_CHECK(m.len + 4 == be32(data + 1) && m.len + 4 <= max_len);
		FUZZ_CHECK(m.total == m.len + 5);
		break;
	case PROTO_FRAME_BAD_LENGTH:
		FUZZ_CHECK(size >= PROTO_HEADER_LEN);
		FUZZ_CHECK(be32(data + 1) < 4 || be32(data + 1) > max_len);
		break;
	}
	uint32_t len, code;
	switch (proto_frame_startup(data, size, &len, &code)) {
	case PROTO_FRAME_NEED_MORE:
		FUZZ_CHECK(size < 8);
		break;
	case PROTO_FRAME_OK:
		FUZZ_CHECK(size >= 8 && len == be32(data) && code == be32(data + 4));
		FUZZ_CHECK(len >= 8 && len <= PROTO_STARTUP_MAX);
		break;
	case PROTO_FRAME_BAD_LENGTH:
		FUZZ_CHECK(size >= 4 && (be32(data) < 8 || be32(data) > PROTO_STARTUP_MAX));
		break;
	}
}

/* A reader walk driven by the body itself: position never passes the end, and
 * once a read fails every later read fails and the position stays put. */
static void walk_reader(const uint8_t *body, size_t len)
{
	struct proto_reader r;
	proto_reader_init(&r, body, len);
	while (!r.bad) {
		uint8_t op = proto_get_u8(&r);
		size_t pos = r.pos;
		const char *s;
		const uint8_t *bytes;
		switch (op % 4) {
		case 0:
			(void)proto_get_u16(&r);
			break;
		case 1:
			(void)proto_get_u32(&r);
			break;
		case 2:
			s = proto_get_str(&r);
			FUZZ_CHECK(s == NULL ? r.bad : fuzz_str_inside(s, body, len));
			break;
		default:
			bytes = proto_get_bytes(&r, op >> 2);
			FUZZ_CHECK(bytes == NULL ? r.bad : bytes == body + pos);
			break;
		}
		FUZZ_CHECK(r.pos <= r.len && proto_remaining(&r) == len - r.pos);
		if (r.bad) {
			size_t stuck = r.pos;
			FUZZ_CHECK(proto_get_u32(&r) == 0 && proto_get_str(&r) == NULL &&
				   r.pos == stuck);
		}
	}
}

/* What server.c and admin.c parse out of whole messages they read themselves. */
static void inspect_body(uint8_t type, const uint8_t *in_buffer, uint32_t len)
{
	uint8_t *body = fuzz_copy(in_buffer, len);
	if (type == 'E' || type == 'N') {
		struct proto_error_fields f;
		if (proto_parse_error(body, len, &f)) {
			FUZZ_CHECK(f.severity == NULL || fuzz_str_inside(f.severity, body, len));
			FUZZ_CHECK(f.sqlstate == NULL || fuzz_str_inside(f.sqlstate, body, len));
			FUZZ_CHECK(f.message == NULL || fuzz_str_inside(f.message, body, len));
		}
	} else if (type == 'S') {
		const char *key, *value;
		if (proto_parse_param_status(body, len, &key, &value))
			FUZZ_CHECK(fuzz_str_inside(key, body, len) &&
				   fuzz_str_inside(value, body, len));
	}
	walk_reader(body, len);
	free(body);
}

struct relay {
	const uint8_t *stream; /* the input bytes, in the order they arrive */
	size_t fed;            /* bytes copied into the buffer so far */
	size_t framed;         /* bytes passed or taken so far */
	uint32_t remain;       /* bytes of a streamed message still to come */
};

/* The bytes just framed at data[from, from + n) must be the next input bytes. */
static void account(struct relay *r, const uint8_t *from, size_t n)
{
	FUZZ_CHECK(r->framed + n <= r->fed);
	FUZZ_CHECK(memcmp(from, r->stream + r->framed, n) == 0);
	r->framed += n;
}

static bool inspected(uint8_t type)
{
	return type == 'E' || type == 'N' || type == 'S' || type == 'Z' || type == 'R';
}

/* Frame what is in the buffer, like frame_server_messages; false on a bad length. */
static bool frame_buffer(struct relay *r, struct iobuf *b, uint32_t max_len)
{
	while (b->scan < b->end) {
		FUZZ_CHECK(b->start <= b->scan && b->scan <= b->end && b->end <= b->cap);
		uint32_t scan0 = b->scan, avail = iobuf_unscanned(b);
		if (r->remain > 0) {
			uint32_t remain0 = r->remain;
			iobuf_pass_remaining(b, &r->remain);
			FUZZ_CHECK(b->scan - scan0 == remain0 - r->remain && b->scan <= b->end);
			account(r, b->data + scan0, b->scan - scan0);
			continue;
		}
		struct proto_msg m, taken;
		const uint8_t *body;
		enum proto_frame_result fr = proto_frame(b->data + b->scan, avail, max_len, &m);
		if (fr == PROTO_FRAME_NEED_MORE)
			return true;
		if (fr == PROTO_FRAME_BAD_LENGTH)
			return false;
		if (!inspected(m.type)) {
			iobuf_pass_message(b, m.total, &r->remain);
			FUZZ_CHECK(b->scan <= b->end);
			FUZZ_CHECK(m.total <= avail
					   ? b->scan == scan0 + m.total && r->remain == 0
					   : b->scan == b->end && r->remain == m.total - avail);
			account(r, b->data + scan0, b->scan - scan0);
			continue;
		}
		fr = iobuf_take_message(b, max_len, &taken, &body);
		FUZZ_CHECK(fr != PROTO_FRAME_BAD_LENGTH && taken.total == m.total);
		if (fr == PROTO_FRAME_NEED_MORE) {
			FUZZ_CHECK(avail < m.total && b->cap - b->scan >= m.total);
			return true;
		}
		FUZZ_CHECK(body == b->data + scan0 + PROTO_HEADER_LEN);
		FUZZ_CHECK(b->scan == scan0 + m.total && b->start == b->scan && b->scan <= b->end);
		account(r, b->data + scan0, m.total);
		inspect_body(m.type, body, m.len);
	}
	return true;
}

/* Feed the stream in chunks as conn_recv would, framing after each read and
 * sending everything framed to the (imaginary) peer at once. */
static void relay(const uint8_t *stream, size_t n, uint32_t max_len, size_t chunk)
{
	struct iobuf_pool pool;
	iobuf_pool_init(&pool, 64);
	struct iobuf *b = iobuf_get(&pool);
	struct relay r = { .stream = stream };
	bool ok = true;
	while (ok && r.fed < n) {
		if (b->end == b->cap)
			iobuf_compact(b);
		FUZZ_CHECK(b->end < b->cap); /* a full buffer here would stall the connection */
		size_t k = b->cap - b->end;
		if (k > chunk)
			k = chunk;
		if (k > n - r.fed)
			k = n - r.fed;
		memcpy(b->data + b->end, stream + r.fed, k);
		b->end += (uint32_t)k;
		r.fed += k;
		ok = frame_buffer(&r, b, max_len);
		b->start = b->scan;
	}
	if (ok)
		FUZZ_CHECK(r.framed + iobuf_unscanned(b) == r.fed);
	iobuf_put(&pool, b);
	iobuf_pool_clear(&pool);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	uint32_t max_len = 4 + (((uint32_t)data[0] << 8) | data[1]);
	size_t chunk = 1 + (size_t)data[2];
	data += 3;
	size -= 3;
	check_frames(data, size, max_len);
	relay(data, size, max_len, chunk);
	return 0;
}
