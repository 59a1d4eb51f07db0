/* Every operation of every test key through the real agent, each result
 * checked with OpenSSL against the key's certificate; listings; key
 * argument resolution. */
#include "harness.h"

#include <openssl/core_names.h>
#include <openssl/rsa.h>
#include <string.h>

static const uint8_t rsa_hashes[] = { TPROTO_HASH_SHA256, TPROTO_HASH_SHA384, TPROTO_HASH_SHA512 };

static const tessera_token *find_token(const tessera_token *t, size_t n, const char *label)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(t[i].label, label) == 0)
      return &t[i];
  g_error("token '%s' not listed", label);
}

static const tessera_key *find_key(const tessera_key *k, size_t n, const char *label)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(k[i].label, label) == 0)
      return &k[i];
  g_error("key '%s' not listed", label);
}

static void test_list_tokens(void)
{
  TestAgent *agent = test_agent_start();
  g_autoptr(tessera_client) c = test_connect(agent);
  tessera_token *tokens = NULL;
  size_t n = 0;
  test_assert_rc(c, tessera_list_tokens(c, &tokens, &n), TESSERA_OK);
  g_assert_cmpuint(n, ==, 2);
  for (size_t i = 0; i < 2; i++) {
    const char *label = i == 0 ? TEST_TOKEN_1 : TEST_TOKEN_2;
    const tessera_token *t = find_token(tokens, n, label);
    g_assert_cmpuint(strlen(t->serial), ==, 16); /* SoftHSM: 16 hex digits */
    g_autofree char *id = g_strdup_printf("pkcs11:token=%s;serial=%s", label, t->serial);
    g_assert_cmpstr(t->id, ==, id);
    g_assert_cmpstr(t->manufacturer, ==, "SoftHSM project");
    g_assert_cmpstr(t->model, ==, "SoftHSM v2");
    g_assert_true(strstr(t->module, "softhsm") != NULL);
    g_assert_cmpuint(t->n_keys, ==, i == 0 ? 4 : 2);
    g_assert_cmphex(t->flags & (TPROTO_TOKEN_PRESENT | TPROTO_TOKEN_LOGIN_REQUIRED |
                                TPROTO_TOKEN_LOGGED_IN | TPROTO_TOKEN_PIN_LOCKED),
                    ==, TPROTO_TOKEN_PRESENT | TPROTO_TOKEN_LOGIN_REQUIRED);
  }
  g_assert_cmpstr(tokens[0].serial, !=, tokens[1].serial);
  tessera_tokens_free(tokens, n);

  /* Logging in shows in the token flags, for that token only. */
  test_login(c, TEST_TOKEN_1);
  test_assert_rc(c, tessera_list_tokens(c, &tokens, &n), TESSERA_OK);
  g_assert_true(find_token(tokens, n, TEST_TOKEN_1)->flags & TPROTO_TOKEN_LOGGED_IN);
  g_assert_false(find_token(tokens, n, TEST_TOKEN_2)->flags & TPROTO_TOKEN_LOGGED_IN);
  tessera_tokens_free(tokens, n);

  tessera_status st = { 0 };
  test_assert_rc(c, tessera_status_get(c, &st), TESSERA_OK);
  g_assert_cmpuint(st.pid, ==, (uint32_t)agent->pid);
  g_assert_cmpuint(st.n_tokens, ==, 2);
  g_assert_cmpuint(st.n_keys, ==, TEST_N_KEYS);
  g_assert_cmpuint(st.n_clients, ==, 1);
  g_assert_cmpstr(st.agent_version, !=, "");
  tessera_status_clear(&st);
  test_agent_stop(agent);
}

static GBytes *spki_of(EVP_PKEY *k)
{
  unsigned char *der = NULL;
  int n = i2d_PUBKEY(k, &der);
  g_assert_cmpint(n, >, 0);
  GBytes *b = g_bytes_new(der, (gsize)n);
  OPENSSL_free(der);
  return b;
}

