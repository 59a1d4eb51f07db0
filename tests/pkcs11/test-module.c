/* tessera-pkcs11.so called directly, as an application would, against the
 * real agent on SoftHSM2 tokens: objects without login, login through the
 * agent's pinentry, signatures checked with OpenSSL, and the failure paths
 * (no agent yet, agent restarted, C_Finalize during C_WaitForSlotEvent,
 * threads, fork). */
#include "harness.h"

#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static CK_FUNCTION_LIST *p11;

static void load_module(void)
{
  const char *path = g_getenv("TESSERA_PKCS11");
  g_assert_nonnull(path);
  void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  g_assert_nonnull(lib);
  void *sym = dlsym(lib, "C_GetFunctionList");
  g_assert_nonnull(sym);
  CK_C_GetFunctionList get;
  memcpy(&get, &sym, sizeof(get)); /* ISO C has no object-to-function cast */
  g_assert_cmpuint(get(&p11), ==, CKR_OK);
}

#define assert_ckr(expr, expected) g_assert_cmphex((expr), ==, (expected))

static void initialize(void)
{
  CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
  assert_ckr(p11->C_Initialize(&args), CKR_OK);
}

static CK_ULONG slot_count(void)
{
  CK_ULONG n = 0;
  assert_ckr(p11->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
  return n;
}

/* The slot of the token with that label. */
static CK_SLOT_ID slot_of(const char *label)
{
  CK_SLOT_ID slots[8];
  CK_ULONG n = G_N_ELEMENTS(slots);
  assert_ckr(p11->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
  for (CK_ULONG i = 0; i < n; i++) {
    CK_TOKEN_INFO info;
    assert_ckr(p11->C_GetTokenInfo(slots[i], &info), CKR_OK);
    g_autofree char *have = g_strndup((const char *)info.label, sizeof(info.label));
    g_strchomp(have);
    if (g_str_equal(have, label)) {
      g_assert_true(info.flags & CKF_PROTECTED_AUTHENTICATION_PATH);
      return slots[i];
    }
  }
  g_error("no slot for token %s", label);
}

static CK_SESSION_HANDLE open_session(const char *token)
{
  CK_SESSION_HANDLE s;
  assert_ckr(p11->C_OpenSession(slot_of(token), CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
  return s;
}

static CK_OBJECT_HANDLE find_one(CK_SESSION_HANDLE s, CK_OBJECT_CLASS klass, const char *label)
{
  CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &klass, sizeof(klass) },
                          { CKA_LABEL, (void *)label, strlen(label) } };
  CK_OBJECT_HANDLE found[2];
  CK_ULONG n = 0;
  assert_ckr(p11->C_FindObjectsInit(s, tmpl, G_N_ELEMENTS(tmpl)), CKR_OK);
  assert_ckr(p11->C_FindObjects(s, found, G_N_ELEMENTS(found), &n), CKR_OK);
  assert_ckr(p11->C_FindObjectsFinal(s), CKR_OK);
  g_assert_cmpuint(n, ==, 1);
  return found[0];
}

static GBytes *attribute(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type)
{
  CK_ATTRIBUTE a = { type, NULL, 0 };
  assert_ckr(p11->C_GetAttributeValue(s, o, &a, 1), CKR_OK);
  guint8 *value = g_malloc(a.ulValueLen + 1);
  a.pValue = value;
  assert_ckr(p11->C_GetAttributeValue(s, o, &a, 1), CKR_OK);
  return g_bytes_new_take(value, a.ulValueLen);
}

static CK_RV sign(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, CK_MECHANISM *m, const void *data,
                  size_t len, guint8 *sig, CK_ULONG *sig_len)
{
  CK_RV rv = p11->C_SignInit(s, m, key);
  if (rv != CKR_OK)
    return rv;
  return p11->C_Sign(s, (CK_BYTE_PTR)data, len, sig, sig_len);
}

/* Signs a fresh message with CKM_SHA256_RSA_PKCS or CKM_ECDSA_SHA256 and
 * verifies it with the certificate from make-tokens.sh. */
static CK_RV sign_and_verify(CK_SESSION_HANDLE s, const char *label)
{
  const TestKeySpec *spec = test_key_spec(label);
  gboolean rsa = spec->key_type == TPROTO_KEY_RSA;
  CK_MECHANISM m = { rsa ? CKM_SHA256_RSA_PKCS : CKM_ECDSA_SHA256, NULL, 0 };
  guint8 msg[64], sig[512];
  CK_ULONG sig_len = sizeof(sig);
  for (size_t i = 0; i < sizeof(msg); i++)
    msg[i] = (guint8)g_random_int();
  CK_RV rv = sign(s, find_one(s, CKO_PRIVATE_KEY, label), &m, msg, sizeof(msg), sig, &sig_len);
  if (rv != CKR_OK)
    return rv;
  g_autoptr(EVP_PKEY) pub = test_cert_pubkey(label);
  g_autoptr(GBytes) digest = test_digest(TPROTO_HASH_SHA256, msg, sizeof(msg));
  g_assert_true(test_verify(pub, rsa ? TPROTO_MECH_RSA_PKCS : TPROTO_MECH_ECDSA,
                            TPROTO_HASH_SHA256, digest, sig, sig_len));
  return CKR_OK;
}

/* RSA-encrypts secret to the certificate of label with OpenSSL. */
static size_t encrypt_to(const char *label, const char *secret, guint8 *ct, size_t size)
{
  g_autoptr(EVP_PKEY) pub = test_cert_pubkey(label);
  g_autoptr(EVP_PKEY_CTX) enc = EVP_PKEY_CTX_new(pub, NULL);
  size_t len = size;
  g_assert_true(EVP_PKEY_encrypt_init(enc) == 1 &&
                EVP_PKEY_encrypt(enc, ct, &len, (const guint8 *)secret, strlen(secret)) == 1);
  return len;
}

static void use_agent(const TestAgent *a)
{
  g_setenv("TESSERA_SOCKET", a->socket_path, TRUE);
}

/* ---- objects and login -------------------------------------------------- */

static void test_objects_without_login(void)
{
  TestAgent *a = test_agent_start();
  use_agent(a);
  initialize();
  g_assert_cmpuint(slot_count(), ==, 3);
  CK_SESSION_HANDLE s = open_session(TEST_TOKEN_1);
  for (size_t i = 0; i < TEST_N_KEYS; i++) {
    const TestKeySpec *spec = &test_keys[i];
    if (!g_str_equal(spec->token, TEST_TOKEN_1))
      continue;
    CK_OBJECT_HANDLE priv = find_one(s, CKO_PRIVATE_KEY, spec->label);
    CK_OBJECT_HANDLE pub = find_one(s, CKO_PUBLIC_KEY, spec->label);
    CK_OBJECT_HANDLE cert = find_one(s, CKO_CERTIFICATE, spec->label);
    /* NSS pairs the three by CKA_ID: the token's own. */
    g_autoptr(GBytes) id = attribute(s, priv, CKA_ID);
    g_autoptr(GBytes) pub_id = attribute(s, pub, CKA_ID);
    g_autoptr(GBytes) cert_id = attribute(s, cert, CKA_ID);
    g_assert_cmpuint(g_bytes_get_size(id), ==, 1);
    g_assert_cmpuint(((const guint8 *)g_bytes_get_data(id, NULL))[0], ==, spec->ckaid);
    g_assert_true(g_bytes_equal(id, pub_id) && g_bytes_equal(id, cert_id));
    g_autoptr(GBytes) value = attribute(s, cert, CKA_VALUE);
    g_autoptr(GBytes) der = test_cert_der(spec->label);
    g_assert_true(g_bytes_equal(value, der));
    CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE, can_sign = CK_FALSE;
    CK_ATTRIBUTE flags[] = { { CKA_SENSITIVE, &sensitive, 1 },
                             { CKA_EXTRACTABLE, &extractable, 1 },
                             { CKA_SIGN, &can_sign, 1 } };
    assert_ckr(p11->C_GetAttributeValue(s, priv, flags, 3), CKR_OK);
    g_assert_true(sensitive && !extractable && can_sign);
    /* No key material: there is none to give. */
    CK_BYTE buf[600];
    CK_ATTRIBUTE secret = { CKA_PRIVATE_EXPONENT, buf, sizeof(buf) };
    assert_ckr(p11->C_GetAttributeValue(s, priv, &secret, 1), CKR_ATTRIBUTE_TYPE_INVALID);
    g_assert_cmpuint(secret.ulValueLen, ==, CK_UNAVAILABLE_INFORMATION);
    CK_ATTRIBUTE key_attr = { spec->key_type == TPROTO_KEY_RSA ? CKA_MODULUS : CKA_EC_POINT, NULL,
                              0 };
    assert_ckr(p11->C_GetAttributeValue(s, spec->key_type == TPROTO_KEY_RSA ? priv : pub,
                                        &key_attr, 1),
               CKR_OK);
    g_assert_cmpuint(key_attr.ulValueLen, >, 32);
  }
  assert_ckr(p11->C_Finalize(NULL), CKR_OK);
  test_agent_stop(a);
}

static CK_STATE session_state(CK_SESSION_HANDLE s)
{
  CK_SESSION_INFO info;
  assert_ckr(p11->C_GetSessionInfo(s, &info), CKR_OK);
  return info.state;
}

static void test_login_through_agent(void)
{
  TestAgent *a = test_agent_start();
  use_agent(a);
  test_pinentry_answers(a, "pin " TEST_PIN "\n");
  initialize();
  CK_SESSION_HANDLE s = open_session(TEST_TOKEN_1);
  g_assert_cmpuint(session_state(s), ==, CKS_RO_PUBLIC_SESSION);
  /* No PIN from the application: the agent asks. */
  assert_ckr(p11->C_Login(s, CKU_USER, NULL, 0), CKR_OK);
  g_autofree char *log = test_pinentry_log(a);
  g_assert_cmpuint(test_count_lines(log, "GETPIN"), ==, 1);
  g_assert_cmpuint(session_state(s), ==, CKS_RO_USER_FUNCTIONS);
  assert_ckr(p11->C_Login(s, CKU_USER, NULL, 0), CKR_USER_ALREADY_LOGGED_IN);
  assert_ckr(sign_and_verify(s, "rsa2048"), CKR_OK);
  assert_ckr(sign_and_verify(s, "p256"), CKR_OK);
  /* Logged out by another program: the session shows it. */
  g_autoptr(tessera_client) c = test_connect(a);
  test_assert_rc(c, tessera_logout(c, TEST_TOKEN_1), TESSERA_OK);
  gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
  while (session_state(s) != CKS_RO_PUBLIC_SESSION && g_get_monotonic_time() < deadline)
    g_usleep(20000);
  g_assert_cmpuint(session_state(s), ==, CKS_RO_PUBLIC_SESSION);
  /* A PIN given by the application is forwarded; a wrong one fails. */
  assert_ckr(p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "000000", 6), CKR_PIN_INCORRECT);
  assert_ckr(p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)TEST_PIN, strlen(TEST_PIN)), CKR_OK);
  assert_ckr(p11->C_Logout(s), CKR_OK);
  assert_ckr(p11->C_Logout(s), CKR_USER_NOT_LOGGED_IN);
  /* The user cancels the dialog. */
  test_pinentry_answers(a, "cancel\n");
  assert_ckr(p11->C_Login(s, CKU_USER, NULL, 0), CKR_FUNCTION_CANCELED);
  /* Logged in by another program: nothing to ask, and a PIN the agent
   * cannot check now is not called correct. */
  test_login(c, TEST_TOKEN_1);
  deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
  while (session_state(s) != CKS_RO_USER_FUNCTIONS && g_get_monotonic_time() < deadline)
    g_usleep(20000);
  g_assert_cmpuint(session_state(s), ==, CKS_RO_USER_FUNCTIONS);
  assert_ckr(p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR) "999999", 6),
             CKR_USER_ALREADY_LOGGED_IN);
  g_autofree char *before = test_pinentry_log(a);
  assert_ckr(p11->C_Login(s, CKU_USER, NULL, 0), CKR_OK);
  g_autofree char *after = test_pinentry_log(a);
  g_assert_cmpstr(before, ==, after); /* no dialog */
  assert_ckr(p11->C_Finalize(NULL), CKR_OK);
  test_agent_stop(a);
}

