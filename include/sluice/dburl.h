/*
 * dburl: parses a libpq connection URI, the DATABASE_URL an application
 * already has ("postgresql://user:password@host:port/dbname?sslmode=require"),
 * into its parts. Pure: no I/O, no globals. Used by config to build a
 * one-database pooler without a config file.
 */
#ifndef SLUICE_DBURL_H
#define SLUICE_DBURL_H

#include <stdbool.h>
#include <stddef.h>

/* Every string is percent-decoded and malloc'd; NULL when the URL does not give it. */
struct dburl {
	char *user;
	char *password;
	char *host; /* a name, an address (IPv6 without brackets) or a unix socket dir */
	int port;   /* 0 when not given */
	char *dbname;
	/* query parameters sluice maps onto its server-side keys */
	char *sslmode;         /* server_tls_sslmode */
	char *sslrootcert;     /* server_tls_ca_file */
	char *sslcert;         /* server_tls_cert_file */
	char *sslkey;          /* server_tls_key_file */
	char *connect_timeout; /* server_connect_timeout, seconds */
};

/*
 * Parse `url` ("postgresql://" or "postgres://"; user, password, host, port,
 * dbname and the parameters above, in the URI or as ?key=value). One host
 * only. False at the first problem, *out all NULL, with a reason in err that
 * never quotes the password (nor anything after the scheme, which may hold
 * it). The caller frees a parsed URL with dburl_free.
 */
bool dburl_parse(const char *url, struct dburl *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Free every member (the password wiped first) and zero *u; NULL members are fine. */
void dburl_free(struct dburl *u);

#endif