static void assert_mem_eq(const uint8_t *p, size_t n, GBytes *expected)
{
  gsize en = 0;
  const guint8 *e = g_bytes_get_data(expected, &en);
  g_assert_cmpmem(p, n, e, en);
}

/* Checks the listing against make-tokens.sh; ops are exact once the
 * private key object is visible (before login they are inferred). */
static void check_keys(tessera_client *c, gboolean logged_in)
{
  tessera_token *tokens = NULL;
  size_t n_tokens = 0;
  test_assert_rc(c, tessera_list_tokens(c, &tokens, &n_tokens), TESSERA_OK);
  tessera_key *keys = NULL;
  size_t n = 0;
  test_assert_rc(c, tessera_list_keys(c, NULL, &keys, &n), TESSERA_OK);
  g_assert_cmpuint(n, ==, TEST_N_KEYS);
  for (size_t i = 0; i < TEST_N_KEYS; i++) {
    const TestKeySpec *spec = &test_keys[i];
    const tessera_key *k = find_key(keys, n, spec->label);
    const tessera_token *t = find_token(tokens, n_tokens, spec->token);
    g_assert_cmpstr(k->token_id, ==, t->id);
    g_autofree char *id = g_strdup_printf("%s;id=%%%02X;type=private", t->id, spec->ckaid);
    g_assert_cmpstr(k->id, ==, id);
    g_assert_cmpuint(k->key_type, ==, spec->key_type);
    g_assert_cmpuint(k->bits, ==, spec->bits);
    g_assert_true(k->flags & TPROTO_KEY_HAS_CERT);
    g_assert_true(k->flags & TPROTO_KEY_AVAILABLE);
    g_assert_false(k->flags & TPROTO_KEY_ALWAYS_AUTH);
    g_autoptr(GBytes) cert = test_cert_der(spec->label);
    assert_mem_eq(k->cert, k->cert_len, cert);
    g_autoptr(EVP_PKEY) pub = test_cert_pubkey(spec->label);
    g_autoptr(GBytes) spki = spki_of(pub);
    assert_mem_eq(k->spki, k->spki_len, spki);
    if (logged_in) {
      g_assert_true(k->flags & TPROTO_KEY_PRIVATE_SEEN);
      g_assert_cmphex(k->ops, ==, spec->ops);
    } else {
      g_assert_true(k->ops & TPROTO_OP_SIGN);
    }
  }
  tessera_keys_free(keys, n);

  /* Filtered by token label, then by token id. */
  for (size_t i = 0; i < 2; i++) {
    const tessera_token *t = find_token(tokens, n_tokens, i == 0 ? TEST_TOKEN_1 : TEST_TOKEN_2);
    const char *filters[] = { t->label, t->id, t->serial };
    for (size_t f = 0; f < G_N_ELEMENTS(filters); f++) {
      test_assert_rc(c, tessera_list_keys(c, filters[f], &keys, &n), TESSERA_OK);
      g_assert_cmpuint(n, ==, i == 0 ? 4 : 2);
      for (size_t j = 0; j < n; j++)
        g_assert_cmpstr(keys[j].token_id, ==, t->id);
      tessera_keys_free(keys, n);
    }
  }
  tessera_tokens_free(tokens, n_tokens);
}

static void test_list_keys(void)
{
  TestAgent *agent = test_agent_start();
  g_autoptr(tessera_client) c = test_connect(agent);
  check_keys(c, FALSE);
  test_login(c, TEST_TOKEN_1);
  test_login(c, TEST_TOKEN_2);
  check_keys(c, TRUE);
  test_agent_stop(agent);
}

static TestAgent *start_logged_in(tessera_client **c)
{
  TestAgent *agent = test_agent_start();
  *c = test_connect(agent);
  test_login(*c, TEST_TOKEN_1);
  test_login(*c, TEST_TOKEN_2);
  return agent;
}

