/* libtessera-client — a small blocking C API to tessera-agent.
 *
 * libc and the proto codec only: no GLib, no threads, no global state, safe
 * to load into any program (the PKCS#11 module and S/MIME tool build on it).
 * A connection is not thread-safe; use one per thread or lock around it.
 * Every call returns TESSERA_OK (0) or a negative local error
 * (TESSERA_E_*) or a positive agent error code (enum tproto_error_code in
 * proto/messages.h, installed as <tessera/messages.h>);
 * tessera_client_last_error() gives the message.
 *
 * One request at a time: each call sends a request with a fresh id and
 * waits for the reply carrying that id. After TESSERA_E_IO or
 * TESSERA_E_PROTOCOL (including a reply with another id) the connection is
 * closed and every later call fails with TESSERA_E_IO: reconnect.
 * Writes use MSG_NOSIGNAL, so a vanished agent never raises SIGPIPE.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TESSERA_OK 0
#define TESSERA_E_CONNECT (-1)  /* no agent listening (or socket unreachable) */
#define TESSERA_E_IO (-2)       /* connection lost mid-request */
#define TESSERA_E_PROTOCOL (-3) /* the agent sent something we cannot parse */
#define TESSERA_E_NOMEM (-4)
#define TESSERA_E_ARG (-5)      /* invalid argument from the caller */
#define TESSERA_E_TIMEOUT (-6)  /* tessera_next_event: nothing within the timeout */

typedef struct tessera_client tessera_client;

typedef struct {
  char *id; /* token URI */
  char *label, *manufacturer, *model, *serial, *module;
  uint32_t flags; /* TPROTO_TOKEN_* */
  uint32_t n_keys;
  uint32_t login_ends_s; /* seconds until the login ends; 0 = not logged in */
} tessera_token;

typedef struct {
  char *id; /* stable key id: RFC 7512 PKCS#11 URI */
  char *label;
  char *token_id;
  uint8_t key_type; /* TPROTO_KEY_RSA / TPROTO_KEY_EC */
  uint32_t bits;
  uint32_t ops;   /* TPROTO_OP_* */
  uint32_t flags; /* TPROTO_KEY_* */
  uint8_t *cert;  /* X.509 DER or NULL */
  size_t cert_len;
  uint8_t *spki;  /* SubjectPublicKeyInfo DER or NULL */
  size_t spki_len;
} tessera_key;

typedef struct {
  char *agent_version;
  uint32_t pid;
  uint64_t uptime_s;
  uint32_t n_clients, n_tokens, n_keys;
} tessera_status;

/* The socket path clients use: $TESSERA_SOCKET, else
 * $XDG_RUNTIME_DIR/tessera/agent.sock. Returns a malloc'd string or NULL
 * when neither variable is set. */
char *tessera_default_socket_path(void);

/* Connects (path NULL = default) and performs HELLO (protocol version 1).
 * client_name (NULL = "libtessera-client") shows up in the agent's logs.
 * On failure *out is NULL and, when err_msg is not NULL, *err_msg receives
 * a malloc'd explanation (free()); for TESSERA_E_CONNECT it is the reason
 * only, e.g. "No such file or directory", without the path. An agent that
 * refuses the connection (e.g. another uid) yields its positive code. */
int tessera_client_connect(const char *path, const char *client_name, tessera_client **out,
                           char **err_msg);
/* Context the agent may need on the client's behalf, sent in HELLO; the
 * agent ignores keys it does not know. Both connect calls also send this
 * process's DISPLAY, WAYLAND_DISPLAY, XAUTHORITY, DBUS_SESSION_BUS_ADDRESS,
 * TERM and TTY (GPG_TTY, else the terminal of stdin/stdout/stderr), so the
 * agent's PIN dialog shows where this program runs; options given here
 * replace those. At most 32 options; key non-empty, value NULL = "". */
typedef struct {
  const char *key;
  const char *value;
} tessera_option;
int tessera_client_connect_with_options(const char *path, const char *client_name,
                                        const tessera_option *options, size_t n_options,
                                        tessera_client **out, char **err_msg);
void tessera_client_free(tessera_client *c);

/* Message of the last failed call on c (never NULL; "" after success). */
const char *tessera_client_last_error(const tessera_client *c);
/* Negotiated protocol version, agent name and capabilities. */
uint32_t tessera_client_version(const tessera_client *c);
const char *tessera_client_agent_name(const tessera_client *c);
uint32_t tessera_client_capabilities(const tessera_client *c);

