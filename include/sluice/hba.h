/*
 * hba: PgBouncer's auth_hba_file, a file in PostgreSQL's pg_hba.conf format,
 * loaded into rules, and the first-match look-up that picks a client's
 * authentication method. What PgBouncer supports is supported; what it
 * does not (samerole, +group, samehost, host names, ident, ldap, ...) is
 * refused at load with `path:line: reason` rather than silently matching
 * nothing. Pure: reads files, no sockets, no globals.
 */
#ifndef SLUICE_HBA_H
#define SLUICE_HBA_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* The methods a rule may name (pg_hba.conf's words in comments). */
enum hba_method {
	HBA_TRUST = 0, /* "trust" */
	HBA_REJECT,    /* "reject" */
	HBA_PASSWORD,  /* "password": cleartext */
	HBA_MD5,       /* "md5": SCRAM when the stored secret is a SCRAM secret */
	HBA_SCRAM,     /* "scram-sha-256" */
	HBA_CERT,      /* "cert": hostssl rules only */
	HBA_PEER,      /* "peer": local rules only ("ident" on a local rule means peer) */
};

/* How a client is connected, as the rule types tell them apart. */
enum hba_conn {
	HBA_LOCAL = 0,  /* unix socket: matches `local` rules */
	HBA_HOST_PLAIN, /* TCP without TLS: `host` and `hostnossl` */
	HBA_HOST_TLS,   /* TCP with TLS: `host` and `hostssl` */
};

/* What the first matching rule says. */
struct hba_verdict {
	enum hba_method method;
	const char *map; /* map=NAME of a peer or cert rule, else NULL */
	int line;        /* the rule's line in the file (0 for a built-in verdict) */
};

struct hba;

/*
 * Load a pg_hba.conf-format file. Returns NULL with "path:line: reason" in
 * err (or "path: strerror" when it cannot be read) at the first line that
 * cannot be used; the whole file is then refused. An `@file` in a database
 * or user field is read relative to the directory of the file naming it.
 * A file with no rules is valid (and matches nobody). The caller frees
 * with hba_free.
 */
struct hba *hba_load(const char *path, char *err, size_t errlen);

/* Free rules from hba_load; NULL is allowed. */
void hba_free(struct hba *hba);

/* Number of rules, for tests and logs; 0 for NULL. */
size_t hba_count(const struct hba *hba);

/*
 * The first rule that matches a client connected as `conn` from `addr`
 * (ignored for HBA_LOCAL, may then be NULL) asking for `database` as
 * `user`, or NULL when none does (PostgreSQL: no pg_hba.conf entry, which
 * is a refusal). An IPv4-mapped IPv6 address matches as the IPv4 address
 * it carries. Names compare case-sensitively. hba may be NULL (no rules).
 * The result lives as long as hba.
 */
const struct hba_verdict *hba_match(const struct hba *hba, enum hba_conn conn,
				    const struct sockaddr *addr, const char *database,
				    const char *user);

/* The method's pg_hba.conf word ("scram-sha-256", ...); never NULL. */
const char *hba_method_str(enum hba_method m);

#endif