static void test_sign_rsa(void)
{
  g_autoptr(tessera_client) c = NULL;
  TestAgent *agent = start_logged_in(&c);
  const char *labels[] = { "rsa2048", "rsa3072", "rsa2048-b" };
  for (size_t i = 0; i < G_N_ELEMENTS(labels); i++)
    for (size_t h = 0; h < G_N_ELEMENTS(rsa_hashes); h++) {
      test_sign_and_verify(c, labels[i], TPROTO_MECH_RSA_PKCS, rsa_hashes[h]);
      test_sign_and_verify(c, labels[i], TPROTO_MECH_RSA_PSS, rsa_hashes[h]);
    }
  test_agent_stop(agent);
}

static void test_sign_ec(void)
{
  g_autoptr(tessera_client) c = NULL;
  TestAgent *agent = start_logged_in(&c);
  const char *labels[] = { "p256", "p384", "p256-b" };
  for (size_t i = 0; i < G_N_ELEMENTS(labels); i++) {
    test_sign_and_verify(c, labels[i], TPROTO_MECH_ECDSA, TPROTO_HASH_SHA256);
    test_sign_and_verify(c, labels[i], TPROTO_MECH_ECDSA, TPROTO_HASH_SHA384);
  }
  test_agent_stop(agent);
}

/* A wrong signature must not pass test_verify: the checks can fail. */
static void test_verify_rejects(void)
{
  g_autoptr(tessera_client) c = NULL;
  TestAgent *agent = start_logged_in(&c);
  const char *labels[] = { "rsa2048", "p256" };
  for (size_t i = 0; i < G_N_ELEMENTS(labels); i++) {
    uint8_t mech = test_default_mech(labels[i]);
    g_autoptr(GBytes) digest = test_digest(TPROTO_HASH_SHA256, "x", 1);
    g_autoptr(GBytes) input = mech == TPROTO_MECH_RSA_PKCS
                                  ? test_digest_info(TPROTO_HASH_SHA256, digest)
                                  : g_bytes_ref(digest);
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    test_assert_rc(c,
                   tessera_sign(c, labels[i], mech, 0, 0, 0, g_bytes_get_data(input, NULL),
                                g_bytes_get_size(input), &sig, &sig_len),
                   TESSERA_OK);
    g_autoptr(EVP_PKEY) pub = test_cert_pubkey(labels[i]);
    g_assert_true(test_verify(pub, mech, TPROTO_HASH_SHA256, digest, sig, sig_len));
    sig[sig_len / 2] ^= 1;
    g_assert_false(test_verify(pub, mech, TPROTO_HASH_SHA256, digest, sig, sig_len));
    sig[sig_len / 2] ^= 1;
    /* Right signature, another key's certificate. */
    g_autoptr(EVP_PKEY) other = test_cert_pubkey(i == 0 ? "rsa2048-b" : "p256-b");
    g_assert_false(test_verify(other, mech, TPROTO_HASH_SHA256, digest, sig, sig_len));
    free(sig);
  }
  test_agent_stop(agent);
}

static GBytes *rsa_encrypt_full(const char *key, uint8_t mech, uint8_t hash, uint8_t mgf_hash,
                                const void *label, size_t label_len, const char *plain)
{
  g_autoptr(EVP_PKEY) pub = test_cert_pubkey(key);
  g_autoptr(EVP_PKEY_CTX) ctx = EVP_PKEY_CTX_new(pub, NULL);
  g_assert_cmpint(EVP_PKEY_encrypt_init(ctx), ==, 1);
  if (mech == TPROTO_MECH_RSA_OAEP) {
    g_assert_cmpint(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), ==, 1);
    g_assert_cmpint(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, test_md(hash)), ==, 1);
    g_assert_cmpint(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, test_md(mgf_hash)), ==, 1);
    if (label_len > 0) /* the context takes the copy */
      g_assert_cmpint(EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, OPENSSL_memdup(label, label_len),
                                                       (int)label_len),
                      ==, 1);
  } else {
    g_assert_cmpint(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), ==, 1);
  }
  size_t n = 0;
  g_assert_cmpint(EVP_PKEY_encrypt(ctx, NULL, &n, (const guint8 *)plain, strlen(plain)), ==, 1);
  guint8 *out = g_malloc(n);
  g_assert_cmpint(EVP_PKEY_encrypt(ctx, out, &n, (const guint8 *)plain, strlen(plain)), ==, 1);
  return g_bytes_new_take(out, n);
}