/* ---- mechanisms ------------------------------------------------------------ */

static void test_mechanisms(void)
{
  TestAgent *a = test_agent_start();
  use_agent(a);
  initialize();
  CK_SESSION_HANDLE s = open_session(TEST_TOKEN_1);
  assert_ckr(p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)TEST_PIN, strlen(TEST_PIN)), CKR_OK);
  CK_OBJECT_HANDLE rsa = find_one(s, CKO_PRIVATE_KEY, "rsa2048");
  CK_OBJECT_HANDLE ec = find_one(s, CKO_PRIVATE_KEY, "p384");
  g_autoptr(EVP_PKEY) rsa_pub = test_cert_pubkey("rsa2048");
  g_autoptr(EVP_PKEY) ec_pub = test_cert_pubkey("p384");
  const char msg[] = "a message signed in three parts";
  g_autoptr(GBytes) d256 = test_digest(TPROTO_HASH_SHA256, msg, strlen(msg));
  g_autoptr(GBytes) d384 = test_digest(TPROTO_HASH_SHA384, msg, strlen(msg));
  g_autoptr(GBytes) d512 = test_digest(TPROTO_HASH_SHA512, msg, strlen(msg));
  guint8 sig[512];
  CK_ULONG len;

  /* Multi-part, hashed in the module. */
  CK_MECHANISM m = { CKM_SHA512_RSA_PKCS, NULL, 0 };
  assert_ckr(p11->C_SignInit(s, &m, rsa), CKR_OK);
  assert_ckr(p11->C_SignInit(s, &m, rsa), CKR_OPERATION_ACTIVE); /* the first one goes on */
  assert_ckr(p11->C_SignUpdate(s, (CK_BYTE_PTR)msg, 2), CKR_OK);
  assert_ckr(p11->C_SignUpdate(s, (CK_BYTE_PTR)msg + 2, 10), CKR_OK);
  assert_ckr(p11->C_SignUpdate(s, (CK_BYTE_PTR)msg + 12, strlen(msg) - 12), CKR_OK);
  len = 0;
  assert_ckr(p11->C_SignFinal(s, NULL, &len), CKR_OK); /* length only */
  g_assert_cmpuint(len, ==, 256);
  len = 10;
  assert_ckr(p11->C_SignFinal(s, sig, &len), CKR_BUFFER_TOO_SMALL); /* op stays */
  len = sizeof(sig);
  assert_ckr(p11->C_SignFinal(s, sig, &len), CKR_OK);
  g_assert_true(test_verify(rsa_pub, TPROTO_MECH_RSA_PKCS, TPROTO_HASH_SHA512, d512, sig, len));
  assert_ckr(p11->C_SignFinal(s, sig, &len), CKR_OPERATION_NOT_INITIALIZED);

  /* RSA-PKCS on a DigestInfo the application made. */
  g_autoptr(GBytes) info = test_digest_info(TPROTO_HASH_SHA256, d256);
  m = (CK_MECHANISM){ CKM_RSA_PKCS, NULL, 0 };
  len = sizeof(sig);
  assert_ckr(sign(s, rsa, &m, g_bytes_get_data(info, NULL), g_bytes_get_size(info), sig, &len),
             CKR_OK);
  g_assert_true(test_verify(rsa_pub, TPROTO_MECH_RSA_PKCS, TPROTO_HASH_SHA256, d256, sig, len));

  /* PSS on a digest, and hashed in the module. */
  CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
  m = (CK_MECHANISM){ CKM_RSA_PKCS_PSS, &pss, sizeof(pss) };
  len = sizeof(sig);
  assert_ckr(sign(s, rsa, &m, g_bytes_get_data(d256, NULL), 32, sig, &len), CKR_OK);
  g_assert_true(test_verify(rsa_pub, TPROTO_MECH_RSA_PSS, TPROTO_HASH_SHA256, d256, sig, len));
  m.mechanism = CKM_SHA256_RSA_PKCS_PSS;
  len = sizeof(sig);
  assert_ckr(sign(s, rsa, &m, msg, strlen(msg), sig, &len), CKR_OK);
  g_assert_true(test_verify(rsa_pub, TPROTO_MECH_RSA_PSS, TPROTO_HASH_SHA256, d256, sig, len));
  /* PSS parameters that contradict the mechanism. */
  CK_RSA_PKCS_PSS_PARAMS wrong = { CKM_SHA384, CKG_MGF1_SHA384, 48 };
  m = (CK_MECHANISM){ CKM_SHA256_RSA_PKCS_PSS, &wrong, sizeof(wrong) };
  assert_ckr(p11->C_SignInit(s, &m, rsa), CKR_MECHANISM_PARAM_INVALID);

  /* ECDSA: raw r||s of 2 x 48 bytes for P-384. */
  m = (CK_MECHANISM){ CKM_ECDSA, NULL, 0 };
  len = sizeof(sig);
  assert_ckr(sign(s, ec, &m, g_bytes_get_data(d384, NULL), 48, sig, &len), CKR_OK);
  g_assert_cmpuint(len, ==, 96);
  g_assert_true(test_verify(ec_pub, TPROTO_MECH_ECDSA, TPROTO_HASH_SHA384, d384, sig, len));
  m.mechanism = CKM_ECDSA_SHA384;
  len = sizeof(sig);
  assert_ckr(sign(s, ec, &m, msg, strlen(msg), sig, &len), CKR_OK);
  g_assert_true(test_verify(ec_pub, TPROTO_MECH_ECDSA, TPROTO_HASH_SHA384, d384, sig, len));

  /* Wrong key type, wrong use. */
  m = (CK_MECHANISM){ CKM_SHA256_RSA_PKCS, NULL, 0 };
  assert_ckr(p11->C_SignInit(s, &m, ec), CKR_KEY_TYPE_INCONSISTENT);
  m = (CK_MECHANISM){ CKM_RSA_PKCS, NULL, 0 };
  assert_ckr(p11->C_DecryptInit(s, &m, ec), CKR_KEY_TYPE_INCONSISTENT);
  m = (CK_MECHANISM){ CKM_ECDH1_DERIVE, NULL, 0 };
  CK_OBJECT_HANDLE derived;
  assert_ckr(p11->C_DeriveKey(s, &m, ec, NULL, 0, &derived), CKR_MECHANISM_PARAM_INVALID);

  /* RSA decryption of what OpenSSL encrypted to the certificate. */
  const char secret[] = "session key";
  guint8 ct[256], pt[256];
  size_t ct_len = encrypt_to("rsa2048", secret, ct, sizeof(ct));
  m = (CK_MECHANISM){ CKM_RSA_PKCS, NULL, 0 };
  assert_ckr(p11->C_DecryptInit(s, &m, rsa), CKR_OK);
  len = 4; /* too small: the plaintext waits for a bigger buffer */
  assert_ckr(p11->C_Decrypt(s, ct, ct_len, pt, &len), CKR_BUFFER_TOO_SMALL);
  g_assert_cmpuint(len, ==, strlen(secret));
  assert_ckr(p11->C_Decrypt(s, ct, ct_len, pt, &len), CKR_OK);
  g_assert_cmpmem(pt, len, secret, strlen(secret));

  /* ECDH with a throwaway peer key, checked against OpenSSL. */
  g_autoptr(EVP_PKEY) peer = EVP_EC_gen("P-384");
  guint8 point[200];
  size_t point_len = 0;
  g_assert_true(EVP_PKEY_get_octet_string_param(peer, "encoded-pub-key", point, sizeof(point),
                                                &point_len));
  CK_ECDH1_DERIVE_PARAMS ecdh = { CKD_NULL, 0, NULL, point_len, point };
  m = (CK_MECHANISM){ CKM_ECDH1_DERIVE, &ecdh, sizeof(ecdh) };
  CK_OBJECT_CLASS klass = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_GENERIC_SECRET;
  CK_BBOOL no = CK_FALSE;
  CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &klass, sizeof(klass) },
                          { CKA_KEY_TYPE, &type, sizeof(type) },
                          { CKA_SENSITIVE, &no, sizeof(no) } };
  assert_ckr(p11->C_DeriveKey(s, &m, ec, tmpl, G_N_ELEMENTS(tmpl), &derived), CKR_OK);
  g_autoptr(GBytes) z = attribute(s, derived, CKA_VALUE);
  g_autoptr(EVP_PKEY_CTX) dctx = EVP_PKEY_CTX_new(peer, NULL);
  guint8 want[64];
  size_t want_len = sizeof(want);
  g_assert_true(EVP_PKEY_derive_init(dctx) == 1 && EVP_PKEY_derive_set_peer(dctx, ec_pub) == 1 &&
                EVP_PKEY_derive(dctx, want, &want_len) == 1);
  g_assert_cmpmem(g_bytes_get_data(z, NULL), g_bytes_get_size(z), want, want_len);
  assert_ckr(p11->C_DestroyObject(s, derived), CKR_OK);
  assert_ckr(p11->C_DestroyObject(s, rsa), CKR_ACTION_PROHIBITED);
  assert_ckr(p11->C_Finalize(NULL), CKR_OK);
  test_agent_stop(a);
}

