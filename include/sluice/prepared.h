/*
 * prepared: named prepared statements in transaction and statement mode.
 * A client's statement names map to sluice-wide statements (query text and
 * parameter types, in a registry shared by all pools); every server keeps
 * the statements it has prepared under sluice's own names ("sluice_<id>"),
 * at most max_prepared_statements, the least recently used closed first.
 * Client messages that name a statement are rewritten to the server's name,
 * with a Parse injected before them when their server lacks it; Close and
 * DEALLOCATE are answered by sluice. PostgreSQL's own errors stay what the
 * client would get directly (42P05, 26000, 25P02).
 */
#ifndef SLUICE_PREPARED_H
#define SLUICE_PREPARED_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/iobuf.h"
#include "sluice/proto.h"

struct client;
struct server;
struct relay_expect;
struct prepared_registry;
struct prepared_client; /* a client's statement names */
struct prepared_server; /* the statements a server has prepared */

/* The registry of a runtime; never NULL (aborts when out of memory). */
struct prepared_registry *prepared_registry_new(void);
/* Free a registry once no client or server refers to it any more. */
void prepared_registry_free(struct prepared_registry *reg);
/* Distinct statements known (SHOW LISTS, tests). */
uint32_t prepared_registry_count(const struct prepared_registry *reg);

/* Forget a client's names (it is going away); *pc becomes NULL. */
void prepared_client_free(struct prepared_registry *reg, struct prepared_client **pc);
/* Forget what a server has prepared (closed, or DISCARD ALL ran on it). */
void prepared_server_free(struct prepared_registry *reg, struct prepared_server **ps);

/* Names a client has prepared / statements a server holds (SHOW CLIENTS/SERVERS). */
uint32_t prepared_client_count(const struct prepared_client *pc);
uint32_t prepared_server_count(const struct prepared_server *ps);

/* What prepared_client_message did with a message. */
enum prepared_verdict {
	PREP_PASS = 0, /* not about a named statement: relay it as it is */
	PREP_DONE,     /* handled: rewritten, answered or replaced, and framed */
	PREP_MORE,     /* more of the message must be in the buffer first (room made) */
};

static inline bool prepared_space(uint8_t ch)
{
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/*
 * Might the client message m (header at b->scan) name a prepared statement,
 * or be a DEALLOCATE? A cheap look at its first bytes, false for what most
 * traffic is: the unnamed statement, portals, Execute, Sync, ordinary queries.
 */
static inline bool prepared_maybe(const struct iobuf *b, const struct proto_msg *m)
{
	/* only Parse, Bind, Describe, Close and Query ('B' 'C' 'D' 'P' 'Q') can: one test */
	if (m->type < 'B' || m->type > 'Q' || !((1u << (m->type - 'B')) & 0xc007u))
		return false;
	if (iobuf_unscanned(b) < PROTO_HEADER_LEN + 2 || m->len < 2)
		return true; /* too little to tell: have a closer look */
	const uint8_t *body = b->data + b->scan + PROTO_HEADER_LEN;
	switch (m->type) {
	case 'P': /* named, or an unnamed one whose text may start with DEALLOCATE */
		return body[0] != '\0' || body[1] == 'D' || body[1] == 'd' ||
		       prepared_space(body[1]);
	case 'B': /* a portal's name, or a statement's */
		return body[0] != '\0' || body[1] != '\0';
	case 'Q':
		return body[0] == 'D' || body[0] == 'd' || prepared_space(body[0]);
	default: /* Describe, Close: of a named statement */
		return body[0] == 'S' && body[1] != '\0';
	}
}

/*
 * The client message m at the scan position of c's buffer goes to c's server
 * (linked, SV_ACTIVE): when it names a statement, rewrite it, inject what the
 * server lacks and frame the result for sending (PREP_DONE). Only for clients
 * whose pool tracks prepared statements (client.prepared_on).
 */
enum prepared_verdict prepared_client_message(struct client *c, const struct proto_msg *m);

/* relay hook: an expectation noted by this module is done (see relay_hooks.settle). */
void prepared_settle(struct server *s, struct relay_expect *x, bool ok, const char *sqlstate);

/* relay hook: a CommandComplete tag starting with 'D' went to the client:
 * DEALLOCATE ALL and DISCARD ALL dropped every statement of the session. */
void prepared_complete(struct server *s, const char *tag, uint32_t len);

#endif