static GBytes *rsa_encrypt(const char *key, uint8_t mech, uint8_t hash, const char *plain)
{
  return rsa_encrypt_full(key, mech, hash, hash, NULL, 0, plain);
}

static void test_decrypt_rsa(void)
{
  g_autoptr(tessera_client) c = NULL;
  TestAgent *agent = start_logged_in(&c);
  const char *labels[] = { "rsa2048", "rsa3072" };
  const struct {
    uint8_t mech, hash;
  } modes[] = {
    { TPROTO_MECH_RSA_PKCS, 0 },
    { TPROTO_MECH_RSA_OAEP, TPROTO_HASH_SHA1 },
    { TPROTO_MECH_RSA_OAEP, TPROTO_HASH_SHA256 },
  };
  for (size_t i = 0; i < G_N_ELEMENTS(labels); i++)
    for (size_t m = 0; m < G_N_ELEMENTS(modes); m++) {
      g_autofree char *plain = g_strdup_printf("secret %u for %s", g_random_int(), labels[i]);
      g_autoptr(GBytes) ct = rsa_encrypt(labels[i], modes[m].mech, modes[m].hash, plain);
      g_assert_cmpuint(g_bytes_get_size(ct), ==, test_key_spec(labels[i])->bits / 8);
      uint8_t *out = NULL;
      size_t out_len = 0;
      int rc = tessera_decrypt(c, labels[i], modes[m].mech, modes[m].hash, modes[m].hash, NULL,
                               0, g_bytes_get_data(ct, NULL), g_bytes_get_size(ct), &out,
                               &out_len);
      test_assert_rc(c, rc, TESSERA_OK);
      g_assert_cmpmem(out, out_len, plain, strlen(plain));
      tessera_free_secret(out, out_len);
    }

  test_agent_stop(agent);
}

/* SoftHSM 2.6 does OAEP with SHA-1 only: these are decrypted raw on the
 * token, the agent removing the padding. SHA-1 with a label: SoftHSM 2.6.1
 * accepts the parameters at C_DecryptInit, then fails C_Decrypt
 * (CKR_GENERAL_ERROR); the agent tries once more raw. */
static const struct {
  uint8_t hash, mgf_hash;
  const char *label; /* with a NUL inside: the label is bytes */
  size_t label_len;
} oaep_cases[] = {
  { TPROTO_HASH_SHA256, TPROTO_HASH_SHA256, NULL, 0 },
  { TPROTO_HASH_SHA256, TPROTO_HASH_SHA256, "tessera\0label", 13 },
  { TPROTO_HASH_SHA384, TPROTO_HASH_SHA384, NULL, 0 },
  { TPROTO_HASH_SHA512, TPROTO_HASH_SHA512, "l", 1 },
  { TPROTO_HASH_SHA256, TPROTO_HASH_SHA1, NULL, 0 },
  { TPROTO_HASH_SHA1, TPROTO_HASH_SHA1, "tessera\0label", 13 },
  { TPROTO_HASH_SHA1, TPROTO_HASH_SHA1, "l", 1 },
};

