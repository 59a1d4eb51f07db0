/* tessera — wire messages: types, limits, error codes and the codec.
 *
 * proto/PROTOCOL.md is the normative description; this header mirrors it.
 * Decoders return borrowed views into the frame (no allocation), reject
 * trailing bytes and enforce every limit below; encoders enforce the same
 * limits, so one side never produces what the other must refuse.
 */
#pragma once

#include "buf.h"

#define TPROTO_VERSION 1
#define TPROTO_HEADER_LEN 9            /* u32 length, u8 type, u32 request id */
#define TPROTO_MAX_FRAME (1024 * 1024) /* length field excluded */
#define TPROTO_MAX_TEXT 4096           /* names, labels, ids, messages */
#define TPROTO_MAX_DATA 16384          /* digests, signatures, ciphertexts, points */
#define TPROTO_MAX_PIN 256
#define TPROTO_MAX_CERT 65536
#define TPROTO_MAX_HELLO_OPTIONS 32

enum tproto_type {
  /* requests */
  TPROTO_HELLO = 1,
  TPROTO_STATUS = 2,
  TPROTO_LIST_TOKENS = 3,
  TPROTO_LIST_KEYS = 4,
  TPROTO_SIGN = 5,
  TPROTO_DECRYPT = 6,
  TPROTO_DERIVE = 7,
  TPROTO_LOGIN = 8,
  TPROTO_LOGOUT = 9,
  TPROTO_FIND_KEY = 10, /* resolves a key argument; answered with R_KEYS */
  TPROTO_SUBSCRIBE = 11,    /* R_OK, then R_EVENT frames until the connection ends */
  TPROTO_LIST_READERS = 12, /* R_READERS */
  /* replies */
  TPROTO_R_ERROR = 0x80,
  TPROTO_R_HELLO = 0x81,
  TPROTO_R_STATUS = 0x82,
  TPROTO_R_TOKENS = 0x83,
  TPROTO_R_KEYS = 0x84,
  TPROTO_R_DATA = 0x85, /* SIGN, DECRYPT, DERIVE */
  TPROTO_R_OK = 0x86,   /* LOGIN, LOGOUT, SUBSCRIBE */
  TPROTO_R_READERS = 0x87,
  TPROTO_R_EVENT = 0x88, /* carries the SUBSCRIBE request's id */
};

/* Stable error codes: never renumbered, only added to. */
enum tproto_error_code {
  TPROTO_ERR_PROTOCOL = 1,       /* malformed frame or message */
  TPROTO_ERR_VERSION = 2,        /* no common protocol version */
  TPROTO_ERR_UNKNOWN_REQUEST = 3,
  TPROTO_ERR_FRAME_TOO_LARGE = 4,
  TPROTO_ERR_HELLO_REQUIRED = 5,
  TPROTO_ERR_NO_SUCH_TOKEN = 10,
  TPROTO_ERR_NO_SUCH_KEY = 11,
  TPROTO_ERR_AMBIGUOUS = 12,
  TPROTO_ERR_NOT_LOGGED_IN = 13,
  TPROTO_ERR_PIN_INCORRECT = 14,
  TPROTO_ERR_PIN_LOCKED = 15,
  TPROTO_ERR_PIN_INVALID = 16,
  TPROTO_ERR_KEY_USAGE = 17,     /* key does not allow this operation */
  TPROTO_ERR_MECHANISM = 18,     /* mechanism not supported by this key/token */
  TPROTO_ERR_BAD_INPUT = 19,     /* data has the wrong length or form */
  TPROTO_ERR_TOKEN_ERROR = 20,   /* the token/module failed */
  TPROTO_ERR_TOKEN_ABSENT = 21,
  TPROTO_ERR_INTERNAL = 22,
  TPROTO_ERR_PIN_CANCELLED = 23,
  TPROTO_ERR_CARD_REMOVED = 24,
  TPROTO_ERR_BUSY = 25,
  TPROTO_ERR_DECRYPT_FAILED = 26, /* ciphertext rejected by the token */
  TPROTO_ERR_ALREADY_LOGGED_IN = 27,
  TPROTO_ERR_PIN_ENTRY_FAILED = 28, /* no PIN dialog could be shown */
  TPROTO_ERR_DENIED = 29,           /* the user refused the operation */
};

