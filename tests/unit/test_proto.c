/*
 * test_proto: framing of typed and start-up messages (split at every byte
 * boundary, many per buffer, bad lengths), the body reader's bounds, the
 * start-up and error parsers, and the message builders.
 */
#include <stdint.h>

#include "sluice/params.h"
#include "sluice/proto.h"
#include "unit.h"

/* A stream of three messages: Query "select 1", Sync, a 300-byte CopyData. */
static size_t build_stream(uint8_t *out, size_t cap)
{
	struct pktbuf b;
	pktbuf_init(&b);
	proto_build_query(&b, "select 1");
	pkt_begin(&b, 'S');
	pkt_end(&b);
	pkt_begin(&b, 'd');
	for (int i = 0; i < 300; i++)
		pkt_put_u8(&b, (uint8_t)i);
	pkt_end(&b);
	size_t n = b.len < cap ? b.len : cap;
	memcpy(out, b.data, n);
	pktbuf_free(&b);
	return n;
}

/* Feed the stream in two pieces split at `cut`; frame as a receiver would. */
static int frame_split(const uint8_t *stream, size_t len, size_t cut, uint8_t *types)
{
	uint8_t buf[1024];
	size_t have = 0, pos = 0, fed = 0;
	int n = 0;
	while (pos < len) {
		size_t next = fed < cut ? cut : len;
		memcpy(buf + have, stream + fed, next - fed);
		have += next - fed;
		fed = next;
		for (;;) {
			struct proto_msg m;
			enum proto_frame_result r = proto_frame(buf + pos, have - pos, 1 << 20, &m);
			if (r != PROTO_FRAME_OK || m.total > have - pos)
				break;
			types[n++] = m.type;
			pos += m.total;
		}
		if (fed == len && pos < len)
			return -1;
	}
	return n;
}

static void test_split_everywhere(void)
{
	uint8_t stream[1024], types[8];
	size_t len = build_stream(stream, sizeof(stream));
	CHECK(len == 14 + 5 + 305);
	for (size_t cut = 0; cut <= len; cut++) {
		int n = frame_split(stream, len, cut, types);
		CHECK(n == 3);
		if (n == 3)
			CHECK(types[0] == 'Q' && types[1] == 'S' && types[2] == 'd');
	}
}

static void test_header_partial(void)
{
	uint8_t hdr[5] = { 'Q', 0, 0, 0, 9 };
	struct proto_msg m;
	for (size_t n = 0; n < 5; n++)
		CHECK(proto_frame(hdr, n, 1000, &m) == PROTO_FRAME_NEED_MORE);
	CHECK(proto_frame(hdr, 5, 1000, &m) == PROTO_FRAME_OK);
	CHECK(m.type == 'Q' && m.len == 5 && m.total == 10);
}

static void test_bad_lengths(void)
{
	struct proto_msg m;
	uint8_t small[5] = { 'Q', 0, 0, 0, 3 };
	uint8_t big[5] = { 'Q', 0, 0x10, 0, 0 };
	uint8_t negative[5] = { 'Q', 0xff, 0xff, 0xff, 0xf0 };
	uint8_t exact[5] = { 'Q', 0, 0, 0x03, 0xe8 };
	CHECK(proto_frame(small, 5, 1000, &m) == PROTO_FRAME_BAD_LENGTH);
	CHECK(proto_frame(big, 5, 1000, &m) == PROTO_FRAME_BAD_LENGTH);
	CHECK(proto_frame(negative, 5, 0x7fffffff, &m) == PROTO_FRAME_BAD_LENGTH);
	CHECK(proto_frame(exact, 5, 1000, &m) == PROTO_FRAME_OK);
	uint8_t four[5] = { 'S', 0, 0, 0, 4 };
	CHECK(proto_frame(four, 5, 1000, &m) == PROTO_FRAME_OK && m.len == 0 && m.total == 5);
}

