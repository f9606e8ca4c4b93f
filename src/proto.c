/*
 * proto: framing, body reading and message building for PostgreSQL v3.
 * Every length that comes from the wire is checked here before use.
 */
#include "sluice/proto.h"

#include <stdlib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum proto_frame_result proto_frame_startup(const uint8_t *buf, size_t avail, uint32_t *len,
					    uint32_t *code)
{
	if (avail < 4)
		return PROTO_FRAME_NEED_MORE;
	uint32_t l = proto_be32(buf);
	if (l < 8 || l > PROTO_STARTUP_MAX)
		return PROTO_FRAME_BAD_LENGTH;
	if (avail < 8)
		return PROTO_FRAME_NEED_MORE;
	*len = l;
	*code = proto_be32(buf + 4);
	return PROTO_FRAME_OK;
}

void proto_reader_init(struct proto_reader *r, const uint8_t *body, size_t len)
{
	r->p = body;
	r->len = len;
	r->pos = 0;
	r->bad = false;
}

static bool reader_has(struct proto_reader *r, size_t n)
{
	if (r->bad || r->len - r->pos < n) {
		r->bad = true;
		return false;
	}
	return true;
}

uint8_t proto_get_u8(struct proto_reader *r)
{
	if (!reader_has(r, 1))
		return 0;
	return r->p[r->pos++];
}

uint16_t proto_get_u16(struct proto_reader *r)
{
	if (!reader_has(r, 2))
		return 0;
	uint16_t v = (uint16_t)((r->p[r->pos] << 8) | r->p[r->pos + 1]);
	r->pos += 2;
	return v;
}

uint32_t proto_get_u32(struct proto_reader *r)
{
	if (!reader_has(r, 4))
		return 0;
	uint32_t v = proto_be32(r->p + r->pos);
	r->pos += 4;
	return v;
}

const char *proto_get_str(struct proto_reader *r)
{
	if (r->bad)
		return NULL;
	const uint8_t *start = r->p + r->pos;
	const uint8_t *nul = memchr(start, 0, r->len - r->pos);
	if (nul == NULL) {
		r->bad = true;
		return NULL;
	}
	r->pos += (size_t)(nul - start) + 1;
	return (const char *)start;
}

const uint8_t *proto_get_bytes(struct proto_reader *r, size_t n)
{
	if (!reader_has(r, n))
		return NULL;
	const uint8_t *p = r->p + r->pos;
	r->pos += n;
	return p;
}

bool proto_parse_startup(const uint8_t *body, size_t len, struct proto_startup *s)
{
	struct proto_reader r;
	proto_reader_init(&r, body, len);
	memset(s, 0, sizeof(*s));
	s->code = proto_get_u32(&r);
	for (;;) {
		const char *key = proto_get_str(&r);
		if (key == NULL)
			return false;
		if (key[0] == '\0')
			break;
		const char *value = proto_get_str(&r);
		if (value == NULL || s->n == PROTO_MAX_PARAMS)
			return false;
		if (strcmp(key, "user") == 0)
			s->user = value;
		else if (strcmp(key, "database") == 0)
			s->database = value;
		s->keys[s->n] = key;
		s->values[s->n] = value;
		s->n++;
	}
	return proto_remaining(&r) == 0;
}

bool proto_parse_param_status(const uint8_t *body, size_t len, const char **key, const char **value)
{
	struct proto_reader r;
	proto_reader_init(&r, body, len);
	*key = proto_get_str(&r);
	*value = proto_get_str(&r);
	return *key != NULL && *value != NULL;
}

bool proto_parse_error(const uint8_t *body, size_t len, struct proto_error_fields *f)
{
	struct proto_reader r;
	proto_reader_init(&r, body, len);
	memset(f, 0, sizeof(*f));
	for (;;) {
		uint8_t code = proto_get_u8(&r);
		if (r.bad)
			return false;
		if (code == 0)
			return true;
		const char *v = proto_get_str(&r);
		if (v == NULL)
			return false;
		if (code == 'V' || (code == 'S' && f->severity == NULL))
			f->severity = v;
		else if (code == 'C')
			f->sqlstate = v;
		else if (code == 'M')
			f->message = v;
	}
}

static bool is_digit(unsigned char ch)
{
	return (unsigned)(ch - '0') < 10;
}

/* Where the row count of a CommandComplete tag starts ("SELECT 5", "INSERT 0 3",
 * "COPY 10", ...), or 0 when the tag has none. */
