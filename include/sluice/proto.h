/*
 * proto: the PostgreSQL v3 wire protocol as pure functions over byte buffers.
 * Framing of typed and start-up messages, a bounds-checked reader for message
 * bodies, and builders for the messages sluice itself sends. No sockets, no
 * globals: everything here is unit tested and safe to fuzz.
 */
#ifndef SLUICE_PROTO_H
#define SLUICE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PROTO_HEADER_LEN     5      /* type byte + int32 length */
#define PROTO_V3             196608 /* 3.0 */
#define PROTO_SSL_REQUEST    80877103
#define PROTO_GSSENC_REQUEST 80877104
#define PROTO_CANCEL_REQUEST 80877102
#define PROTO_STARTUP_MAX    10000 /* PostgreSQL's own limit for start-up packets */

enum proto_frame_result {
	PROTO_FRAME_NEED_MORE = 0, /* header incomplete */
	PROTO_FRAME_OK,            /* header valid; body may still be partial */
	PROTO_FRAME_BAD_LENGTH,    /* length < 4 or above the limit: protocol violation */
};

/* A framed message header. `len` is the body length (the int32 minus 4). */
struct proto_msg {
	uint8_t type;
	uint32_t len;   /* body bytes */
	uint32_t total; /* header + body bytes */
};

/* A big-endian int32 at p. */
static inline uint32_t proto_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/*
 * Frame a typed message at buf[0..avail). Fills *m when the header is present
 * and the length is valid (4 <= length <= max_len). The body may be partial:
 * the caller compares m->total with avail. Inline: it runs for every message
 * relayed.
 */
static inline enum proto_frame_result proto_frame(const uint8_t *buf, size_t avail,
						  uint32_t max_len, struct proto_msg *m)
{
	if (avail < PROTO_HEADER_LEN)
		return PROTO_FRAME_NEED_MORE;
	uint32_t len = proto_be32(buf + 1);
	if (len < 4 || len > max_len || len > UINT32_MAX - 1)
		return PROTO_FRAME_BAD_LENGTH;
	m->type = buf[0];
	m->len = len - 4;
	m->total = len + 1;
	return PROTO_FRAME_OK;
}

/*
 * Frame a start-up phase packet (no type byte): needs 8 bytes for length and
 * code. `len` is the whole packet length including the length field; valid
 * range 8..PROTO_STARTUP_MAX.
 */
enum proto_frame_result proto_frame_startup(const uint8_t *buf, size_t avail, uint32_t *len,
					    uint32_t *code);

/* --- reading message bodies --- */
struct proto_reader {
	const uint8_t *p;
	size_t len;
	size_t pos;
	bool bad; /* set on any read past the end; reads then return 0/"" */
};

void proto_reader_init(struct proto_reader *r, const uint8_t *body, size_t len);
uint8_t proto_get_u8(struct proto_reader *r);
uint16_t proto_get_u16(struct proto_reader *r);
uint32_t proto_get_u32(struct proto_reader *r);
/* NUL-terminated string inside the body; NULL (and r->bad) when unterminated. */
const char *proto_get_str(struct proto_reader *r);
/* `n` raw bytes; NULL (and r->bad) when fewer remain. */
const uint8_t *proto_get_bytes(struct proto_reader *r, size_t n);
static inline size_t proto_remaining(const struct proto_reader *r)
{
	return r->len - r->pos;
}

/* Start-up message parameters: pointers into the caller's body buffer. */
#define PROTO_MAX_PARAMS 64
struct proto_startup {
	uint32_t code;
	const char *keys[PROTO_MAX_PARAMS];
	const char *values[PROTO_MAX_PARAMS];
	int n;
	const char *user;     /* NULL when absent */
	const char *database; /* NULL when absent */
};

/*
 * Parse a StartupMessage body (after the length: code, then pairs). Returns
 * false for a malformed packet (missing terminator, too many pairs, key with
 * no value). The body must stay alive while *s is used.
 */
bool proto_parse_startup(const uint8_t *body, size_t len, struct proto_startup *s)
	__attribute__((warn_unused_result));

/* ParameterStatus body: pointers into it; false when malformed. */
bool proto_parse_param_status(const uint8_t *body, size_t len, const char **key, const char **value)
	__attribute__((warn_unused_result));

/* Fields of an ErrorResponse / NoticeResponse: pointers into the body. */
struct proto_error_fields {
	const char *severity; /* 'V' (non-localized) or 'S' */
	const char *sqlstate; /* 'C' */
	const char *message;  /* 'M' */
};
bool proto_parse_error(const uint8_t *body, size_t len, struct proto_error_fields *f)
	__attribute__((warn_unused_result));

