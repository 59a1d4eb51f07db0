/* Every error a client can provoke through the real agent: the right
 * stable code and a message that says what went wrong. */
#include "harness.h"

#include <string.h>

typedef struct {
  TestAgent *agent;
  tessera_client *c;
} Fixture;

static void setup(Fixture *f, gconstpointer data)
{
  f->agent = test_agent_start();
  f->c = test_connect(f->agent);
}

static void teardown(Fixture *f, gconstpointer data)
{
  g_clear_pointer(&f->c, tessera_client_free);
  test_agent_stop(f->agent);
}

/* Asserts the code, and that the message mentions word (unless NULL):
 * messages must name what is wrong, not just "error". */
#define assert_error(c, rc, code, word) assert_error_impl((c), (rc), (code), (word), G_STRLOC)
static void assert_error_impl(tessera_client *c, int rc, int code, const char *word,
                              const char *where)
{
  test_assert_rc_impl(c, rc, code, where);
  const char *msg = tessera_client_last_error(c);
  if (word != NULL && strstr(msg, word) == NULL)
    g_error("%s: message \"%s\" does not mention \"%s\"", where, msg, word);
}

static int sign_digest(tessera_client *c, const char *key, uint8_t mech, uint8_t hash,
                       size_t len)
{
  guint8 data[128];
  memset(data, 0x5a, sizeof(data));
  g_assert_cmpuint(len, <=, sizeof(data));
  uint8_t *sig = NULL;
  size_t sig_len = 0;
  uint8_t mgf = mech == TPROTO_MECH_RSA_PSS ? hash : 0;
  uint32_t salt = mech == TPROTO_MECH_RSA_PSS ? (uint32_t)tproto_hash_len(hash) : 0;
  int rc = tessera_sign(c, key, mech, hash, mgf, salt, data, len, &sig, &sig_len);
  if (rc != TESSERA_OK) {
    g_assert_null(sig);
    g_assert_cmpuint(sig_len, ==, 0);
  }
  free(sig);
  return rc;
}

static void test_wrong_pin(Fixture *f, gconstpointer data)
{
  int rc = tessera_login(f->c, TEST_TOKEN_1, "999999", 6);
  assert_error(f->c, rc, TPROTO_ERR_PIN_INCORRECT, TEST_TOKEN_1);
  /* The token now reports a failed attempt; the agent is not logged in. */
  tessera_token *tokens = NULL;
  size_t n = 0;
  test_assert_rc(f->c, tessera_list_tokens(f->c, &tokens, &n), TESSERA_OK);
  for (size_t i = 0; i < n; i++)
    g_assert_false(tokens[i].flags & TPROTO_TOKEN_LOGGED_IN);
  tessera_tokens_free(tokens, n);
  assert_error(f->c, sign_digest(f->c, "p256", TPROTO_MECH_ECDSA, 0, 32),
               TPROTO_ERR_NOT_LOGGED_IN, TEST_TOKEN_1);

  test_login(f->c, TEST_TOKEN_1);
  test_sign_and_verify(f->c, "p256", TPROTO_MECH_ECDSA, TPROTO_HASH_SHA256);
}

static void test_not_logged_in(Fixture *f, gconstpointer data)
{
  assert_error(f->c, sign_digest(f->c, "rsa2048", TPROTO_MECH_RSA_PKCS, 0, 51),
               TPROTO_ERR_NOT_LOGGED_IN, TEST_TOKEN_1);
  /* Logging in to token 1 does not open token 2. */
  test_login(f->c, TEST_TOKEN_1);
  test_sign_and_verify(f->c, "rsa2048", TPROTO_MECH_RSA_PKCS, TPROTO_HASH_SHA256);
  assert_error(f->c, sign_digest(f->c, "p256-b", TPROTO_MECH_ECDSA, 0, 32),
               TPROTO_ERR_NOT_LOGGED_IN, TEST_TOKEN_2);
}