static uint32_t rows_at(const char *tag, uint32_t len)
{
#define TAG_IS(word) \
	(len > sizeof(word) - 1 && memcmp(tag, word, sizeof(word) - 1) == 0 ? sizeof(word) - 1 : 0)
	uint32_t i;
	switch (tag[0]) {
	case 'S':
		return TAG_IS("SELECT ");
	case 'I': /* after the oid */
		for (i = TAG_IS("INSERT "); i > 0 && i < len && is_digit((unsigned char)tag[i]);
		     i++)
			;
		return i > 0 && i + 1 < len && tag[i] == ' ' ? i + 1 : 0;
	case 'U':
		return TAG_IS("UPDATE ");
	case 'D':
		return TAG_IS("DELETE ");
	case 'C':
		return TAG_IS("COPY ");
	case 'F':
		return TAG_IS("FETCH ");
	case 'M':
		return (i = TAG_IS("MOVE ")) ? i : TAG_IS("MERGE ");
	default:
		return 0;
	}
#undef TAG_IS
}

uint64_t proto_tag_rows_slow(const char *tag, uint32_t len)
{
	const unsigned char *d = (const unsigned char *)tag;
	uint32_t i = len > 0 ? rows_at(tag, len) : 0;
	uint64_t v = 0; /* the first 19 digits, so that it fits */
	for (uint32_t end = len < i + 19 ? len : i + 19; i > 0 && i < end && is_digit(d[i]); i++)
		v = v * 10 + (unsigned)(d[i] - '0');
	return v;
}

void pktbuf_init(struct pktbuf *b)
{
	memset(b, 0, sizeof(*b));
}

void pktbuf_free(struct pktbuf *b)
{
	free(b->data);
	pktbuf_init(b);
}

void pktbuf_reset(struct pktbuf *b)
{
	b->len = 0;
	b->msg_start = 0;
	b->failed = false;
}

static bool pktbuf_reserve(struct pktbuf *b, size_t n)
{
	if (b->failed)
		return false;
	if (b->cap - b->len >= n)
		return true;
	size_t cap = b->cap ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	uint8_t *d = realloc(b->data, cap);
	if (d == NULL) {
		b->failed = true;
		return false;
	}
	b->data = d;
	b->cap = cap;
	return true;
}