static void test_decrypt_oaep(void)
{
  g_autoptr(tessera_client) c = NULL;
  TestAgent *agent = start_logged_in(&c);
  const char *keys[] = { "rsa2048", "rsa3072" };
  for (size_t i = 0; i < G_N_ELEMENTS(keys); i++)
    for (size_t m = 0; m < G_N_ELEMENTS(oaep_cases); m++) {
      g_autofree char *plain = g_strdup_printf("secret %u for %s", g_random_int(), keys[i]);
      g_autoptr(GBytes) ct =
          rsa_encrypt_full(keys[i], TPROTO_MECH_RSA_OAEP, oaep_cases[m].hash,
                           oaep_cases[m].mgf_hash, oaep_cases[m].label,
                           oaep_cases[m].label_len, plain);
      uint8_t *out = NULL;
      size_t out_len = 0;
      int rc = tessera_decrypt(c, keys[i], TPROTO_MECH_RSA_OAEP, oaep_cases[m].hash,
                               oaep_cases[m].mgf_hash, (const uint8_t *)oaep_cases[m].label,
                               oaep_cases[m].label_len, g_bytes_get_data(ct, NULL),
                               g_bytes_get_size(ct), &out, &out_len);
      if (rc != TESSERA_OK)
        g_error("%s, OAEP %s/MGF1-%s, label of %zu bytes: %d %s", keys[i],
                tproto_hash_name(oaep_cases[m].hash), tproto_hash_name(oaep_cases[m].mgf_hash),
                oaep_cases[m].label_len, rc, tessera_client_last_error(c));
      g_assert_cmpmem(out, out_len, plain, strlen(plain));
      tessera_free_secret(out, out_len);
    }
  test_agent_stop(agent);
}

static int decrypt_oaep(tessera_client *c, uint8_t hash, const char *label, GBytes *ct,
                        char **msg)
{
  uint8_t *out = NULL;
  size_t out_len = 0;
  int rc = tessera_decrypt(c, "rsa2048", TPROTO_MECH_RSA_OAEP, hash, hash,
                           (const uint8_t *)label, label ? strlen(label) : 0,
                           g_bytes_get_data(ct, NULL), g_bytes_get_size(ct), &out, &out_len);
  g_assert_null(out);
  *msg = g_strdup(tessera_client_last_error(c));
  return rc;
}

/* The lowest bit flipped: still below the modulus, but garbage inside. */
static GBytes *tamper(GBytes *ct)
{
  gsize n = 0;
  const guint8 *p = g_bytes_get_data(ct, &n);
  GByteArray *a = g_byte_array_append(g_byte_array_new(), p, (guint)n);
  a->data[a->len - 1] ^= 1;
  return g_byte_array_free_to_bytes(a);
}

/* OAEP padding the agent checks fails as the token's own check does:
 * DECRYPT_FAILED with the same message, whatever was wrong. */