static void test_startup(void)
{
	const char *keys[] = { "user", "database", "options" };
	const char *values[] = { "alice", "app", "-c search_path=x" };
	struct pktbuf b;
	pktbuf_init(&b);
	proto_build_startup(&b, keys, values, 3);
	uint32_t len, code;
	for (size_t n = 0; n < 8; n++)
		CHECK(proto_frame_startup(b.data, n, &len, &code) == PROTO_FRAME_NEED_MORE);
	CHECK(proto_frame_startup(b.data, b.len, &len, &code) == PROTO_FRAME_OK);
	CHECK(len == b.len && code == PROTO_V3);
	struct proto_startup s;
	CHECK(proto_parse_startup(b.data + 4, len - 4, &s));
	CHECK(s.n == 3);
	CHECK_STR(s.user, "alice");
	CHECK_STR(s.database, "app");
	/* every truncation is refused, never read past */
	for (size_t cut = 4; cut < len - 4; cut++)
		CHECK(!proto_parse_startup(b.data + 4, cut, &s));
	pktbuf_free(&b);

	uint8_t tiny[8] = { 0, 0, 0, 7, 0, 3, 0, 0 };
	CHECK(proto_frame_startup(tiny, 8, &len, &code) == PROTO_FRAME_BAD_LENGTH);
	uint8_t huge[8] = { 0, 1, 0, 0, 0, 3, 0, 0 };
	CHECK(proto_frame_startup(huge, 8, &len, &code) == PROTO_FRAME_BAD_LENGTH);
	uint8_t nokey[] = { 0, 3, 0, 0, 'u', 's', 'e', 'r', 0 };
	CHECK(!proto_parse_startup(nokey, sizeof(nokey), &s));
}

static void test_error_roundtrip(void)
{
	struct pktbuf b;
	pktbuf_init(&b);
	proto_build_error(&b, "FATAL", "28P01", "password authentication failed");
	struct proto_msg m;
	CHECK(proto_frame(b.data, b.len, 1000, &m) == PROTO_FRAME_OK && m.type == 'E');
	CHECK(m.total == b.len);
	struct proto_error_fields f;
	CHECK(proto_parse_error(b.data + 5, m.len, &f));
	CHECK_STR(f.severity, "FATAL");
	CHECK_STR(f.sqlstate, "28P01");
	CHECK_STR(f.message, "password authentication failed");
	for (uint32_t cut = 0; cut < m.len; cut++)
		CHECK(!proto_parse_error(b.data + 5, cut, &f));
	pktbuf_free(&b);
}

static void test_reader_bounds(void)
{
	const uint8_t body[] = { 0, 0, 0, 1, 'a', 'b' };
	struct proto_reader r;
	proto_reader_init(&r, body, sizeof(body));
	CHECK(proto_get_u32(&r) == 1);
	CHECK(proto_get_str(&r) == NULL && r.bad);
	CHECK(proto_get_u8(&r) == 0);
	proto_reader_init(&r, body, 3);
	CHECK(proto_get_u32(&r) == 0 && r.bad);
}

static void test_ready_and_key(void)
{
	struct pktbuf b;
	pktbuf_init(&b);
	proto_build_ready(&b, 'T');
	proto_build_backend_key(&b, 42, 0xdeadbeef);
	const uint8_t expect_z[] = { 'Z', 0, 0, 0, 5, 'T' };
	CHECK(b.len == 6 + 13 && memcmp(b.data, expect_z, 6) == 0);
	struct proto_reader r;
	proto_reader_init(&r, b.data + 6 + 5, 8);
	CHECK(proto_get_u32(&r) == 42 && proto_get_u32(&r) == 0xdeadbeef);
	pktbuf_free(&b);
}