enum tproto_key_type { TPROTO_KEY_RSA = 1, TPROTO_KEY_EC = 2 };

enum tproto_op { TPROTO_OP_SIGN = 1u << 0, TPROTO_OP_DECRYPT = 1u << 1, TPROTO_OP_DERIVE = 1u << 2 };

enum tproto_key_flag {
  TPROTO_KEY_ALWAYS_AUTH = 1u << 0, /* CKA_ALWAYS_AUTHENTICATE */
  TPROTO_KEY_HAS_CERT = 1u << 1,
  TPROTO_KEY_AVAILABLE = 1u << 2, /* its token is present */
  TPROTO_KEY_PRIVATE_SEEN = 1u << 3, /* private key object visible (else inferred) */
};

enum tproto_token_flag {
  TPROTO_TOKEN_PRESENT = 1u << 0,
  TPROTO_TOKEN_LOGGED_IN = 1u << 1,
  TPROTO_TOKEN_LOGIN_REQUIRED = 1u << 2,
  TPROTO_TOKEN_PROTECTED_AUTH = 1u << 3, /* PIN pad */
  TPROTO_TOKEN_PIN_COUNT_LOW = 1u << 4,
  TPROTO_TOKEN_PIN_FINAL_TRY = 1u << 5,
  TPROTO_TOKEN_PIN_LOCKED = 1u << 6,
};

enum tproto_event_kind {
  TPROTO_EVENT_READER_ADDED = 1,
  TPROTO_EVENT_READER_REMOVED = 2,
  TPROTO_EVENT_CARD_INSERTED = 3,
  TPROTO_EVENT_CARD_REMOVED = 4,
  TPROTO_EVENT_TOKEN_PRESENT = 5,
  TPROTO_EVENT_TOKEN_ABSENT = 6,
  TPROTO_EVENT_LOGGED_IN = 7,
  TPROTO_EVENT_LOGGED_OUT = 8,
  TPROTO_EVENT_KEY_AVAILABLE = 9,
  TPROTO_EVENT_KEY_UNAVAILABLE = 10,
};

enum tproto_reader_flag {
  TPROTO_READER_CARD_PRESENT = 1u << 0,
};

enum tproto_capability {
  TPROTO_CAP_SIGN = 1u << 0,
  TPROTO_CAP_DECRYPT = 1u << 1,
  TPROTO_CAP_DERIVE = 1u << 2,
  TPROTO_CAP_LOGIN = 1u << 3,
  TPROTO_CAP_PIPELINE = 1u << 4,
  TPROTO_CAP_EVENTS = 1u << 5, /* SUBSCRIBE and LIST_READERS */
};

enum tproto_mech {
  TPROTO_MECH_RSA_PKCS = 1, /* SIGN: DigestInfo in; DECRYPT: PKCS#1 v1.5 */
  TPROTO_MECH_RSA_PSS = 2,  /* SIGN: digest in */
  TPROTO_MECH_ECDSA = 3,    /* SIGN: digest in, raw r||s out */
  TPROTO_MECH_RSA_OAEP = 4, /* DECRYPT */
  TPROTO_MECH_ECDH = 5,     /* DERIVE: uncompressed point in, raw secret out */
};

enum tproto_hash {
  TPROTO_HASH_NONE = 0,
  TPROTO_HASH_SHA1 = 1,
  TPROTO_HASH_SHA224 = 2,
  TPROTO_HASH_SHA256 = 3,
  TPROTO_HASH_SHA384 = 4,
  TPROTO_HASH_SHA512 = 5,
};

typedef struct {
  uint8_t type;
  uint32_t id;
} tproto_header;

