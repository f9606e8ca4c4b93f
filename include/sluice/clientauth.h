/*
 * clientauth: authenticating a client after its StartupMessage, per
 * auth_type against auth_file: trust, plain (cleartext), md5 (SCRAM when the
 * stored secret is a SCRAM secret) and scram-sha-256; under auth_type = hba
 * per the first matching rule of auth_hba_file, which may also say reject,
 * peer (with an auth_ident_file map) or cert, and refuses a client no rule
 * matches with PostgreSQL's 28000 "no pg_hba.conf entry". Unknown users, empty
 * passwords and secrets the method cannot use go through the same exchange
 * against a mock secret (under SCRAM, a salt fixed per user name, as
 * PostgreSQL does) and fail with the same 28P01 message as a wrong password,
 * in the same time, so user names cannot be probed.
 */
#ifndef SLUICE_CLIENTAUTH_H
#define SLUICE_CLIENTAUTH_H

#include <stddef.h>
#include <stdint.h>

struct client;

/* Largest authentication message accepted from a client. */
#define CLIENTAUTH_MAX_MSG 8192

/* Start authenticating c (user and database known). Ends in client_authenticated or a close. */
void clientauth_begin(struct client *c);

/* A PasswordMessage / SASL message body from the client. */
void clientauth_message(struct client *c, const uint8_t *body, uint32_t len);

/* Drop any authentication state (secret copy, SCRAM exchange). */
void clientauth_reset(struct client *c);

#endif