/* What each call returns on the paths around an operation: length
 * queries and short buffers leave it running, errors in Update end it,
 * calls of the other kind or without an operation are refused. */
static void test_return_values(void)
{
  TestAgent *a = test_agent_start();
  use_agent(a);
  initialize();
  CK_SLOT_ID slot = slot_of(TEST_TOKEN_1);
  CK_SLOT_ID nowhere = 9999;
  CK_SLOT_INFO slot_info;
  CK_TOKEN_INFO token_info;
  CK_MECHANISM_INFO mech_info;
  CK_MECHANISM_TYPE mechs[64];
  CK_ULONG n = 0;
  CK_SESSION_HANDLE s;
  assert_ckr(p11->C_GetSlotInfo(nowhere, &slot_info), CKR_SLOT_ID_INVALID);
  assert_ckr(p11->C_GetTokenInfo(nowhere, &token_info), CKR_SLOT_ID_INVALID);
  assert_ckr(p11->C_GetMechanismList(nowhere, NULL, &n), CKR_SLOT_ID_INVALID);
  assert_ckr(p11->C_GetMechanismInfo(nowhere, CKM_RSA_PKCS, &mech_info), CKR_SLOT_ID_INVALID);
  assert_ckr(p11->C_OpenSession(nowhere, CKF_SERIAL_SESSION, NULL, NULL, &s),
             CKR_SLOT_ID_INVALID);
  assert_ckr(p11->C_GetSlotInfo(slot, NULL), CKR_ARGUMENTS_BAD);
  assert_ckr(p11->C_GetSlotInfo(slot, &slot_info), CKR_OK);
  g_assert_true(slot_info.flags & CKF_TOKEN_PRESENT);
  assert_ckr(p11->C_GetMechanismInfo(slot, CKM_SHA256, &mech_info), CKR_MECHANISM_INVALID);
  assert_ckr(p11->C_GetMechanismInfo(slot, CKM_RSA_PKCS, &mech_info), CKR_OK);
  g_assert_cmpuint(mech_info.ulMaxKeySize, >=, 2048);
  assert_ckr(p11->C_GetMechanismList(slot, NULL, &n), CKR_OK);
  g_assert_cmpuint(n, >, 1);
  g_assert_cmpuint(n, <=, G_N_ELEMENTS(mechs));
  CK_ULONG all = n;
  n = all - 1;
  assert_ckr(p11->C_GetMechanismList(slot, mechs, &n), CKR_BUFFER_TOO_SMALL);
  g_assert_cmpuint(n, ==, all);
  assert_ckr(p11->C_GetMechanismList(slot, mechs, &n), CKR_OK);

  s = open_session(TEST_TOKEN_1);
  assert_ckr(p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)TEST_PIN, strlen(TEST_PIN)), CKR_OK);
  CK_OBJECT_HANDLE rsa = find_one(s, CKO_PRIVATE_KEY, "rsa2048");
  guint8 buf[9000] = { 0 }, sig[512], pt[256];
  CK_ULONG len = sizeof(sig);
  CK_MECHANISM sha = { CKM_SHA256_RSA_PKCS, NULL, 0 };
  CK_MECHANISM raw = { CKM_RSA_PKCS, NULL, 0 };

  /* No operation, a bad session, bad arguments. */
  assert_ckr(p11->C_SignInit(s, NULL, rsa), CKR_ARGUMENTS_BAD);
  assert_ckr(p11->C_DecryptInit(s, NULL, rsa), CKR_ARGUMENTS_BAD);
  assert_ckr(p11->C_SignInit(9999, &sha, rsa), CKR_SESSION_HANDLE_INVALID);
  assert_ckr(p11->C_SignUpdate(9999, buf, 1), CKR_SESSION_HANDLE_INVALID);
  assert_ckr(p11->C_DecryptFinal(9999, pt, &len), CKR_SESSION_HANDLE_INVALID);
  assert_ckr(p11->C_SignUpdate(s, buf, 1), CKR_OPERATION_NOT_INITIALIZED);
  assert_ckr(p11->C_Sign(s, buf, 1, sig, &len), CKR_OPERATION_NOT_INITIALIZED);
  assert_ckr(p11->C_SignFinal(s, sig, &len), CKR_OPERATION_NOT_INITIALIZED);
  assert_ckr(p11->C_Decrypt(s, buf, 256, pt, &len), CKR_OPERATION_NOT_INITIALIZED);
  assert_ckr(p11->C_DecryptUpdate(s, buf, 1, pt, &len), CKR_OPERATION_NOT_INITIALIZED);
  assert_ckr(p11->C_DecryptFinal(s, pt, &len), CKR_OPERATION_NOT_INITIALIZED);
  assert_ckr(p11->C_Sign(s, NULL, 1, sig, &len), CKR_ARGUMENTS_BAD);
  assert_ckr(p11->C_SignFinal(s, sig, NULL), CKR_ARGUMENTS_BAD);
  assert_ckr(p11->C_DecryptUpdate(s, NULL, 1, pt, &len), CKR_ARGUMENTS_BAD);
  assert_ckr(p11->C_DecryptFinal(s, pt, NULL), CKR_ARGUMENTS_BAD);

  /* Signing: a length query keeps the operation, the other kind is refused. */
  assert_ckr(p11->C_SignInit(s, &sha, rsa), CKR_OK);
  assert_ckr(p11->C_DecryptInit(s, &raw, rsa), CKR_OPERATION_ACTIVE);
  assert_ckr(p11->C_DecryptUpdate(s, buf, 1, pt, &len), CKR_OPERATION_NOT_INITIALIZED);
  len = 0;
  assert_ckr(p11->C_Sign(s, buf, 10, NULL, &len), CKR_OK);
  g_assert_cmpuint(len, ==, 256);
  assert_ckr(p11->C_Sign(s, buf, 10, sig, &len), CKR_OK);
  assert_ckr(p11->C_SignUpdate(s, buf, 1), CKR_OPERATION_NOT_INITIALIZED);
  /* Raw input longer than any DigestInfo ends the operation. */
  assert_ckr(p11->C_SignInit(s, &raw, rsa), CKR_OK);
  assert_ckr(p11->C_SignUpdate(s, buf, 8000), CKR_OK);
  assert_ckr(p11->C_SignUpdate(s, buf, 1000), CKR_DATA_LEN_RANGE);
  assert_ckr(p11->C_SignFinal(s, sig, &len), CKR_OPERATION_NOT_INITIALIZED);
  /* Raw input too long for the key: found at C_SignFinal, which ends it. */
  assert_ckr(p11->C_SignInit(s, &raw, rsa), CKR_OK);
  assert_ckr(p11->C_SignUpdate(s, buf, 250), CKR_OK);
  len = sizeof(sig);
  assert_ckr(p11->C_SignFinal(s, sig, &len), CKR_DATA_LEN_RANGE);
  assert_ckr(p11->C_SignFinal(s, sig, &len), CKR_OPERATION_NOT_INITIALIZED);
  /* Bad parameters start nothing. */
  CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
  CK_MECHANISM m = { CKM_SHA256_RSA_PKCS_PSS, &pss, sizeof(pss) - 1 };
  assert_ckr(p11->C_SignInit(s, &m, rsa), CKR_MECHANISM_PARAM_INVALID);
  assert_ckr(p11->C_SignUpdate(s, buf, 1), CKR_OPERATION_NOT_INITIALIZED);
  CK_RSA_PKCS_OAEP_PARAMS oaep = { CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 4 };
  m = (CK_MECHANISM){ CKM_RSA_PKCS_OAEP, &oaep, sizeof(oaep) };
  assert_ckr(p11->C_DecryptInit(s, &m, rsa), CKR_MECHANISM_PARAM_INVALID);
  assert_ckr(p11->C_DecryptFinal(s, pt, &len), CKR_OPERATION_NOT_INITIALIZED);

  /* Decryption in parts: sizes asked, a short buffer, the plaintext kept. */
  const char secret[] = "session key";
  guint8 ct[256];
  size_t ct_len = encrypt_to("rsa2048", secret, ct, sizeof(ct));
  assert_ckr(p11->C_DecryptInit(s, &raw, rsa), CKR_OK);
  assert_ckr(p11->C_SignInit(s, &sha, rsa), CKR_OPERATION_ACTIVE);
  assert_ckr(p11->C_SignUpdate(s, buf, 1), CKR_OPERATION_NOT_INITIALIZED);
  len = 7;
  assert_ckr(p11->C_DecryptUpdate(s, ct, 100, NULL, &len), CKR_OK);
  g_assert_cmpuint(len, ==, 0);
  assert_ckr(p11->C_DecryptUpdate(s, ct + 100, ct_len - 100, NULL, &len), CKR_OK);
  len = 0;
  assert_ckr(p11->C_DecryptFinal(s, NULL, &len), CKR_OK);
  g_assert_cmpuint(len, ==, 256);
  len = 4;
  assert_ckr(p11->C_DecryptFinal(s, pt, &len), CKR_BUFFER_TOO_SMALL);
  g_assert_cmpuint(len, ==, strlen(secret));
  assert_ckr(p11->C_DecryptUpdate(s, ct, 1, pt, &len), CKR_OPERATION_NOT_INITIALIZED);
  len = 0;
  assert_ckr(p11->C_DecryptFinal(s, NULL, &len), CKR_OK);
  g_assert_cmpuint(len, ==, strlen(secret));
  assert_ckr(p11->C_DecryptFinal(s, pt, &len), CKR_OK);
  g_assert_cmpmem(pt, len, secret, strlen(secret));
  assert_ckr(p11->C_DecryptFinal(s, pt, &len), CKR_OPERATION_NOT_INITIALIZED);
  /* Too much ciphertext ends the operation, in parts or at once. */
  assert_ckr(p11->C_DecryptInit(s, &raw, rsa), CKR_OK);
  assert_ckr(p11->C_DecryptUpdate(s, ct, 200, NULL, &len), CKR_OK);
  assert_ckr(p11->C_DecryptUpdate(s, ct, 100, NULL, &len), CKR_ENCRYPTED_DATA_LEN_RANGE);
  assert_ckr(p11->C_DecryptFinal(s, pt, &len), CKR_OPERATION_NOT_INITIALIZED);
  assert_ckr(p11->C_DecryptInit(s, &raw, rsa), CKR_OK);
  len = sizeof(pt);
  assert_ckr(p11->C_Decrypt(s, ct, 100, pt, &len), CKR_ENCRYPTED_DATA_LEN_RANGE);
  assert_ckr(p11->C_Decrypt(s, ct, ct_len, pt, &len), CKR_OPERATION_NOT_INITIALIZED);
  /* C_Decrypt after C_DecryptUpdate decrypts its own input (what Update
   * collected is dropped, not leaked: the ASan run checks). */
  assert_ckr(p11->C_DecryptInit(s, &raw, rsa), CKR_OK);
  assert_ckr(p11->C_DecryptUpdate(s, ct, 100, NULL, &len), CKR_OK);
  len = sizeof(pt);
  assert_ckr(p11->C_Decrypt(s, ct, ct_len, pt, &len), CKR_OK);
  g_assert_cmpmem(pt, len, secret, strlen(secret));
  assert_ckr(p11->C_Finalize(NULL), CKR_OK);
  test_agent_stop(a);
}

