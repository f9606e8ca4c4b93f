/*
 * configkey: the typed-value layer under config. A key table describes the
 * members of a struct (name, type, offset, range); this module parses a
 * key's text into its member, renders it back as SHOW CONFIG shows it, frees
 * what it owns, and applies libpq-style "key=value ..." strings through a
 * table. It knows nothing of the INI file or of which keys exist.
 */
#ifndef SLUICE_CONFIGKEY_H
#define SLUICE_CONFIGKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIGKEY_WHY_LEN 256 /* room for any message the functions below write */
#define USEC_PER_SEC      INT64_C(1000000)

enum key_type {
	T_INT,      /* int, decimal, within [min, max] */
	T_MODE,     /* int, octal file mode, within [min, max] */
	T_BOOL,     /* bool: 0/1, on/off, true/false, yes/no */
	T_STR,      /* char *, never NULL; "" is a value */
	T_OPTSTR,   /* char *, NULL when empty */
	T_DURATION, /* usec_t; text in seconds (fractions allowed) or with a unit */
	T_ENUM,     /* an int-sized enum, one of `words` */
	T_LIST,     /* char **, NULL-terminated, never NULL; text is comma-separated */
};

/* A word of an enum key. value < 0: a PgBouncer word sluice refuses. */
struct enum_word {
	const char *word;
	int value;
};

#define WORD_UNSUPPORTED (-1)

/*
 * One key. `offset` is into the struct its table describes (struct config,
 * struct config_db or struct config_user); `size` is the size of that member,
 * checked against the type so a table typo cannot write past a field.
 */
struct key_def {
	const char *name;
	enum key_type type;
	const char *def; /* default as text; NULL in the db/user tables */
	bool reloadable;
	size_t offset;
	size_t size;
	int64_t min, max; /* T_INT, T_MODE; T_DURATION in usec */
	const struct enum_word *words;
};

/* Parse `text` for key k and store it into obj (freeing the old value); on
 * failure nothing changes and why says what is wrong (never echoing text that
 * may be a password). */
bool configkey_assign(void *obj, const struct key_def *k, const char *text, char *why,
		      size_t whylen);

/* The member's value as text (malloc'd; NULL when out of memory). */
char *configkey_render(const void *obj, const struct key_def *k);

/* Free what the keys of `table` own inside obj. */
void configkey_release(void *obj, const struct key_def *table, size_t n);

/* The key named `name` (case-insensitive), or NULL. */
const struct key_def *configkey_find(const struct key_def *table, size_t n, const char *name);

/* The entry of a NULL-terminated word list matching text (case-insensitive), or NULL. */
const struct enum_word *configkey_word_find(const struct enum_word *words, const char *text);

/* Apply every key=value of a connection string to obj through the table;
 * false with why set at the first bad pair (unknown key, bad value, syntax). */
bool configkey_apply_connstr(void *obj, const struct key_def *fields, size_t n, const char *text,
			     char *why, size_t whylen);

/* p past any white space. */
const char *configkey_skip_space(const char *p);

#endif