static void test_params_sync(void)
{
	struct param_set want = { 0 }, defaults = { 0 }, have = { 0 };
	char err[128];
	CHECK(param_apply_startup(&want, "TimeZone", "UTC", err, sizeof(err)));
	CHECK(param_apply_startup(&want, "options", "-c search_path=a\\ b --statement-timeout=5s",
				  err, sizeof(err)));
	CHECK_STR(param_get_extra(&want, "search_path"), "a b");
	CHECK_STR(param_get_extra(&want, "statement_timeout"), "5s");
	CHECK(!param_apply_startup(&want, "options", "-c bad;name=1", err, sizeof(err)));
	CHECK(!param_apply_startup(&want, "options", "-x", err, sizeof(err)));
	param_set_tracked(&defaults, PARAM_DATESTYLE, "ISO, MDY");
	param_set_tracked(&have, PARAM_TIMEZONE, "Europe/Paris");
	param_set_tracked(&have, PARAM_DATESTYLE, "ISO, MDY");
	param_set_extra(&have, "lock_timeout", "1s");

	struct pktbuf sql;
	pktbuf_init(&sql);
	CHECK(param_build_sync(&want, &defaults, &have, &sql));
	CHECK_STR((const char *)sql.data,
		  "SELECT pg_catalog.set_config(E'TimeZone', E'UTC', false);"
		  "SELECT pg_catalog.set_config(E'search_path', E'a b', false);"
		  "SELECT pg_catalog.set_config(E'statement_timeout', E'5s', false);"
		  "RESET lock_timeout;");
	CHECK(param_get_extra(&have, "lock_timeout") == NULL);
	/* the server now matches once TimeZone is reported back */
	param_set_tracked(&have, PARAM_TIMEZONE, "UTC");
	pktbuf_reset(&sql);
	CHECK(!param_build_sync(&want, &defaults, &have, &sql));
	/* quotes are doubled */
	CHECK(param_apply_startup(&want, "application_name", "it's", err, sizeof(err)));
	pktbuf_reset(&sql);
	CHECK(param_build_sync(&want, &defaults, &have, &sql));
	CHECK_STR((const char *)sql.data,
		  "SELECT pg_catalog.set_config(E'application_name', E'it''s', false);");
	pktbuf_free(&sql);
	param_set_free(&want);
	param_set_free(&defaults);
	param_set_free(&have);
}

/* The rows a CommandComplete tag reports; a tag is not NUL-terminated within len. */
static uint64_t rows_of(const char *tag)
{
	return proto_tag_rows(tag, (uint32_t)strlen(tag) + 1);
}

static void test_tag_rows(void)
{
	CHECK(rows_of("SELECT 1") == 1 && rows_of("SELECT 0") == 0 && rows_of("SELECT 9") == 9);
	CHECK(rows_of("SELECT 12") == 12 && rows_of("SELECT 1000000") == 1000000);
	CHECK(rows_of("INSERT 0 3") == 3 && rows_of("INSERT 16384 1") == 1);
	CHECK(rows_of("UPDATE 5") == 5 && rows_of("DELETE 0") == 0 && rows_of("MERGE 4") == 4);
	CHECK(rows_of("COPY 10") == 10 && rows_of("FETCH 25") == 25 && rows_of("MOVE 3") == 3);
	CHECK(rows_of("SELECT 12345678901234567890123") == UINT64_C(1234567890123456789));
	CHECK(rows_of("CREATE TABLE") == 0 && rows_of("DISCARD ALL") == 0 &&
	      rows_of("SELECT") == 0);
	CHECK(rows_of("SELECT x") == 0 && rows_of("SELECT :") == 0 && rows_of("SELECT /") == 0);
	CHECK(rows_of("INSERT 0") == 0 && rows_of("BEGIN") == 0 && rows_of("") == 0);
	CHECK(proto_tag_rows("SELECT 7", 8) == 7);  /* no NUL within len */
	CHECK(proto_tag_rows("SELECT 71", 8) == 7); /* only what len covers */
	CHECK(proto_tag_rows("SELECT 7x", 9) == 7); /* a word, but not a one-digit tag */
	CHECK(proto_tag_rows("SELECT 7", 0) == 0);
}

int main(void)
{
	test_tag_rows();
	test_split_everywhere();
	test_header_partial();
	test_bad_lengths();
	test_startup();
	test_error_roundtrip();
	test_reader_bounds();
	test_ready_and_key();
	test_params_sync();
	UNIT_DONE();
}
