/* Integration test harness: real SoftHSM2 tokens (tests/make-tokens.sh),
 * the real tessera-agent binary, libtessera-client, and OpenSSL to check
 * every result independently of the agent.
 *
 * Environment (set by tests/integration/meson.build):
 *   TESSERA_AGENT   path of the tessera-agent executable
 *   MAKE_TOKENS     path of tests/make-tokens.sh
 *   SOFTHSM_MODULE  the SoftHSM2 PKCS#11 module
 */
#pragma once

#include "messages.h"
#include "tessera-client.h"

#include <glib.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#define TEST_PIN "123456"
#define TEST_TOKEN_1 "tessera-test-1"
#define TEST_TOKEN_2 "tessera-test-2"
#define TEST_N_KEYS 6

G_DEFINE_AUTOPTR_CLEANUP_FUNC(tessera_client, tessera_client_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_PKEY, EVP_PKEY_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_PKEY_CTX, EVP_PKEY_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509, X509_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(ECDSA_SIG, ECDSA_SIG_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509_SIG, X509_SIG_free)

/* What make-tokens.sh puts on the tokens. */
typedef struct {
  const char *label;
  const char *token;
  uint8_t ckaid;
  uint8_t key_type; /* TPROTO_KEY_* */
  uint32_t bits;
  uint32_t ops;     /* TPROTO_OP_*, as the private key allows */
} TestKeySpec;

extern const TestKeySpec test_keys[TEST_N_KEYS];
const TestKeySpec *test_key_spec(const char *label);

/* g_test_init(), then the tokens in a fresh temporary directory; the
 * directory is removed by harness_run() after the tests. */
void harness_init(int *argc, char ***argv);
/* The same, with an option for make-tokens.sh (e.g. --always-auth-token). */
void harness_init_with(int *argc, char ***argv, const char *make_tokens_option);
int harness_run(void);
const char *harness_dir(void);
char *harness_file(const char *name); /* g_free() */
/* A fresh, empty directory inside the harness directory. */
char *harness_mkdtemp(const char *prefix);

typedef struct {
  GPid pid;
  char *socket_path; /* where the agent listens */
  /* tests/pinentry/fake-pinentry, the agent's pinentry: its answers (one
   * per line: "pin 123456", "cancel", ...) and the commands it received */
  char *pinentry_script;
  char *pinentry_log;
} TestAgent;

typedef struct {
  const char *socket_path;     /* --socket; NULL = a fresh path in the harness dir */
  gboolean default_socket;     /* pass no --socket (uses XDG_RUNTIME_DIR) */
  const char *xdg_runtime_dir; /* for default_socket */
  gboolean no_modules;         /* no --module: the agent serves no tokens */
  const char *const *prefix;   /* command to run the agent under, e.g. setpriv ... */
  const char *config_home;     /* XDG_CONFIG_HOME; NULL = an empty dir in the harness dir */
  const char *config;          /* agent.conf contents (written to a fresh config home) */
  const char *spy_log;         /* load SoftHSM through OpenSC's pkcs11-spy, logging here */
  const char *pinentry;        /* --pinentry; NULL = tests/pinentry/fake-pinentry */
  const char *debug_log;       /* run with --debug, stderr to this file */
} TestAgentOptions;

/* Starts an agent and waits until its socket accepts connections; fails
 * the test if it exits or is not ready within 10 s. */
TestAgent *test_agent_start(void);
TestAgent *test_agent_start_full(const TestAgentOptions *o);
/* Only spawns (for agents expected to fail); the caller waits. */
GPid test_agent_spawn(const TestAgentOptions *o, const char *socket_path);
/* waitpid() with a deadline: the wait status, or -1 if still running. */
int test_wait_pid(GPid pid, guint timeout_ms);
/* SIGTERM; asserts exit status 0 and the socket removed. */
void test_agent_stop(TestAgent *a);
/* Kills without checks (for the failure paths of a test). */
void test_agent_free(TestAgent *a);

/* Replaces the fake pinentry's remaining answers (and forgets how many
 * were used). */
void test_pinentry_answers(const TestAgent *a, const char *lines);
/* What the fake pinentry received so far, "" if nothing; g_free(). */
char *test_pinentry_log(const TestAgent *a);
/* Lines of text that contain needle. */
guint test_count_lines(const char *text, const char *needle);

/* A connected socket, or -1 (raw connect(), no HELLO). */
int test_socket_connect(const char *path);
/* libtessera-client connection; asserts success. It says PROMPT=no, so a
 * token that is not logged in gives NOT_LOGGED_IN rather than a dialog. */
tessera_client *test_connect(const TestAgent *a);
/* The same, but the agent may ask for PINs (tests/pinentry/fake-pinentry). */
tessera_client *test_connect_prompting(const TestAgent *a);
tessera_client *test_connect_with(const TestAgent *a, const tessera_option *options, size_t n);
void test_login(tessera_client *c, const char *token);
/* Asserts rc == expected; for errors also that the message is non-empty. */
#define test_assert_rc(c, rc, expected) test_assert_rc_impl((c), (rc), (expected), G_STRLOC)
void test_assert_rc_impl(tessera_client *c, int rc, int expected, const char *where);

/* Files made by make-tokens.sh. */
GBytes *test_cert_der(const char *label);
EVP_PKEY *test_cert_pubkey(const char *label);

/* Crypto done locally with OpenSSL. */
const EVP_MD *test_md(uint8_t hash);
GBytes *test_digest(uint8_t hash, const void *data, size_t len);
GBytes *test_digest_info(uint8_t hash, GBytes *digest); /* DER DigestInfo */
/* Verification of the agent's signature over digest; FALSE if it fails. */
gboolean test_verify(EVP_PKEY *pub, uint8_t mech, uint8_t hash, GBytes *digest,
                     const uint8_t *sig, size_t sig_len);
/* Signs a fresh message with key (label) on the agent and verifies the
 * signature with the certificate's public key; asserts throughout. Usable
 * from any thread (tessera_client per thread). */
void test_sign_and_verify(tessera_client *c, const char *label, uint8_t mech, uint8_t hash);
/* Natural signing mechanism of a key type: RSA PKCS#1 or ECDSA. */
uint8_t test_default_mech(const char *label);