/* ---- the agent absent, restarted ----------------------------------------- */

static gboolean wait_slots(CK_ULONG want)
{
  gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  while (g_get_monotonic_time() < deadline) {
    if (slot_count() == want)
      return TRUE;
    g_usleep(50000);
  }
  return FALSE;
}

static void test_agent_comes_later(void)
{
  g_autofree char *socket = harness_file("later.sock");
  g_setenv("TESSERA_SOCKET", socket, TRUE);
  initialize(); /* no agent: no error, no tokens */
  g_assert_cmpuint(slot_count(), ==, 0);
  CK_SLOT_ID slot;
  assert_ckr(p11->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL), CKR_NO_EVENT);
  TestAgentOptions o = { .socket_path = socket };
  TestAgent *a = test_agent_start_full(&o);
  g_assert_true(wait_slots(3));
  CK_SESSION_HANDLE s = open_session(TEST_TOKEN_2);
  assert_ckr(p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)TEST_PIN, strlen(TEST_PIN)), CKR_OK);
  assert_ckr(sign_and_verify(s, "p256-b"), CKR_OK);
  assert_ckr(p11->C_Finalize(NULL), CKR_OK);
  test_agent_stop(a);
}

static void test_agent_restarts(void)
{
  g_autofree char *socket = harness_file("restart.sock");
  TestAgentOptions o = { .socket_path = socket };
  TestAgent *a = test_agent_start_full(&o);
  use_agent(a);
  initialize();
  CK_SLOT_ID before = slot_of(TEST_TOKEN_1);
  CK_SESSION_HANDLE s = open_session(TEST_TOKEN_1);
  assert_ckr(p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)TEST_PIN, strlen(TEST_PIN)), CKR_OK);
  assert_ckr(sign_and_verify(s, "rsa2048"), CKR_OK);
  CK_OBJECT_HANDLE key = find_one(s, CKO_PRIVATE_KEY, "rsa2048");
  test_agent_free(a); /* killed: no SIGPIPE for us, no hang */
  CK_MECHANISM m = { CKM_SHA256_RSA_PKCS, NULL, 0 };
  guint8 sig[512];
  CK_ULONG len = sizeof(sig);
  CK_RV rv = sign(s, key, &m, "x", 1, sig, &len);
  g_assert_true(rv == CKR_DEVICE_REMOVED || rv == CKR_SESSION_HANDLE_INVALID);
  g_assert_true(wait_slots(0));
  a = test_agent_start_full(&o);
  g_assert_true(wait_slots(3));
  g_assert_cmpuint(slot_of(TEST_TOKEN_1), ==, before); /* the same slot id */
  s = open_session(TEST_TOKEN_1);
  test_pinentry_answers(a, "pin " TEST_PIN "\n");
  assert_ckr(sign_and_verify(s, "rsa2048"), CKR_OK); /* the agent asked for the PIN */
  assert_ckr(p11->C_Finalize(NULL), CKR_OK);
  test_agent_stop(a);
}

