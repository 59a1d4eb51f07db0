/* tessera-agent — the event stream of SUBSCRIBE: readers, cards, tokens,
 * logins and keys, sent to every subscribed connection in order.
 * Main loop only, except events_login_changed. */
#pragma once

#include "connection.h"
#include "token.h"

#include <stdint.h>

void events_subscribe(TesseraConn *conn, uint32_t request_id);
/* TPROTO_EVENT_READER_* or TPROTO_EVENT_CARD_* for a PC/SC reader. */
void events_reader(uint8_t kind, const char *reader);
/* The token became present or absent: the token and each of its keys. */
void events_token_changed(TesseraToken *token, gboolean present);
/* Any thread. */
void events_login_changed(TesseraToken *token, gboolean logged_in);
/* Drops every subscriber (shutdown). */
void events_clear(void);