static void test_decrypt_oaep_rejected(void)
{
  g_autoptr(tessera_client) c = NULL;
  TestAgent *agent = start_logged_in(&c);
  g_autoptr(GBytes) sha1 = rsa_encrypt("rsa2048", TPROTO_MECH_RSA_OAEP, TPROTO_HASH_SHA1, "x");
  g_autoptr(GBytes) tampered_sha1 = tamper(sha1);
  g_autofree char *token_msg = NULL;
  g_assert_cmpint(decrypt_oaep(c, TPROTO_HASH_SHA1, NULL, tampered_sha1, &token_msg), ==,
                  TPROTO_ERR_DECRYPT_FAILED);

  g_autoptr(GBytes) ct = rsa_encrypt_full("rsa2048", TPROTO_MECH_RSA_OAEP, TPROTO_HASH_SHA256,
                                          TPROTO_HASH_SHA256, "a", 1, "x");
  g_autoptr(GBytes) tampered = tamper(ct);
  /* SHA-1 with a label: the token's OAEP fails, then the raw retry. */
  g_autoptr(GBytes) ct1 = rsa_encrypt_full("rsa2048", TPROTO_MECH_RSA_OAEP, TPROTO_HASH_SHA1,
                                           TPROTO_HASH_SHA1, "a", 1, "x");
  g_autoptr(GBytes) tampered1 = tamper(ct1);
  const struct {
    uint8_t hash;
    const char *label;
    GBytes *ct;
  } wrong[] = {
    { TPROTO_HASH_SHA256, "a", tampered }, /* corrupt ciphertext */
    { TPROTO_HASH_SHA256, "b", ct },       /* another label */
    { TPROTO_HASH_SHA256, NULL, ct },      /* no label */
    { TPROTO_HASH_SHA384, "a", ct },       /* another hash */
    { TPROTO_HASH_SHA1, "b", ct1 },        /* SHA-1: another label */
    { TPROTO_HASH_SHA1, "a", tampered1 },  /* SHA-1 with a label: corrupt */
  };
  for (size_t i = 0; i < G_N_ELEMENTS(wrong); i++) {
    g_autofree char *msg = NULL;
    int rc = decrypt_oaep(c, wrong[i].hash, wrong[i].label, wrong[i].ct, &msg);
    if (rc != TPROTO_ERR_DECRYPT_FAILED)
      g_error("case %zu: expected DECRYPT_FAILED, got %d (%s): %s", i, rc,
              rc > 0 ? tproto_error_name((uint32_t)rc) : "-", msg);
    g_assert_cmpstr(msg, ==, token_msg);
  }
  /* The failures leave the token's session usable. */
  uint8_t *out = NULL;
  size_t out_len = 0;
  test_assert_rc(c,
                 tessera_decrypt(c, "rsa2048", TPROTO_MECH_RSA_OAEP, TPROTO_HASH_SHA256,
                                 TPROTO_HASH_SHA256, (const uint8_t *)"a", 1,
                                 g_bytes_get_data(ct, NULL), g_bytes_get_size(ct), &out,
                                 &out_len),
                 TESSERA_OK);
  g_assert_cmpmem(out, out_len, "x", 1);
  tessera_free_secret(out, out_len);
  test_agent_stop(agent);
}

/* Parameters reach the token: OAEP ciphertext under PKCS#1 v1.5 fails. */
static void test_decrypt_rejected(void)
{
  g_autoptr(tessera_client) c = NULL;
  TestAgent *agent = start_logged_in(&c);
  g_autoptr(GBytes) ct = rsa_encrypt("rsa2048", TPROTO_MECH_RSA_OAEP, TPROTO_HASH_SHA1, "x");
  uint8_t *out = NULL;
  size_t out_len = 0;
  int rc_bad = tessera_decrypt(c, "rsa2048", TPROTO_MECH_RSA_PKCS, 0, 0, NULL, 0,
                               g_bytes_get_data(ct, NULL), g_bytes_get_size(ct), &out, &out_len);
  g_autofree char *msg_bad = g_strdup(tessera_client_last_error(c));
  g_assert_null(out);
  /* The failure leaves the token's session usable. */
  int rc = tessera_decrypt(c, "rsa2048", TPROTO_MECH_RSA_OAEP, TPROTO_HASH_SHA1,
                           TPROTO_HASH_SHA1, NULL, 0, g_bytes_get_data(ct, NULL),
                           g_bytes_get_size(ct), &out, &out_len);
  test_assert_rc(c, rc, TESSERA_OK);
  g_assert_cmpmem(out, out_len, "x", 1);
  tessera_free_secret(out, out_len);
  if (rc_bad != TPROTO_ERR_DECRYPT_FAILED)
    g_error("rejected ciphertext: expected DECRYPT_FAILED, got %d (%s): %s", rc_bad,
            rc_bad > 0 ? tproto_error_name((uint32_t)rc_bad) : "-", msg_bad);
  test_agent_stop(agent);
}