/* ---- C_WaitForSlotEvent and C_Finalize --------------------------------------- */

static gpointer wait_for_event(gpointer data)
{
  CK_SLOT_ID slot;
  return GUINT_TO_POINTER(p11->C_WaitForSlotEvent(0, &slot, NULL));
}

static void test_finalize_releases_waiter(void)
{
  TestAgent *a = test_agent_start();
  use_agent(a);
  initialize();
  CK_SLOT_ID slot;
  /* The slots appearing was the first event; then nothing. */
  while (p11->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL) == CKR_OK)
    ;
  assert_ckr(p11->C_WaitForSlotEvent(CKF_DONT_BLOCK, &slot, NULL), CKR_NO_EVENT);
  GThread *waiter = g_thread_new("waiter", wait_for_event, NULL);
  g_usleep(200000);
  assert_ckr(p11->C_Finalize(NULL), CKR_OK);
  assert_ckr(GPOINTER_TO_UINT(g_thread_join(waiter)), CKR_CRYPTOKI_NOT_INITIALIZED);
  test_agent_stop(a);
}

/* ---- threads and fork -------------------------------------------------------- */

static gpointer sign_many(gpointer data)
{
  const char *label = data;
  const TestKeySpec *spec = test_key_spec(label);
  CK_SESSION_HANDLE s = open_session(spec->token);
  for (int i = 0; i < 20; i++)
    assert_ckr(sign_and_verify(s, label), CKR_OK);
  assert_ckr(p11->C_CloseSession(s), CKR_OK);
  return NULL;
}