static void test_logout(Fixture *f, gconstpointer data)
{
  test_login(f->c, TEST_TOKEN_1);
  test_login(f->c, TEST_TOKEN_2);
  test_sign_and_verify(f->c, "p384", TPROTO_MECH_ECDSA, TPROTO_HASH_SHA384);
  test_assert_rc(f->c, tessera_logout(f->c, TEST_TOKEN_1), TESSERA_OK);
  assert_error(f->c, sign_digest(f->c, "p384", TPROTO_MECH_ECDSA, 0, 48),
               TPROTO_ERR_NOT_LOGGED_IN, TEST_TOKEN_1);
  /* Token 2 stays logged in until a logout of every token. */
  test_sign_and_verify(f->c, "p256-b", TPROTO_MECH_ECDSA, TPROTO_HASH_SHA256);
  test_assert_rc(f->c, tessera_logout(f->c, NULL), TESSERA_OK);
  assert_error(f->c, sign_digest(f->c, "p256-b", TPROTO_MECH_ECDSA, 0, 32),
               TPROTO_ERR_NOT_LOGGED_IN, TEST_TOKEN_2);
  /* The login state is the agent's, not the connection's. */
  test_login(f->c, TEST_TOKEN_2);
  g_autoptr(tessera_client) other = test_connect(f->agent);
  test_sign_and_verify(other, "p256-b", TPROTO_MECH_ECDSA, TPROTO_HASH_SHA256);
}

static void test_no_such_key(Fixture *f, gconstpointer data)
{
  test_login(f->c, TEST_TOKEN_1);
  assert_error(f->c, sign_digest(f->c, "no-such-key", TPROTO_MECH_ECDSA, 0, 32),
               TPROTO_ERR_NO_SUCH_KEY, "no-such-key");
  /* A valid URI that matches nothing. */
  assert_error(f->c,
               sign_digest(f->c, "pkcs11:token=" TEST_TOKEN_1 ";id=%7F", TPROTO_MECH_ECDSA, 0, 32),
               TPROTO_ERR_NO_SUCH_KEY, "id=%7F");
  /* An invalid URI. */
  assert_error(f->c, sign_digest(f->c, "pkcs11:id=%G1", TPROTO_MECH_ECDSA, 0, 32),
               TPROTO_ERR_BAD_INPUT, "pkcs11:id=%G1");
  /* FIND_KEY gives the same answers. */
  tessera_key *found = NULL;
  assert_error(f->c, tessera_find_key(f->c, "no-such-key", &found), TPROTO_ERR_NO_SUCH_KEY,
               "no-such-key");
  assert_error(f->c, tessera_find_key(f->c, "pkcs11:id=%G1", &found), TPROTO_ERR_BAD_INPUT,
               "pkcs11:id=%G1");
  g_assert_null(found);
  uint8_t *out = NULL;
  size_t out_len = 0;
  guint8 point[65] = { 0x04 };
  assert_error(f->c,
               tessera_derive(f->c, "nope", TPROTO_MECH_ECDH, point, sizeof(point), &out,
                              &out_len),
               TPROTO_ERR_NO_SUCH_KEY, "nope");
}

static void test_no_such_token(Fixture *f, gconstpointer data)
{
  assert_error(f->c, tessera_login(f->c, "no-such-token", TEST_PIN, strlen(TEST_PIN)),
               TPROTO_ERR_NO_SUCH_TOKEN, "no-such-token");
  assert_error(f->c, tessera_logout(f->c, "no-such-token"), TPROTO_ERR_NO_SUCH_TOKEN,
               "no-such-token");
  tessera_key *keys = NULL;
  size_t n = 0;
  assert_error(f->c, tessera_list_keys(f->c, "no-such-token", &keys, &n),
               TPROTO_ERR_NO_SUCH_TOKEN, "no-such-token");
  g_assert_null(keys);
  g_assert_cmpuint(n, ==, 0);
}

static void test_key_usage(Fixture *f, gconstpointer data)
{
  test_login(f->c, TEST_TOKEN_2);
  /* rsa2048-b is sign-only (CKA_DECRYPT false). */
  guint8 ct[256];
  memset(ct, 0x11, sizeof(ct));
  uint8_t *out = NULL;
  size_t out_len = 0;
  assert_error(f->c,
               tessera_decrypt(f->c, "rsa2048-b", TPROTO_MECH_RSA_PKCS, 0, 0, NULL, 0, ct,
                               sizeof(ct), &out, &out_len),
               TPROTO_ERR_KEY_USAGE, "rsa2048-b");
  g_assert_null(out);
  /* p256-b is sign-only (CKA_DERIVE false). */
  g_autoptr(EVP_PKEY) eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  unsigned char *point = NULL;
  size_t point_len = EVP_PKEY_get1_encoded_public_key(eph, &point);
  assert_error(f->c,
               tessera_derive(f->c, "p256-b", TPROTO_MECH_ECDH, point, point_len, &out,
                              &out_len),
               TPROTO_ERR_KEY_USAGE, "p256-b");
  OPENSSL_free(point);
  g_assert_null(out);
  /* Both still sign. */
  test_sign_and_verify(f->c, "rsa2048-b", TPROTO_MECH_RSA_PSS, TPROTO_HASH_SHA256);
  test_sign_and_verify(f->c, "p256-b", TPROTO_MECH_ECDSA, TPROTO_HASH_SHA256);
}