int tessera_status_get(tessera_client *c, tessera_status *out);
void tessera_status_clear(tessera_status *s);

/* Lists tokens / keys; free with tessera_tokens_free / tessera_keys_free.
 * token_filter NULL or "" lists the keys of every token. */
int tessera_list_tokens(tessera_client *c, tessera_token **out, size_t *n);
void tessera_tokens_free(tessera_token *t, size_t n);
int tessera_list_keys(tessera_client *c, const char *token_filter, tessera_key **out, size_t *n);
void tessera_keys_free(tessera_key *k, size_t n);
/* The one key that name (id, PKCS#11 URI, label or unique id prefix)
 * stands for, resolved by the agent exactly as the operations below
 * resolve it; free with tessera_keys_free(k, 1). */
int tessera_find_key(tessera_client *c, const char *name, tessera_key **out);

/* Private-key operations. key: a key id, PKCS#11 URI, label or unique id
 * prefix (the agent resolves it). Output is malloc'd (never NULL on
 * success, even when empty); free with tessera_free_secret (which wipes)
 * or free(). On failure *out is NULL and *out_len 0.
 *  - RSA PKCS#1 v1.5: data = DER DigestInfo; hash/mgf/salt ignored.
 *  - RSA-PSS: data = digest; hash, mgf_hash, salt_len as in PKCS#11.
 *  - ECDSA: data = digest; signature is raw r||s (each half the size of
 *    the group order), as PKCS#11 returns it. */
int tessera_sign(tessera_client *c, const char *key, uint8_t mech, uint8_t hash, uint8_t mgf_hash,
                 uint32_t salt_len, const uint8_t *data, size_t data_len, uint8_t **sig,
                 size_t *sig_len);
/* mech TPROTO_MECH_RSA_PKCS or TPROTO_MECH_RSA_OAEP (hash, mgf_hash, label). */
int tessera_decrypt(tessera_client *c, const char *key, uint8_t mech, uint8_t hash,
                    uint8_t mgf_hash, const uint8_t *label, size_t label_len, const uint8_t *in,
                    size_t in_len, uint8_t **out, size_t *out_len);
/* ECDH (TPROTO_MECH_ECDH): peer = uncompressed point; out = shared x. */
int tessera_derive(tessera_client *c, const char *key, uint8_t mech, const uint8_t *peer,
                   size_t peer_len, uint8_t **out, size_t *out_len);
/* token: token URI, label or serial. The PIN is sent once and not kept;
 * the request buffer that carried it is wiped. */
int tessera_login(tessera_client *c, const char *token, const char *pin, size_t pin_len);
/* The agent asks the user for the PIN itself (pinentry, or the reader's
 * PIN pad) and logs in; blocks until the user has answered.
 * TPROTO_ERR_PIN_CANCELLED when the user cancelled. */
int tessera_login_prompt(tessera_client *c, const char *token);
/* token NULL or "" logs out every token. */
int tessera_logout(tessera_client *c, const char *token);

/* Smart-card readers as pcscd reports them; free with tessera_readers_free. */
typedef struct {
  char *name;
  uint32_t flags; /* TPROTO_READER_CARD_PRESENT */
  uint8_t *atr;   /* the card's ATR or NULL */
  size_t atr_len;
} tessera_reader;
int tessera_list_readers(tessera_client *c, tessera_reader **out, size_t *n);
void tessera_readers_free(tessera_reader *r, size_t n);

/* Events: after tessera_subscribe the connection only delivers events
 * (readers and cards coming and going, logins, keys becoming available);
 * use another connection for requests. */
typedef struct {
  uint8_t kind; /* TPROTO_EVENT_* */
  char *reader, *token_id, *key_id; /* "" when the event is not about one */
} tessera_event;
int tessera_subscribe(tessera_client *c);
/* Waits up to timeout_ms (-1 = forever) for the next event;
 * TESSERA_E_TIMEOUT when none came. Free with tessera_event_clear. */
int tessera_next_event(tessera_client *c, int timeout_ms, tessera_event *out);
void tessera_event_clear(tessera_event *e);
/* The connection's socket, to poll() for events alongside other work;
 * -1 once the connection is closed. */
int tessera_client_fd(const tessera_client *c);

/* Wipes len bytes at p, then free()s it; NULL is fine. */
void tessera_free_secret(void *p, size_t len);

#ifdef __cplusplus
}
#endif