static void test_threads(void)
{
  TestAgent *a = test_agent_start();
  use_agent(a);
  initialize();
  CK_SESSION_HANDLE s1 = open_session(TEST_TOKEN_1), s2 = open_session(TEST_TOKEN_2);
  assert_ckr(p11->C_Login(s1, CKU_USER, (CK_UTF8CHAR_PTR)TEST_PIN, strlen(TEST_PIN)), CKR_OK);
  assert_ckr(p11->C_Login(s2, CKU_USER, (CK_UTF8CHAR_PTR)TEST_PIN, strlen(TEST_PIN)), CKR_OK);
  static const char *const labels[] = { "rsa2048", "p256", "p384", "rsa2048-b",
                                        "p256-b", "p256", "rsa2048", "p256-b" };
  GThread *threads[G_N_ELEMENTS(labels)];
  for (size_t i = 0; i < G_N_ELEMENTS(labels); i++)
    threads[i] = g_thread_new("signer", sign_many, (gpointer)labels[i]);
  for (size_t i = 0; i < G_N_ELEMENTS(labels); i++)
    g_thread_join(threads[i]);
  assert_ckr(p11->C_Finalize(NULL), CKR_OK);
  test_agent_stop(a);
}

typedef struct {
  CK_SESSION_HANDLE s;
  CK_OBJECT_HANDLE key;
  guint8 ct[256], pt[256];
  CK_ULONG ct_len, pt_len;
} DecryptCall;

