/*
 * insight: per-statement statistics of what applications run through sluice,
 * keyed by (database, user, application_name, fingerprint), in a table of at
 * most query_stats_max entries (the least recently used is evicted): calls,
 * rows, errors by SQLSTATE class, execution time (total, max, p50/p99) and the
 * time each execution first waited for a server. Texts are fingerprinted
 * (fingerprint.c) once per distinct raw text, through a cache keyed by a hash
 * of the raw bytes; nothing of a literal or a parameter is kept.
 *
 * Attribution: each Query or Execute sent carries the statement it runs (a
 * Parse names the text; a Bind names the statement, unnamed or named) in its
 * relay expectation, and is charged when it is answered (insight_settle):
 * one call, the rows of its CommandCompletes, its time (from when it was
 * sent, or in a pipeline from when the one before it was answered) and its
 * error. One that the server skipped after an earlier statement's error is
 * not a call; one skipped after its own Bind failed is a failed call. A
 * Parse that fails is a failed call of its statement.
 */
#ifndef SLUICE_INSIGHT_H
#define SLUICE_INSIGHT_H

#include <stdbool.h>
#include <stdint.h>

#include "sluice/config.h"
#include "sluice/nplusone.h"

/* Bytes of a statement's text that are fingerprinted: a longer one is told
 * apart from others by its first 64 KB (SHOW QUERIES shows 1 KB of its
 * normalised text). */
#define INSIGHT_TEXT_MAX (64 * 1024)

struct client;
struct insight;
struct insight_client;
struct relay_expect;

/* The table; NULL-safe free. */
struct insight *insight_new(void);
void insight_free(struct insight *in);

/* RESET QUERIES: forget every statement (clients' references become stale, safely). */
void insight_reset(struct insight *in);

/* A client's own state (statement slots); freed with the client. */
void insight_client_free(struct insight_client *ic);

/* The client sends a Query (type 'Q') or Parse ('P') whose text (possibly
 * truncated) client.c has just noted (c->last_query), and for a Parse its
 * statement name. */
void insight_text(struct insight *in, const struct config *cfg, struct client *c, uint8_t type,
		  const char *name);

/*
 * Before that: is the text, where it lies in the client's buffer (its NUL
 * within text[0..avail), up to 7 bytes after it readable), the client's
 * text before again, or that but for a number? Then it is noted as
 * insight_text would have it and c->last_query holds it: true. Else false
 * (c->last_query may have been written over): client.c notes the text
 * anew and calls insight_text.
 */
bool insight_text_again(struct insight *in, const struct config *cfg, struct client *c,
			uint8_t type, const char *name, const char *text, uint32_t avail);

/* The client closes statement `name` (a Close; NULL: all of them, as DEALLOCATE
 * ALL and DISCARD ALL do): its Binds are no longer its. */
void insight_close(struct client *c, const char *name);

/* The client sends a Bind of statement `name` ("" for the unnamed one) with these
 * parameter bytes (hashed, for the N+1 detector's "other parameters"; never kept). */
void insight_bind(struct client *c, const char *name, const void *params, uint32_t len);

/*
 * A Query or an Execute went to the server, queued as x (NULL when it was
 * answered without a new expectation: prepared.c's work): x carries its
 * statement (RELAY_OP_INSIGHT) for insight_settle; the statement is charged
 * with the client's wait for the server it runs on (c->waited, taken), and
 * the N+1 detector runs: the same statement run at least
 * n_plus_one_threshold times in a row with other parameters, right after
 * another statement, within a transaction (in_tx) or with gaps under
 * n_plus_one_window, is a loop: counted once per run in SHOW N_PLUS_ONE, a
 * WARNING at most once a minute per pattern.
 */
void insight_sent(struct insight *in, const struct config *cfg, struct client *c,
		  struct relay_expect *x, bool in_tx);

/* A Parse the relay expects a reply to went to the server as x: x carries
 * the Parse's statement, which a failed Parse is charged to as a failed
 * call (a Parse and Sync alone, as drivers prepare, included); the Execute
 * the server then skips is no call. */
void insight_parse_sent(struct client *c, struct relay_expect *x);

/* A CommandComplete whose tag begins with 'D' reached the client: what it closes
 * (DEALLOCATE ALL, DISCARD ALL). (Rows are counted by the relay: relay.rows.) */
void insight_complete_d(struct client *c, const char *tag, uint32_t len);

/* An ErrorResponse with this SQLSTATE ("" when unknown) in reply to x (NULL when
 * nothing was expected) reached the client. */
void insight_error(struct client *c, const struct relay_expect *x, const char *sqlstate);

/*
 * The server answered x, a RELAY_OP_INSIGHT expectation of client c (NULL
 * when it has gone): ok, failed with sqlstate, or (sqlstate NULL) skipped,
 * with the rows its CommandCompletes reported. Charges the statement: call,
 * rows, time, error, slow-statement log.
 */
void insight_settle(struct insight *in, const struct config *cfg, struct client *c,
		    const struct relay_expect *x, bool ok, const char *sqlstate, uint64_t rows);

/* A Parse of named statement `name` that prepared.c sent on (renamed, with an
 * op of its own) failed with sqlstate: a failed call of its statement, as
 * insight_settle makes of a Parse it carries. */
void insight_parse_failed(struct insight *in, const struct config *cfg, struct client *c,
			  const char *name, const char *sqlstate);

/* The exchange ended (its last ReadyForQuery): what was not charged is forgotten. */
void insight_done(struct client *c);

/* One statement, for SHOW QUERIES, /metrics and the status page (a loop is a
 * struct insight_loop, nplusone.h); strings live until the table changes. */
struct insight_row {
	const char *db, *user, *app, *text;
	uint64_t queryid, calls, rows, errors;
	usec_t total, wait, max, mean, p50, p99;
	char error_classes[64]; /* "22:3,42:1": SQLSTATE class and count */
};

/* fn for each of the `top` statements (all: -1) of database db (all: NULL) with
 * the largest total time, largest first. */
void insight_foreach_top(struct insight *in, const char *db, int top,
			 void (*fn)(const struct insight_row *row, void *arg), void *arg);
/* fn for each N+1 pattern found. */
void insight_foreach_loop(struct insight *in, void (*fn)(const struct insight_loop *l, void *arg),
			  void *arg);

/* Entries held, and evictions since start, for SHOW MEM-like checks and metrics. */
uint32_t insight_count(const struct insight *in);
uint64_t insight_evictions(const struct insight *in);

#endif