static void test_mechanism(Fixture *f, gconstpointer data)
{
  test_login(f->c, TEST_TOKEN_1);
  /* ECDSA with an RSA key, RSA with an EC key. */
  assert_error(f->c, sign_digest(f->c, "rsa2048", TPROTO_MECH_ECDSA, 0, 32),
               TPROTO_ERR_MECHANISM, "rsa2048");
  assert_error(f->c, sign_digest(f->c, "p256", TPROTO_MECH_RSA_PSS, TPROTO_HASH_SHA256, 32),
               TPROTO_ERR_MECHANISM, "p256");
  assert_error(f->c, sign_digest(f->c, "p256", TPROTO_MECH_RSA_PKCS, 0, 32),
               TPROTO_ERR_MECHANISM, "p256");
  /* Decryption mechanisms for signing, and the reverse. */
  assert_error(f->c, sign_digest(f->c, "rsa2048", TPROTO_MECH_RSA_OAEP, 0, 32),
               TPROTO_ERR_MECHANISM, NULL);
  assert_error(f->c, sign_digest(f->c, "rsa2048", TPROTO_MECH_ECDH, 0, 32),
               TPROTO_ERR_MECHANISM, NULL);
  uint8_t *out = NULL;
  size_t out_len = 0;
  guint8 ct[256] = { 0 };
  assert_error(f->c,
               tessera_decrypt(f->c, "p256", TPROTO_MECH_RSA_OAEP, TPROTO_HASH_SHA1,
                               TPROTO_HASH_SHA1, NULL, 0, ct, 64, &out, &out_len),
               TPROTO_ERR_MECHANISM, "p256");
  assert_error(f->c,
               tessera_decrypt(f->c, "rsa2048", TPROTO_MECH_RSA_PSS, TPROTO_HASH_SHA256,
                               TPROTO_HASH_SHA256, NULL, 0, ct, sizeof(ct), &out, &out_len),
               TPROTO_ERR_MECHANISM, NULL);
  /* ECDH with an RSA key. */
  guint8 point[65] = { 0x04 };
  assert_error(f->c,
               tessera_derive(f->c, "rsa2048", TPROTO_MECH_ECDH, point, sizeof(point), &out,
                              &out_len),
               TPROTO_ERR_MECHANISM, "rsa2048");
  /* Unknown mechanism and hash numbers. */
  assert_error(f->c, sign_digest(f->c, "rsa2048", 99, 0, 32), TPROTO_ERR_MECHANISM, NULL);
  assert_error(f->c, sign_digest(f->c, "rsa2048", TPROTO_MECH_RSA_PSS, 42, 32),
               TPROTO_ERR_MECHANISM, NULL);
  assert_error(f->c,
               tessera_decrypt(f->c, "rsa2048", TPROTO_MECH_RSA_OAEP, TPROTO_HASH_NONE,
                               TPROTO_HASH_NONE, NULL, 0, ct, sizeof(ct), &out, &out_len),
               TPROTO_ERR_MECHANISM, NULL);
  g_assert_null(out);
}