typedef struct {
  uint32_t version_min, version_max;
  tproto_bytes client_name;
  uint32_t n_options; /* key=value context, e.g. DISPLAY; unknown keys ignored */
  tproto_bytes option_keys[TPROTO_MAX_HELLO_OPTIONS];
  tproto_bytes option_values[TPROTO_MAX_HELLO_OPTIONS];
} tproto_hello;

typedef struct {
  uint32_t version;
  tproto_bytes agent_name;
  uint32_t capabilities;
  uint32_t max_frame;
} tproto_hello_reply;

typedef struct {
  tproto_bytes agent_version;
  uint32_t pid;
  uint64_t uptime_s;
  uint32_t n_clients, n_tokens, n_keys;
} tproto_status;

typedef struct {
  tproto_bytes id; /* RFC 7512 token URI */
  tproto_bytes label, manufacturer, model, serial, module;
  uint32_t flags; /* tproto_token_flag */
  uint32_t n_keys;
  uint32_t login_ends_s; /* seconds until the login ends; 0 = not logged in */
} tproto_token;

typedef struct {
  tproto_bytes id; /* RFC 7512 object URI, stable across restarts */
  tproto_bytes label, token_id;
  uint8_t key_type; /* tproto_key_type */
  uint32_t bits;
  uint32_t ops;   /* tproto_op */
  uint32_t flags; /* tproto_key_flag */
  tproto_bytes cert; /* X.509 DER, may be empty */
  tproto_bytes spki; /* SubjectPublicKeyInfo DER, may be empty */
} tproto_key;

typedef struct {
  tproto_bytes name;
  uint32_t flags;   /* tproto_reader_flag */
  tproto_bytes atr; /* the card's ATR, empty without a card */
} tproto_reader;

typedef struct {
  uint8_t kind; /* tproto_event_kind */
  tproto_bytes reader, token_id, key_id; /* empty when not about one */
} tproto_event;

typedef struct {
  tproto_bytes key;
  uint8_t mech, hash, mgf_hash; /* hash/mgf_hash/salt_len: PSS only */
  uint32_t salt_len;
  tproto_bytes data;
} tproto_sign;

typedef struct {
  tproto_bytes key;
  uint8_t mech, hash, mgf_hash; /* OAEP only */
  tproto_bytes label;           /* OAEP only */
  tproto_bytes data;
} tproto_decrypt;

typedef struct {
  tproto_bytes key;
  uint8_t mech;
  tproto_bytes peer; /* uncompressed EC point 04||X||Y */
} tproto_derive;

typedef struct {
  tproto_bytes token;
  tproto_bytes pin;
} tproto_login;

typedef struct {
  uint32_t code;
  tproto_bytes message;
} tproto_error;

/* Helpers to build views for encoding. */
tproto_bytes tproto_str(const char *s);
tproto_bytes tproto_mem(const void *p, size_t n);

/* Framing. frame_peek looks at a stream prefix: returns 1 when a whole
 * frame is available (*frame_len = header + body), 0 when more bytes are
 * needed, TPROTO_E_TOO_LARGE / TPROTO_E_INVALID when the length is bad. */
int tproto_frame_peek(const uint8_t *p, size_t avail, size_t *frame_len);
/* Parses a whole frame: header out, body positioned at the payload. */
int tproto_frame_open(const uint8_t *frame, size_t len, tproto_header *h, tproto_buf *body);
/* Starts a frame at the end of b; returns its offset via *start. */
int tproto_frame_begin(tproto_buf *b, uint8_t type, uint32_t id, size_t *start);
int tproto_frame_end(tproto_buf *b, size_t start);