void pkt_put_bytes(struct pktbuf *b, const void *p, size_t n)
{
	if (n == 0 || !pktbuf_reserve(b, n))
		return;
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void pkt_put_u8(struct pktbuf *b, uint8_t v)
{
	pkt_put_bytes(b, &v, 1);
}

void pkt_put_u16(struct pktbuf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	pkt_put_bytes(b, x, 2);
}

void pkt_put_u32(struct pktbuf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	pkt_put_bytes(b, x, 4);
}

void pkt_put_str(struct pktbuf *b, const char *s)
{
	pkt_put_bytes(b, s, strlen(s) + 1);
}

void pkt_printf(struct pktbuf *b, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n > 0)
		pkt_put_bytes(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

void pkt_begin(struct pktbuf *b, uint8_t type)
{
	if (type != 0)
		pkt_put_u8(b, type);
	b->msg_start = b->len; /* the length field counts itself, not the type */
	pkt_put_u32(b, 0);
}

void pkt_end(struct pktbuf *b)
{
	if (b->failed)
		return;
	uint32_t len = (uint32_t)(b->len - b->msg_start);
	uint8_t *p = b->data + b->msg_start;
	p[0] = (uint8_t)(len >> 24);
	p[1] = (uint8_t)(len >> 16);
	p[2] = (uint8_t)(len >> 8);
	p[3] = (uint8_t)len;
}

static void build_fields(struct pktbuf *b, uint8_t type, const char *severity, const char *sqlstate,
			 const char *message)
{
	pkt_begin(b, type);
	pkt_put_u8(b, 'S');
	pkt_put_str(b, severity);
	pkt_put_u8(b, 'V');
	pkt_put_str(b, severity);
	pkt_put_u8(b, 'C');
	pkt_put_str(b, sqlstate);
	pkt_put_u8(b, 'M');
	pkt_put_str(b, message);
	pkt_put_u8(b, 0);
	pkt_end(b);
}

void proto_build_error(struct pktbuf *b, const char *severity, const char *sqlstate,
		       const char *message)
{
	build_fields(b, 'E', severity, sqlstate, message);
}

void proto_build_notice(struct pktbuf *b, const char *severity, const char *sqlstate,
			const char *message)
{
	build_fields(b, 'N', severity, sqlstate, message);
}

void proto_build_auth(struct pktbuf *b, uint32_t code, const void *data, size_t len)
{
	pkt_begin(b, 'R');
	pkt_put_u32(b, code);
	pkt_put_bytes(b, data, len);
	pkt_end(b);
}

void proto_build_param_status(struct pktbuf *b, const char *key, const char *value)
{
	pkt_begin(b, 'S');
	pkt_put_str(b, key);
	pkt_put_str(b, value);
	pkt_end(b);
}

void proto_build_backend_key(struct pktbuf *b, uint32_t pid, uint32_t key)
{
	pkt_begin(b, 'K');
	pkt_put_u32(b, pid);
	pkt_put_u32(b, key);
	pkt_end(b);
}

void proto_build_ready(struct pktbuf *b, char status)
{
	pkt_begin(b, 'Z');
	pkt_put_u8(b, (uint8_t)status);
	pkt_end(b);
}

void proto_build_query(struct pktbuf *b, const char *sql)
{
	pkt_begin(b, 'Q');
	pkt_put_str(b, sql);
	pkt_end(b);
}

void proto_build_terminate(struct pktbuf *b)
{
	pkt_begin(b, 'X');
	pkt_end(b);
}

void proto_build_password(struct pktbuf *b, const char *password)
{
	pkt_begin(b, 'p');
	pkt_put_str(b, password);
	pkt_end(b);
}

void proto_build_sasl_initial(struct pktbuf *b, const char *mech, const void *data, size_t len)
{
	pkt_begin(b, 'p');
	pkt_put_str(b, mech);
	pkt_put_u32(b, (uint32_t)len);
	pkt_put_bytes(b, data, len);
	pkt_end(b);
}

void proto_build_sasl_response(struct pktbuf *b, const void *data, size_t len)
{
	pkt_begin(b, 'p');
	pkt_put_bytes(b, data, len);
	pkt_end(b);
}

void proto_build_cancel(struct pktbuf *b, uint32_t pid, uint32_t key)
{
	pkt_begin(b, 0);
	pkt_put_u32(b, PROTO_CANCEL_REQUEST);
	pkt_put_u32(b, pid);
	pkt_put_u32(b, key);
	pkt_end(b);
}

void proto_build_ssl_request(struct pktbuf *b)
{
	pkt_begin(b, 0);
	pkt_put_u32(b, PROTO_SSL_REQUEST);
	pkt_end(b);
}

void proto_build_startup(struct pktbuf *b, const char *const *keys, const char *const *values,
			 int n)
{
	pkt_begin(b, 0);
	pkt_put_u32(b, PROTO_V3);
	for (int i = 0; i < n; i++) {
		pkt_put_str(b, keys[i]);
		pkt_put_str(b, values[i]);
	}
	pkt_put_u8(b, 0);
	pkt_end(b);
}

void proto_build_row_description(struct pktbuf *b, const char *const *names, const uint32_t *oids,
				 int n)
{
	pkt_begin(b, 'T');
	pkt_put_u16(b, (uint16_t)n);
	for (int i = 0; i < n; i++) {
		pkt_put_str(b, names[i]);
		pkt_put_u32(b, 0); /* table oid */
		pkt_put_u16(b, 0); /* column number */
		pkt_put_u32(b, oids[i]);
		int16_t size = oids[i] == PROTO_OID_INT4          ? 4
			       : oids[i] == PROTO_OID_INT8        ? 8
			       : oids[i] == PROTO_OID_TIMESTAMPTZ ? 8
								  : -1;
		pkt_put_u16(b, (uint16_t)size);
		pkt_put_u32(b, 0xffffffff); /* type modifier -1 */
		pkt_put_u16(b, 0);          /* text format */
	}
	pkt_end(b);
}

void proto_build_data_row(struct pktbuf *b, const char *const *values, int n)
{
	pkt_begin(b, 'D');
	pkt_put_u16(b, (uint16_t)n);
	for (int i = 0; i < n; i++) {
		if (values[i] == NULL) {
			pkt_put_u32(b, 0xffffffff);
			continue;
		}
		size_t len = strlen(values[i]);
		pkt_put_u32(b, (uint32_t)len);
		pkt_put_bytes(b, values[i], len);
	}
	pkt_end(b);
}

void proto_build_command_complete(struct pktbuf *b, const char *tag)
{
	pkt_begin(b, 'C');
	pkt_put_str(b, tag);
	pkt_end(b);
}