static void test_bad_input(Fixture *f, gconstpointer data)
{
  test_login(f->c, TEST_TOKEN_1);
  /* PSS: the digest must be as long as the hash. */
  assert_error(f->c, sign_digest(f->c, "rsa2048", TPROTO_MECH_RSA_PSS, TPROTO_HASH_SHA256, 31),
               TPROTO_ERR_BAD_INPUT, NULL);
  assert_error(f->c, sign_digest(f->c, "rsa3072", TPROTO_MECH_RSA_PSS, TPROTO_HASH_SHA512, 32),
               TPROTO_ERR_BAD_INPUT, NULL);
  /* ECDSA: 1..64 bytes. */
  assert_error(f->c, sign_digest(f->c, "p256", TPROTO_MECH_ECDSA, 0, 0), TPROTO_ERR_BAD_INPUT, NULL);
  assert_error(f->c, sign_digest(f->c, "p384", TPROTO_MECH_ECDSA, 0, 65), TPROTO_ERR_BAD_INPUT, NULL);
  /* PKCS#1 v1.5: at most k - 11 bytes (245 for RSA-2048); nothing is empty. */
  assert_error(f->c, sign_digest(f->c, "rsa2048", TPROTO_MECH_RSA_PKCS, 0, 0),
               TPROTO_ERR_BAD_INPUT, NULL);
  /* Ciphertext must be exactly k bytes. */
  guint8 ct[384] = { 0 };
  uint8_t *out = NULL;
  size_t out_len = 0;
  assert_error(f->c,
               tessera_decrypt(f->c, "rsa2048", TPROTO_MECH_RSA_PKCS, 0, 0, NULL, 0, ct, 255,
                               &out, &out_len),
               TPROTO_ERR_BAD_INPUT, NULL);
  assert_error(f->c,
               tessera_decrypt(f->c, "rsa2048", TPROTO_MECH_RSA_PKCS, 0, 0, NULL, 0, ct, 384,
                               &out, &out_len),
               TPROTO_ERR_BAD_INPUT, NULL);
  /* ECDH: an uncompressed point of the key's curve. */
  guint8 point[97] = { 0x04 };
  assert_error(f->c,
               tessera_derive(f->c, "p256", TPROTO_MECH_ECDH, point, 97, &out, &out_len),
               TPROTO_ERR_BAD_INPUT, NULL);
  point[0] = 0x02;
  assert_error(f->c,
               tessera_derive(f->c, "p256", TPROTO_MECH_ECDH, point, 33, &out, &out_len),
               TPROTO_ERR_BAD_INPUT, NULL);
  g_assert_null(out);
}

/* An operation after an error on the same connection works: errors do
 * not poison the connection or the token's session. */
static void test_recovery(Fixture *f, gconstpointer data)
{
  test_login(f->c, TEST_TOKEN_1);
  assert_error(f->c, sign_digest(f->c, "rsa2048", TPROTO_MECH_ECDSA, 0, 32),
               TPROTO_ERR_MECHANISM, NULL);
  test_sign_and_verify(f->c, "rsa2048", TPROTO_MECH_RSA_PKCS, TPROTO_HASH_SHA256);
  assert_error(f->c, sign_digest(f->c, "p256", TPROTO_MECH_ECDSA, 0, 0), TPROTO_ERR_BAD_INPUT, NULL);
  test_sign_and_verify(f->c, "p256", TPROTO_MECH_ECDSA, TPROTO_HASH_SHA256);
  g_assert_cmpstr(tessera_client_last_error(f->c), ==, "");
}

static void test_already_logged_in(Fixture *f, gconstpointer data)
{
  test_login(f->c, TEST_TOKEN_1);
  int rc = tessera_login(f->c, TEST_TOKEN_1, TEST_PIN, strlen(TEST_PIN));
  /* Either harmless success or the documented code; never a token error. */
  if (rc != TESSERA_OK)
    assert_error(f->c, rc, TPROTO_ERR_ALREADY_LOGGED_IN, TEST_TOKEN_1);
  test_sign_and_verify(f->c, "p256", TPROTO_MECH_ECDSA, TPROTO_HASH_SHA256);
}

/* A wrong PIN must never be reported as a successful login, even when the
 * token is logged in already (PKCS#11 then answers
 * CKR_USER_ALREADY_LOGGED_IN without looking at the PIN). */
static void test_wrong_pin_while_logged_in(Fixture *f, gconstpointer data)
{
  test_login(f->c, TEST_TOKEN_1);
  int rc = tessera_login(f->c, TEST_TOKEN_1, "999999", 6);
  if (rc != TPROTO_ERR_PIN_INCORRECT)
    assert_error(f->c, rc, TPROTO_ERR_ALREADY_LOGGED_IN, TEST_TOKEN_1);
  /* The existing login is unaffected. */
  test_sign_and_verify(f->c, "p256", TPROTO_MECH_ECDSA, TPROTO_HASH_SHA256);
}

int main(int argc, char **argv)
{
  harness_init(&argc, &argv);
#define ADD(path, fn) g_test_add("/errors/" path, Fixture, NULL, setup, fn, teardown)
  ADD("pin-incorrect", test_wrong_pin);
  ADD("not-logged-in", test_not_logged_in);
  ADD("logout", test_logout);
  ADD("no-such-key", test_no_such_key);
  ADD("no-such-token", test_no_such_token);
  ADD("key-usage", test_key_usage);
  ADD("mechanism", test_mechanism);
  ADD("bad-input", test_bad_input);
  ADD("recovery", test_recovery);
  ADD("already-logged-in", test_already_logged_in);
  ADD("wrong-pin-while-logged-in", test_wrong_pin_while_logged_in);
  return harness_run();
}