static void test_derive_ec(void)
{
  g_autoptr(tessera_client) c = NULL;
  TestAgent *agent = start_logged_in(&c);
  const struct {
    const char *label, *group;
    size_t secret_len;
  } cases[] = { { "p256", "P-256", 32 }, { "p384", "P-384", 48 } };
  for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
    g_autoptr(EVP_PKEY) eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", cases[i].group);
    g_assert_nonnull(eph);
    unsigned char *point = NULL;
    size_t point_len = EVP_PKEY_get1_encoded_public_key(eph, &point);
    g_assert_cmpuint(point_len, ==, 1 + 2 * cases[i].secret_len);
    g_assert_cmpuint(point[0], ==, 0x04);

    uint8_t *secret = NULL;
    size_t secret_len = 0;
    test_assert_rc(c,
                   tessera_derive(c, cases[i].label, TPROTO_MECH_ECDH, point, point_len, &secret,
                                  &secret_len),
                   TESSERA_OK);
    OPENSSL_free(point);

    g_autoptr(EVP_PKEY) pub = test_cert_pubkey(cases[i].label);
    g_autoptr(EVP_PKEY_CTX) ctx = EVP_PKEY_CTX_new(eph, NULL);
    g_assert_cmpint(EVP_PKEY_derive_init(ctx), ==, 1);
    g_assert_cmpint(EVP_PKEY_derive_set_peer(ctx, pub), ==, 1);
    unsigned char expected[64];
    size_t expected_len = sizeof(expected);
    g_assert_cmpint(EVP_PKEY_derive(ctx, expected, &expected_len), ==, 1);
    g_assert_cmpuint(expected_len, ==, cases[i].secret_len);
    g_assert_cmpmem(secret, secret_len, expected, expected_len);
    tessera_free_secret(secret, secret_len);
  }
  test_agent_stop(agent);
}

/* FIND_KEY names the key an operation with that name would use. */
static void assert_finds(tessera_client *c, const char *name, const tessera_key *want)
{
  tessera_key *found = NULL;
  int rc = tessera_find_key(c, name, &found);
  if (rc != TESSERA_OK)
    g_error("FIND_KEY '%s': %d %s", name, rc, tessera_client_last_error(c));
  g_assert_cmpstr(found->id, ==, want->id);
  g_assert_cmpstr(found->label, ==, want->label);
  g_assert_cmpuint(found->key_type, ==, want->key_type);
  g_assert_cmpmem(found->cert, found->cert_len, want->cert, want->cert_len);
  tessera_keys_free(found, 1);
}