static gpointer decrypt_in_thread(gpointer data)
{
  DecryptCall *d = data;
  CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };
  CK_RV rv = p11->C_DecryptInit(d->s, &m, d->key);
  if (rv == CKR_OK)
    rv = p11->C_Decrypt(d->s, d->ct, d->ct_len, d->pt, &d->pt_len);
  return GUINT_TO_POINTER(rv);
}

/* A program that misuses one session from two threads: while C_Decrypt
 * waits for the agent (here: for the PIN), the session has no operation,
 * and another thread's C_SignInit takes it. The plaintext still reaches
 * C_Decrypt's caller, and the signature goes on undisturbed. */
static void test_operation_begun_meanwhile(void)
{
  TestAgent *a = test_agent_start();
  use_agent(a);
  test_pinentry_answers(a, "slow pin " TEST_PIN "\n");
  initialize();
  CK_SESSION_HANDLE s = open_session(TEST_TOKEN_1);
  DecryptCall d = { .s = s, .key = find_one(s, CKO_PRIVATE_KEY, "rsa2048"), .pt_len = 256 };
  const char secret[] = "meanwhile";
  d.ct_len = encrypt_to("rsa2048", secret, d.ct, sizeof(d.ct));
  GThread *t = g_thread_new("decrypt", decrypt_in_thread, &d);
  gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
  for (;;) {
    g_autofree char *log = test_pinentry_log(a);
    if (test_count_lines(log, "GETPIN") > 0 || g_get_monotonic_time() > deadline)
      break;
    g_usleep(10000);
  }
  CK_MECHANISM m = { CKM_SHA256_RSA_PKCS, NULL, 0 };
  assert_ckr(p11->C_SignInit(s, &m, d.key), CKR_OK);
  assert_ckr(GPOINTER_TO_UINT(g_thread_join(t)), CKR_OK);
  g_assert_cmpmem(d.pt, d.pt_len, secret, strlen(secret));
  guint8 sig[256];
  CK_ULONG len = sizeof(sig);
  assert_ckr(p11->C_Sign(s, (CK_BYTE_PTR)secret, strlen(secret), sig, &len), CKR_OK);
  g_autoptr(EVP_PKEY) pub = test_cert_pubkey("rsa2048");
  g_autoptr(GBytes) digest = test_digest(TPROTO_HASH_SHA256, secret, strlen(secret));
  g_assert_true(test_verify(pub, TPROTO_MECH_RSA_PKCS, TPROTO_HASH_SHA256, digest, sig, len));
  assert_ckr(p11->C_Finalize(NULL), CKR_OK);
  test_agent_stop(a);
}

