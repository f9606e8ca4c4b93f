/*
 * iobuf: per-connection receive buffers and the free list they come from.
 * A buffer is attached while a connection has bytes in flight and given
 * back when it drains, so idle connections hold no buffer at all.
 *
 * Layout: [0, start) consumed | [start, scan) framed, waiting to be sent to
 * the peer | [scan, end) received, not yet examined | [end, cap) free.
 */
#ifndef SLUICE_IOBUF_H
#define SLUICE_IOBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sluice/proto.h"

/* Bytes allocated past cap in every buffer: a word (8 bytes) read at any byte
 * of a buffer stays inside its allocation (query insight reads a text where it
 * lies, a word at a time; what it reads past the data decides nothing). */
#define IOBUF_SLACK 8

struct iobuf {
	uint8_t *data; /* cap bytes, and IOBUF_SLACK more allocated */
	uint32_t cap;
	uint32_t start;
	uint32_t scan;
	uint32_t end;
	struct iobuf *next_free;
};

struct iobuf_pool {
	struct iobuf *free;
	uint32_t size;   /* standard buffer size */
	size_t n_free;   /* buffers on the free list */
	size_t n_used;   /* buffers attached to connections */
	size_t max_free; /* keep at most this many on the free list */
};

/* Set up an empty pool handing out buffers of `size` bytes. */
void iobuf_pool_init(struct iobuf_pool *p, uint32_t size);
/* Free every buffer on the free list (attached ones belong to their connections). */
void iobuf_pool_clear(struct iobuf_pool *p);

/* An empty buffer of the standard size (never NULL; aborts on exhaustion). */
struct iobuf *iobuf_get(struct iobuf_pool *p);
/* Give a buffer back; one grown beyond the standard size is shrunk first. */
void iobuf_put(struct iobuf_pool *p, struct iobuf *b);

/* Move [start, end) to the front of the buffer. */
void iobuf_compact(struct iobuf *b);
/* Make room for a whole message of `need` bytes starting at `scan`:
 * compacts and grows as needed. */
void iobuf_reserve_message(struct iobuf *b, uint32_t need);

/*
 * Take one whole typed message at `scan` (for messages sluice reads itself).
 * PROTO_FRAME_OK: *m and *body describe it and it is consumed (start = scan =
 * its end); *body stays valid until the buffer is next written to.
 * PROTO_FRAME_NEED_MORE: room has been made for it. PROTO_FRAME_BAD_LENGTH:
 * its length is below 4 or above max_len.
 */
enum proto_frame_result iobuf_take_message(struct iobuf *b, uint32_t max_len, struct proto_msg *m,
					   const uint8_t **body);

/* Mark the rest of a streamed message (*remain bytes still to come) as framed,
 * as far as it is in the buffer. */
static inline void iobuf_pass_remaining(struct iobuf *b, uint32_t *remain)
{
	uint32_t avail = b->end - b->scan;
	uint32_t take = avail < *remain ? avail : *remain;
	b->scan += take;
	*remain -= take;
}

/* Mark a message of `total` bytes at scan as framed; what is not in the buffer
 * yet goes to *remain and is streamed through as it arrives. */
static inline void iobuf_pass_message(struct iobuf *b, uint32_t total, uint32_t *remain)
{
	uint32_t avail = b->end - b->scan;
	if (total <= avail) {
		b->scan += total;
	} else {
		*remain = total - avail;
		b->scan = b->end;
	}
}

static inline uint32_t iobuf_unscanned(const struct iobuf *b)
{
	return b->end - b->scan;
}
static inline uint32_t iobuf_pending(const struct iobuf *b)
{
	return b->scan - b->start;
}
static inline bool iobuf_drained(const struct iobuf *b)
{
	return b->start == b->end;
}

#endif
