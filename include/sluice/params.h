/*
 * params: session parameters that follow a client from server to server.
 * "Tracked" parameters are the ones PostgreSQL reports with ParameterStatus
 * (so the pooler always knows a server's current value); "extra" parameters
 * are other start-up settings (search_path, statement_timeout, options -c ...)
 * that sluice sets itself and therefore remembers per server.
 */
#ifndef SLUICE_PARAMS_H
#define SLUICE_PARAMS_H

#include <stdbool.h>

#include "sluice/proto.h"

enum {
	PARAM_CLIENT_ENCODING = 0,
	PARAM_DATESTYLE,
	PARAM_TIMEZONE,
	PARAM_INTERVALSTYLE,
	PARAM_STANDARD_CONFORMING_STRINGS,
	PARAM_APPLICATION_NAME,
	PARAM_TRACKED,
};

struct param_kv {
	char *key;
	char *value;
};

struct param_set {
	char *tracked[PARAM_TRACKED]; /* interned (see params.c); NULL: unknown / not requested */
	struct param_kv *extra;
	int n_extra;
	int cap_extra;
};

/* Canonical name of a tracked parameter ("DateStyle"). */
const char *param_tracked_name(int idx);
/* Index of a tracked parameter by case-insensitive name, or -1. */
int param_tracked_index(const char *name);

void param_set_free(struct param_set *ps);
/* Free an array of *n key/value pairs and what they hold; *kv becomes NULL, *n 0. */
void param_kv_free(struct param_kv **kv, int *n);
/* Hold one more reference to a tracked value (ps->tracked[i], or NULL), so its
 * address names that value until the matching param_value_drop. */
char *param_value_hold(char *value);
void param_value_drop(char *value);
/* Set tracked parameter idx to a copy of value (NULL clears). */
void param_set_tracked(struct param_set *ps, int idx, const char *value);
/* Set (value != NULL) or remove (value == NULL) an extra parameter; key is lower-cased. */
void param_set_extra(struct param_set *ps, const char *key, const char *value);
const char *param_get_extra(const struct param_set *ps, const char *key);
void param_clear_extra(struct param_set *ps);

/*
 * PostgreSQL's own name of an encoding ("UTF8" for "utf8", "unicode" or
 * "UTF-8"), as it reports client_encoding; `value` itself when it names no
 * encoding PostgreSQL knows (the server then refuses it). The result is a
 * static string or `value`.
 */
const char *param_encoding_name(const char *value);

/* True when `name` is a safe GUC name: letters, digits, '_' and '.'. */
bool param_name_valid(const char *name);

/*
 * Apply one start-up parameter of a client to `ps`: tracked ones into
 * tracked[], "options" parsed for "-c k=v" and "--k=v", anything else as an
 * extra. Returns false with a message in err for unusable input.
 */
bool param_apply_startup(struct param_set *ps, const char *key, const char *value, char *err,
			 size_t errlen) __attribute__((warn_unused_result));

/*
 * Build the SQL that makes a server with parameters `have` match what the
 * client wants (`want`, falling back to `defaults` for tracked ones the client
 * did not ask for). Appends "SELECT pg_catalog.set_config(E'k', E'v', false);"
 * / "RESET k;" to sql (a growing
 * text buffer, NUL-terminated) and updates have's extras to the new state.
 * Returns true when anything was appended.
 */
bool param_build_sync(const struct param_set *want, const struct param_set *defaults,
		      struct param_set *have, struct pktbuf *sql);

#endif
