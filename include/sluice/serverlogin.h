/*
 * serverlogin: logging in to PostgreSQL on a new server connection: the
 * StartupMessage, answering trust / cleartext / md5 / SCRAM-SHA-256 with the
 * password from the [databases] entry or auth_file (or the secret auth_query
 * gave, or SCRAM keys learnt from a client), collecting ParameterStatus and BackendKeyData.
 */
#ifndef SLUICE_SERVERLOGIN_H
#define SLUICE_SERVERLOGIN_H

#include <stdbool.h>
#include <stdint.h>

struct server;

/* Send the StartupMessage. False when it cannot be sent. */
bool serverlogin_start(struct server *s) __attribute__((warn_unused_result));

/* One whole message from the server during SV_LOGIN. */
void serverlogin_message(struct server *s, uint8_t type, const uint8_t *body, uint32_t len);

/* Free log-in state (SCRAM exchange, collected parameters). */
void serverlogin_free(struct server *s);

#endif
