/*
 * resultset: writes a text-format result set (RowDescription, DataRows,
 * CommandComplete "SHOW") the way the admin console answers. Cells are
 * formatted into fixed slots of the struct, so a row costs no allocation.
 */
#include "sluice/resultset.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sluice/util.h"

void rs_begin(struct rs *rs, struct pktbuf *out, const struct rs_column *cols)
{
	const char *names[RS_MAX_COLS];
	uint32_t oids[RS_MAX_COLS];
	int n = 0;
	for (; cols[n].name; n++) {
		names[n] = cols[n].name;
		oids[n] = cols[n].oid;
	}
	memset(rs, 0, sizeof(*rs));
	rs->out = out;
	rs->ncols = n;
	proto_build_row_description(out, names, oids, n);
}

void rs_str(struct rs *rs, const char *v)
{
	if (v == NULL) {
		rs->vals[rs->n++] = NULL;
		return;
	}
	snprintf(rs->cells[rs->n], RS_CELL, "%s", v);
	rs->vals[rs->n] = rs->cells[rs->n];
	rs->n++;
}

/* A long text cell (query text, config values): points at caller-owned memory. */
void rs_text(struct rs *rs, const char *v)
{
	rs->vals[rs->n++] = v;
}

void rs_int(struct rs *rs, int64_t v)
{
	snprintf(rs->cells[rs->n], RS_CELL, "%" PRId64, v);
	rs->vals[rs->n] = rs->cells[rs->n];
	rs->n++;
}

/* A wall-clock time (µs since the epoch) as timestamptz text in UTC; 0 is NULL. */
void rs_time(struct rs *rs, usec_t wall)
{
	if (wall <= 0) {
		rs_str(rs, NULL);
		return;
	}
	time_t secs = (time_t)(wall / 1000000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	char *cell = rs->cells[rs->n];
	size_t len = strftime(cell, RS_CELL, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(cell + len, RS_CELL - len, ".%06d+00", (int)(wall % 1000000));
	rs->vals[rs->n] = cell;
	rs->n++;
}

void rs_row(struct rs *rs)
{
	proto_build_data_row(rs->out, rs->vals, rs->n);
	rs->n = 0;
	rs->rows++;
}

void rs_end(struct rs *rs)
{
	proto_build_command_complete(rs->out, "SHOW");
}

usec_t wall_of(usec_t mono)
{
	return mono ? util_wallclock() - (util_now() - mono) : 0;
}
