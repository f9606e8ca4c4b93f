/*
 * resultset: building the result sets of console commands. A table of
 * rs_column describes the columns; rs_* calls add the cells of a row in order.
 */
#ifndef SLUICE_RESULTSET_H
#define SLUICE_RESULTSET_H

#include <stdint.h>

#include "sluice/config.h"
#include "sluice/proto.h"

#define RS_MAX_COLS 40
#define RS_CELL     96 /* bytes of one formatted cell (longer values: rs_text) */

/* One column: its name and type OID; a table ends with { NULL, 0 }. */
struct rs_column {
	const char *name;
	uint32_t oid;
};

/* A result set being written into `out`. */
struct rs {
	struct pktbuf *out;
	int ncols;
	int n; /* cells in the current row */
	int rows;
	const char *vals[RS_MAX_COLS];
	char cells[RS_MAX_COLS][RS_CELL];
};

/* Start a result set: writes the RowDescription of `cols` (at most RS_MAX_COLS). */
void rs_begin(struct rs *rs, struct pktbuf *out, const struct rs_column *cols);
/* A text cell, copied (truncated to RS_CELL - 1 bytes); NULL is SQL NULL. */
void rs_str(struct rs *rs, const char *v);
/* A long text cell, not copied: v must live until rs_row. */
void rs_text(struct rs *rs, const char *v);
void rs_int(struct rs *rs, int64_t v);
/* A wall-clock time (µs since the epoch) as timestamptz text in UTC; 0 is NULL. */
void rs_time(struct rs *rs, usec_t wall);
/* Write the DataRow of the cells added since the last row. */
void rs_row(struct rs *rs);
/* Write the CommandComplete "SHOW". */
void rs_end(struct rs *rs);

/* The wall-clock time of a monotonic instant (0 stays 0). */
usec_t wall_of(usec_t mono);

#endif
