/* tessera-agent — the Assuan line protocol that pinentry speaks: building
 * command lines and parsing the server's response lines. No I/O.
 *
 * Response lines come from another program and are untrusted: the parser
 * refuses anything malformed with an error and never reads outside the
 * bytes it is given. Its error messages never quote the line, which may be
 * a data line carrying a PIN.
 */
#pragma once

#include "secret.h"

#include <glib.h>
#include <stdint.h>

/* The longest line Tessera sends, its LF included: the protocol's limit. */
#define ASSUAN_LINE_MAX 1000
/* The longest line accepted from a server, its LF included. libassuan
 * reads lines into a 1002-byte buffer and its data lines reach 1001 bytes,
 * so holding servers to 1000 would refuse what real pinentries send. */
#define ASSUAN_RECV_LINE_MAX 1002

/* libgpg-error codes pinentry answers with, in the low 16 bits of an ERR
 * code; the bits above hold the error source (5 = pinentry), which varies. */
#define ASSUAN_GPG_ERR_TIMEOUT 62
#define ASSUAN_GPG_ERR_CANCELED 99
#define ASSUAN_GPG_ERR_NOT_CONFIRMED 114
#define ASSUAN_GPG_ERR_FULLY_CANCELED 198
#define ASSUAN_GPG_ERR_CODE(err) ((uint32_t)(err)&0xffffu)

/* "VERB text" with text percent-escaped (%, backslash, DEL and every byte
 * below 0x20 become %XX), as SETDESC, SETPROMPT, SETTITLE, SETERROR, SETOK
 * and SETCANCEL take it. Invalid UTF-8 is replaced first. A text too long
 * for one line is cut at a character boundary and ends in "…". NULL or ""
 * gives the bare verb. Returns the line without its LF; it always fits in
 * ASSUAN_LINE_MAX with the LF. */
char *assuan_command_with_text(const char *verb, const char *text);

/* "OPTION name=value". Servers take option values literally (they are not
 * unescaped), so a value that would need escaping cannot be sent: NULL for
 * a value with control characters or invalid UTF-8, or one too long. */
char *assuan_option(const char *name, const char *value);

typedef enum {
  ASSUAN_RESPONSE_OK,      /* OK [text]: the command succeeded */
  ASSUAN_RESPONSE_ERR,     /* ERR code [text]: it failed */
  ASSUAN_RESPONSE_DATA,    /* D data: part of the command's result */
  ASSUAN_RESPONSE_STATUS,  /* S keyword [args]: progress information */
  ASSUAN_RESPONSE_COMMENT, /* # text: to be ignored */
  ASSUAN_RESPONSE_INQUIRE, /* INQUIRE keyword [args]: the server asks back */
} AssuanResponseKind;

typedef struct {
  AssuanResponseKind kind;
  uint32_t code; /* ERR only */
  /* The rest of the line after the verb and its space (for DATA the still
   * escaped data): points into the parsed line, not NUL-terminated. */
  const char *text;
  size_t text_len;
} AssuanResponse;

/* Parses one line as received, without its LF (a CR before it is allowed).
 * The line must not hold NUL bytes and, LF included, must fit in
 * ASSUAN_RECV_LINE_MAX. The data of a D line is unescaped and appended to
 * data when data is not NULL; nothing is appended when the line is refused
 * or the data would not fit (an error as well). On error returns FALSE
 * with G_IO_ERROR_INVALID_DATA. */
gboolean assuan_parse_response(const char *line, size_t len, TesseraSecret *data,
                               AssuanResponse *response, GError **error);

/* Untrusted text (an ERR or OK message) made fit for a log or an error
 * message: valid UTF-8 without control characters. */
char *assuan_text_for_display(const char *text, size_t len);