static void test_fork(void)
{
  TestAgent *a = test_agent_start();
  use_agent(a);
  initialize();
  CK_SESSION_HANDLE s = open_session(TEST_TOKEN_1);
  assert_ckr(p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)TEST_PIN, strlen(TEST_PIN)), CKR_OK);
  assert_ckr(sign_and_verify(s, "p256"), CKR_OK);
  for (int reinit = 0; reinit < 2; reinit++) {
    pid_t child = fork();
    g_assert_cmpint(child, >=, 0);
    if (child == 0) {
      /* On connections of its own: with the parent's session, or after
       * starting over with C_Initialize as PKCS#11 asks. */
      if (reinit) {
        CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
        if (p11->C_Initialize(&args) != CKR_OK)
          _exit(2);
        s = open_session(TEST_TOKEN_1);
      }
      _exit(sign_and_verify(s, "p256") == CKR_OK && sign_and_verify(s, "rsa2048") == CKR_OK ? 0
                                                                                          : 1);
    }
    int status = 0;
    g_assert_cmpint(waitpid(child, &status, 0), ==, child);
    g_assert_true(WIFEXITED(status));
    g_assert_cmpint(WEXITSTATUS(status), ==, 0);
    /* The parent's connections were not disturbed. */
    assert_ckr(sign_and_verify(s, "p256"), CKR_OK);
  }
  assert_ckr(p11->C_Finalize(NULL), CKR_OK);
  test_agent_stop(a);
}

/* ---- PIN for every use ---------------------------------------------------------- */

static void test_context_specific_login(void)
{
  TestAgent *a = test_agent_start();
  use_agent(a);
  initialize();
  CK_SESSION_HANDLE s = open_session("tessera-test-3");
  assert_ckr(p11->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)TEST_PIN, strlen(TEST_PIN)), CKR_OK);
  CK_OBJECT_HANDLE key = find_one(s, CKO_PRIVATE_KEY, "p256-aa");
  CK_BBOOL always = CK_FALSE;
  CK_ATTRIBUTE attr = { CKA_ALWAYS_AUTHENTICATE, &always, 1 };
  assert_ckr(p11->C_GetAttributeValue(s, key, &attr, 1), CKR_OK);
  g_assert_true(always);
  assert_ckr(p11->C_Login(s, CKU_CONTEXT_SPECIFIC, NULL, 0), CKR_OPERATION_NOT_INITIALIZED);
  /* As NSS does: SignInit, context-specific login, Sign; the agent asks. */
  test_pinentry_answers(a, "pin " TEST_PIN "\npin " TEST_PIN "\n");
  for (int i = 0; i < 2; i++) {
    CK_MECHANISM m = { CKM_ECDSA_SHA256, NULL, 0 };
    guint8 sig[128];
    CK_ULONG len = sizeof(sig);
    assert_ckr(p11->C_SignInit(s, &m, key), CKR_OK);
    assert_ckr(p11->C_Login(s, CKU_CONTEXT_SPECIFIC, NULL, 0), CKR_OK);
    assert_ckr(p11->C_Sign(s, (CK_BYTE_PTR) "data", 4, sig, &len), CKR_OK);
    g_assert_cmpuint(len, ==, 64);
  }
  g_autofree char *log = test_pinentry_log(a);
  g_assert_cmpuint(test_count_lines(log, "GETPIN"), ==, 2); /* one PIN per signature */
  assert_ckr(p11->C_Finalize(NULL), CKR_OK);
  test_agent_stop(a);
}

/* ---- the agent never loads this module ----------------------------------------- */

static void test_agent_refuses_module(void)
{
  /* Under another name, and by its own. */
  g_autofree char *copy = harness_file("renamed-module.so");
  g_autofree char *contents = NULL;
  gsize size = 0;
  g_assert_true(g_file_get_contents(g_getenv("TESSERA_PKCS11"), &contents, &size, NULL));
  g_assert_true(g_file_set_contents(copy, contents, (gssize)size, NULL));
  const char *modules[] = { copy, g_getenv("TESSERA_PKCS11") };
  for (size_t i = 0; i < G_N_ELEMENTS(modules); i++) {
    g_autofree char *socket = harness_file("refuses.sock");
    const char *argv[] = { g_getenv("TESSERA_AGENT"), "--foreground", "--no-p11-kit", "--module",
                           modules[i], "--socket", socket, NULL };
    GPid pid;
    int err_fd = -1;
    g_assert_true(g_spawn_async_with_pipes(NULL, (char **)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                           NULL, NULL, &pid, NULL, NULL, &err_fd, NULL));
    tessera_client *c = NULL;
    for (int tries = 0; tries < 200 && c == NULL; tries++) {
      if (tessera_client_connect(socket, NULL, &c, NULL) != TESSERA_OK)
        g_usleep(50000);
    }
    g_assert_nonnull(c);
    tessera_status st;
    g_assert_cmpint(tessera_status_get(c, &st), ==, TESSERA_OK);
    g_assert_cmpuint(st.n_tokens, ==, 0);
    tessera_status_clear(&st);
    tessera_client_free(c);
    kill(pid, SIGTERM);
    g_assert_cmpint(test_wait_pid(pid, 10000), >=, 0);
    char buf[4096] = "";
    ssize_t n = read(err_fd, buf, sizeof(buf) - 1);
    close(err_fd);
    g_assert_cmpint(n, >, 0);
    g_assert_nonnull(strstr(buf, "Tessera"));
    g_assert_nonnull(strstr(buf, "own PKCS#11 module"));
  }
}

int main(int argc, char **argv)
{
  harness_init_with(&argc, &argv, "--always-auth-token");
  load_module();
  g_test_add_func("/pkcs11/objects-without-login", test_objects_without_login);
  g_test_add_func("/pkcs11/login-through-agent", test_login_through_agent);
  g_test_add_func("/pkcs11/mechanisms", test_mechanisms);
  g_test_add_func("/pkcs11/return-values", test_return_values);
  g_test_add_func("/pkcs11/agent-comes-later", test_agent_comes_later);
  g_test_add_func("/pkcs11/agent-restarts", test_agent_restarts);
  g_test_add_func("/pkcs11/finalize-releases-waiter", test_finalize_releases_waiter);
  g_test_add_func("/pkcs11/threads", test_threads);
  g_test_add_func("/pkcs11/operation-begun-meanwhile", test_operation_begun_meanwhile);
  g_test_add_func("/pkcs11/fork", test_fork);
  g_test_add_func("/pkcs11/context-specific-login", test_context_specific_login);
  g_test_add_func("/pkcs11/agent-refuses-module", test_agent_refuses_module);
  return harness_run();
}