static void test_resolve(void)
{
  g_autoptr(tessera_client) c = NULL;
  TestAgent *agent = start_logged_in(&c);
  tessera_key *keys = NULL;
  size_t n = 0;
  test_assert_rc(c, tessera_list_keys(c, NULL, &keys, &n), TESSERA_OK);
  const tessera_key *p384 = find_key(keys, n, "p384");
  const tessera_key *rsa_b = find_key(keys, n, "rsa2048-b");

  g_autoptr(GBytes) digest = test_digest(TPROTO_HASH_SHA384, "resolve", 7);
  g_autoptr(EVP_PKEY) p384_pub = test_cert_pubkey("p384");
  const char *p384_names[] = {
    p384->id,                                   /* exact id */
    "p384",                                     /* label */
    "pkcs11:token=" TEST_TOKEN_1 ";id=%04",     /* URI */
    "pkcs11:id=%04;object=p384;type=private",   /* URI by object attributes */
  };
  for (size_t i = 0; i < G_N_ELEMENTS(p384_names); i++) {
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    int rc = tessera_sign(c, p384_names[i], TPROTO_MECH_ECDSA, 0, 0, 0,
                          g_bytes_get_data(digest, NULL), g_bytes_get_size(digest), &sig,
                          &sig_len);
    if (rc != TESSERA_OK)
      g_error("key '%s': %d %s", p384_names[i], rc, tessera_client_last_error(c));
    g_assert_true(test_verify(p384_pub, TPROTO_MECH_ECDSA, TPROTO_HASH_SHA384, digest, sig,
                              sig_len));
    free(sig);
    assert_finds(c, p384_names[i], p384);
  }

  /* A unique prefix of an id that is no valid URI match of its own:
   * "type=priv" names no object class, so only the prefix rule applies. */
  size_t cut = strlen(rsa_b->id) - strlen("ate");
  g_autofree char *prefix = g_strndup(rsa_b->id, cut);
  g_autoptr(GBytes) digest256 = test_digest(TPROTO_HASH_SHA256, "prefix", 6);
  g_autoptr(GBytes) info = test_digest_info(TPROTO_HASH_SHA256, digest256);
  uint8_t *sig = NULL;
  size_t sig_len = 0;
  int rc = tessera_sign(c, prefix, TPROTO_MECH_RSA_PKCS, 0, 0, 0, g_bytes_get_data(info, NULL),
                        g_bytes_get_size(info), &sig, &sig_len);
  if (rc != TESSERA_OK)
    g_error("unique prefix '%s': %d %s", prefix, rc, tessera_client_last_error(c));
  g_autoptr(EVP_PKEY) rsa_b_pub = test_cert_pubkey("rsa2048-b");
  g_assert_true(
      test_verify(rsa_b_pub, TPROTO_MECH_RSA_PKCS, TPROTO_HASH_SHA256, digest256, sig, sig_len));
  free(sig);
  assert_finds(c, prefix, rsa_b);

  /* Prefixes shared by several keys. */
  g_autofree char *token2_prefix = g_strndup(rsa_b->token_id, strlen(rsa_b->token_id) - 3);
  const char *ambiguous[] = { "pkcs11", "pkcs11:token=tessera-test-", token2_prefix };
  for (size_t i = 0; i < G_N_ELEMENTS(ambiguous); i++) {
    rc = tessera_sign(c, ambiguous[i], TPROTO_MECH_RSA_PKCS, 0, 0, 0,
                      g_bytes_get_data(info, NULL), g_bytes_get_size(info), &sig, &sig_len);
    if (rc != TPROTO_ERR_AMBIGUOUS)
      g_error("'%s': expected AMBIGUOUS, got %d %s", ambiguous[i], rc,
              tessera_client_last_error(c));
    g_assert_null(sig);
    g_assert_cmpstr(tessera_client_last_error(c), !=, "");
    tessera_key *found = NULL;
    test_assert_rc(c, tessera_find_key(c, ambiguous[i], &found), TPROTO_ERR_AMBIGUOUS);
    g_assert_null(found);
  }
  /* A URI matching every key of token 1 is ambiguous too. */
  test_assert_rc(c,
                 tessera_sign(c, "pkcs11:token=" TEST_TOKEN_1, TPROTO_MECH_RSA_PKCS, 0, 0, 0,
                              g_bytes_get_data(info, NULL), g_bytes_get_size(info), &sig,
                              &sig_len),
                 TPROTO_ERR_AMBIGUOUS);
  tessera_keys_free(keys, n);
  test_agent_stop(agent);
}

int main(int argc, char **argv)
{
  harness_init(&argc, &argv);
  g_test_add_func("/crypto/list/tokens", test_list_tokens);
  g_test_add_func("/crypto/list/keys", test_list_keys);
  g_test_add_func("/crypto/sign/rsa", test_sign_rsa);
  g_test_add_func("/crypto/sign/ec", test_sign_ec);
  g_test_add_func("/crypto/sign/verify-rejects", test_verify_rejects);
  g_test_add_func("/crypto/derive/ec", test_derive_ec);
  g_test_add_func("/crypto/decrypt/rsa", test_decrypt_rsa);
  g_test_add_func("/crypto/decrypt/rejected", test_decrypt_rejected);
  g_test_add_func("/crypto/decrypt/oaep", test_decrypt_oaep);
  g_test_add_func("/crypto/decrypt/oaep-rejected", test_decrypt_oaep_rejected);
  g_test_add_func("/crypto/resolve", test_resolve);
  return harness_run();
}
