/*
 * iobuf: receive buffers on a LIFO free list, so the buffer a connection
 * gets is the one most recently touched (warm in cache).
 */
#include "sluice/iobuf.h"

#include <stdlib.h>
#include <string.h>

#include "sluice/util.h"

void iobuf_pool_init(struct iobuf_pool *p, uint32_t size)
{
	memset(p, 0, sizeof(*p));
	p->size = size;
	p->max_free = 128; /* enough to absorb churn; more would be idle memory */
}

void iobuf_pool_clear(struct iobuf_pool *p)
{
	while (p->free) {
		struct iobuf *b = p->free;
		p->free = b->next_free;
		free(b->data);
		free(b);
	}
	p->n_free = 0;
}

struct iobuf *iobuf_get(struct iobuf_pool *p)
{
	struct iobuf *b = p->free;
	if (b != NULL) {
		p->free = b->next_free;
		p->n_free--;
	} else {
		b = xmalloc(sizeof(*b));
		b->data = xmalloc((size_t)p->size + IOBUF_SLACK);
		b->cap = p->size;
	}
	b->start = b->scan = b->end = 0;
	b->next_free = NULL;
	p->n_used++;
	return b;
}

void iobuf_put(struct iobuf_pool *p, struct iobuf *b)
{
	p->n_used--;
	if (b->cap != p->size || p->n_free >= p->max_free) {
		free(b->data);
		free(b);
		return;
	}
	b->next_free = p->free;
	p->free = b;
	p->n_free++;
}

void iobuf_compact(struct iobuf *b)
{
	if (b->start == 0)
		return;
	uint32_t n = b->end - b->start;
	memmove(b->data, b->data + b->start, n);
	b->scan -= b->start;
	b->end -= b->start;
	b->start = 0;
}

void iobuf_reserve_message(struct iobuf *b, uint32_t need)
{
	if (b->cap - b->scan >= need)
		return;
	iobuf_compact(b);
	if (b->cap - b->scan >= need)
		return;
	uint32_t cap = b->cap;
	while (cap - b->scan < need)
		cap = cap * 2 > cap ? cap * 2 : need + b->scan;
	b->data = xrealloc(b->data, (size_t)cap + IOBUF_SLACK);
	b->cap = cap;
}

enum proto_frame_result iobuf_take_message(struct iobuf *b, uint32_t max_len, struct proto_msg *m,
					   const uint8_t **body)
{
	enum proto_frame_result r = proto_frame(b->data + b->scan, iobuf_unscanned(b), max_len, m);
	if (r != PROTO_FRAME_OK)
		return r;
	if (iobuf_unscanned(b) < m->total) {
		iobuf_reserve_message(b, m->total);
		return PROTO_FRAME_NEED_MORE;
	}
	*body = b->data + b->scan + PROTO_HEADER_LEN;
	b->scan += m->total;
	b->start = b->scan;
	return PROTO_FRAME_OK;
}