uint64_t proto_tag_rows_slow(const char *tag, uint32_t len); /* (proto_tag_rows) */

/*
 * The rows a CommandComplete tag (not NUL-terminated within len) reports:
 * "SELECT 5", "INSERT 0 3", "UPDATE 2", "DELETE 1", "MERGE 4", "COPY 10",
 * "FETCH 25", "MOVE 3"; 0 for a tag with none. Its first 19 digits at most.
 * A one-digit SELECT, the commonest tag of all, is read as one word.
 */
static inline uint64_t proto_tag_rows(const char *tag, uint32_t len)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (len == sizeof("SELECT n") && tag[8] == '\0') {
		uint64_t w, select;
		memcpy(&select, "SELECT 0", 8);
		memcpy(&w, tag, 8);
		w ^= select; /* zero but for the top byte, the digit's value when it is one */
		if ((w << 8) == 0 && (w >> 56) < 10)
			return w >> 56;
	}
#endif
	return proto_tag_rows_slow(tag, len);
}

/* --- building messages --- */

/* A growable output buffer. On allocation failure `failed` is set and further puts are no-ops. */
struct pktbuf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t msg_start; /* offset of the length field of the message being built */
	bool failed;
};

void pktbuf_init(struct pktbuf *b);
void pktbuf_free(struct pktbuf *b);
void pktbuf_reset(struct pktbuf *b);
void pkt_begin(struct pktbuf *b, uint8_t type); /* type 0: start-up packet (no type byte) */
void pkt_put_u8(struct pktbuf *b, uint8_t v);
void pkt_put_u16(struct pktbuf *b, uint16_t v);
void pkt_put_u32(struct pktbuf *b, uint32_t v);
void pkt_put_bytes(struct pktbuf *b, const void *p, size_t n);
void pkt_put_str(struct pktbuf *b, const char *s); /* with its NUL */
/* printf into b, without a NUL; at most 1023 bytes a call (text: metrics, HTML). */
void pkt_printf(struct pktbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pkt_end(struct pktbuf *b); /* patches the length */

/* ErrorResponse with severity (ERROR/FATAL), SQLSTATE and message. */
void proto_build_error(struct pktbuf *b, const char *severity, const char *sqlstate,
		       const char *message);
/* NoticeResponse (severity WARNING/NOTICE). */
void proto_build_notice(struct pktbuf *b, const char *severity, const char *sqlstate,
			const char *message);
/* Authentication request with code and optional payload. */
void proto_build_auth(struct pktbuf *b, uint32_t code, const void *data, size_t len);
void proto_build_param_status(struct pktbuf *b, const char *key, const char *value);
void proto_build_backend_key(struct pktbuf *b, uint32_t pid, uint32_t key);
void proto_build_ready(struct pktbuf *b, char status);
void proto_build_query(struct pktbuf *b, const char *sql);
void proto_build_terminate(struct pktbuf *b);
/* PasswordMessage carrying a NUL-terminated string. */
void proto_build_password(struct pktbuf *b, const char *password);
/* SASLInitialResponse: mechanism and initial response bytes. */
void proto_build_sasl_initial(struct pktbuf *b, const char *mech, const void *data, size_t len);
/* SASLResponse: raw bytes. */
void proto_build_sasl_response(struct pktbuf *b, const void *data, size_t len);
void proto_build_cancel(struct pktbuf *b, uint32_t pid, uint32_t key);
/* SSLRequest: 8 bytes, answered by one byte 'S' or 'N'. */
void proto_build_ssl_request(struct pktbuf *b);
/* StartupMessage 3.0 from NULL-terminated key/value arrays. */
void proto_build_startup(struct pktbuf *b, const char *const *keys, const char *const *values,
			 int n);

/* Type OIDs used in result sets sluice builds itself. */
#define PROTO_OID_BOOL        16
#define PROTO_OID_INT4        23
#define PROTO_OID_INT8        20
#define PROTO_OID_TEXT        25
#define PROTO_OID_TIMESTAMPTZ 1184
#define PROTO_OID_NUMERIC     1700

/* RowDescription for n text-format columns. */
void proto_build_row_description(struct pktbuf *b, const char *const *names, const uint32_t *oids,
				 int n);
/* DataRow of n text values; NULL is SQL NULL. */
void proto_build_data_row(struct pktbuf *b, const char *const *values, int n);
void proto_build_command_complete(struct pktbuf *b, const char *tag);

#endif
