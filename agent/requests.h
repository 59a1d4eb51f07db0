/* tessera-agent — one process_* handler per request type. */
#pragma once

#include "connection.h"
#include "messages.h"

/* Handles one whole frame from conn; may reply now or via a token job. */
void requests_dispatch(TesseraConn *conn, const tproto_header *header, tproto_buf *body);

/* Marks the agent's start time for STATUS. */
void requests_init(void);