/* Encoders append one whole frame to b. */
int tproto_enc_hello(tproto_buf *b, uint32_t id, const tproto_hello *m);
int tproto_enc_empty(tproto_buf *b, uint8_t type, uint32_t id); /* STATUS, LIST_TOKENS, R_OK */
int tproto_enc_list_keys(tproto_buf *b, uint32_t id, tproto_bytes token); /* empty = all */
int tproto_enc_sign(tproto_buf *b, uint32_t id, const tproto_sign *m);
int tproto_enc_decrypt(tproto_buf *b, uint32_t id, const tproto_decrypt *m);
int tproto_enc_derive(tproto_buf *b, uint32_t id, const tproto_derive *m);
int tproto_enc_login(tproto_buf *b, uint32_t id, const tproto_login *m);
int tproto_enc_logout(tproto_buf *b, uint32_t id, tproto_bytes token); /* empty = all */
int tproto_enc_find_key(tproto_buf *b, uint32_t id, tproto_bytes key);
int tproto_enc_error(tproto_buf *b, uint32_t id, uint32_t code, const char *message);
int tproto_enc_hello_reply(tproto_buf *b, uint32_t id, const tproto_hello_reply *m);
int tproto_enc_status(tproto_buf *b, uint32_t id, const tproto_status *m);
int tproto_enc_tokens(tproto_buf *b, uint32_t id, const tproto_token *t, size_t n);
int tproto_enc_keys(tproto_buf *b, uint32_t id, const tproto_key *k, size_t n);
int tproto_enc_data(tproto_buf *b, uint32_t id, tproto_bytes data);
int tproto_enc_readers(tproto_buf *b, uint32_t id, const tproto_reader *r, size_t n);
int tproto_enc_event(tproto_buf *b, uint32_t id, const tproto_event *e);

/* Decoders read a body from tproto_frame_open and require it fully used. */
int tproto_dec_hello(tproto_buf *body, tproto_hello *m);
int tproto_dec_empty(tproto_buf *body);
int tproto_dec_list_keys(tproto_buf *body, tproto_bytes *token);
int tproto_dec_sign(tproto_buf *body, tproto_sign *m);
int tproto_dec_decrypt(tproto_buf *body, tproto_decrypt *m);
int tproto_dec_derive(tproto_buf *body, tproto_derive *m);
int tproto_dec_login(tproto_buf *body, tproto_login *m);
int tproto_dec_logout(tproto_buf *body, tproto_bytes *token);
int tproto_dec_find_key(tproto_buf *body, tproto_bytes *key);
int tproto_dec_error(tproto_buf *body, tproto_error *m);
int tproto_dec_hello_reply(tproto_buf *body, tproto_hello_reply *m);
int tproto_dec_status(tproto_buf *body, tproto_status *m);
/* Lists: read the count, then each entry, then tproto_dec_end. */
int tproto_dec_list_count(tproto_buf *body, size_t min_entry, uint32_t *n);
int tproto_dec_token(tproto_buf *body, tproto_token *t);
int tproto_dec_key(tproto_buf *body, tproto_key *k);
int tproto_dec_data(tproto_buf *body, tproto_bytes *data);
int tproto_dec_reader(tproto_buf *body, tproto_reader *r);
int tproto_dec_event(tproto_buf *body, tproto_event *e);
int tproto_dec_end(tproto_buf *body);

#define TPROTO_TOKEN_MIN_LEN (6 * 4 + 12)
#define TPROTO_KEY_MIN_LEN (3 * 4 + 1 + 4 * 3 + 2 * 4)
#define TPROTO_READER_MIN_LEN (4 + 4 + 4)
#define TPROTO_MAX_ATR 33

const char *tproto_type_name(uint8_t type);
const char *tproto_error_name(uint32_t code); /* "NO_SUCH_KEY"; NULL if unknown */
const char *tproto_hash_name(uint8_t hash);   /* "sha256"; NULL if unknown */
int tproto_hash_from_name(const char *name);  /* -1 if unknown */
size_t tproto_hash_len(uint8_t hash);         /* 0 if unknown/none */
const char *tproto_mech_name(uint8_t mech);
const char *tproto_event_name(uint8_t kind); /* "card-inserted"; NULL if unknown */
