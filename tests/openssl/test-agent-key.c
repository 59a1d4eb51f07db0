/* The OpenSSL provider (client/openssl) against the real agent on
 * SoftHSM2: EVP signatures, CMS signing, CMS decryption with RSA key
 * transport and ECDH key agreement, each checked by plain OpenSSL (the
 * default library context, no provider of ours), and clean failures. */
#include "agent-key.h"
#include "harness.h"

#include <openssl/cms.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <string.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(OSSL_LIB_CTX, OSSL_LIB_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(EVP_MD_CTX, EVP_MD_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CMS_ContentInfo, CMS_ContentInfo_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BIO, BIO_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509_STORE, X509_STORE_free)

static const char message[] = "Tessera: a message for S/MIME, signed and sealed by the card.\n";

typedef struct {
  TestAgent *agent;
  tessera_client *c;
  OSSL_LIB_CTX *libctx;
} Fixture;

/* A fresh agent, a connection (logged in to token 1 unless prompting)
 * and a library context with the provider. */
static void fixture_start(Fixture *f, gboolean prompting)
{
  f->agent = test_agent_start();
  f->c = prompting ? test_connect_prompting(f->agent) : test_connect(f->agent);
  if (!prompting)
    test_login(f->c, TEST_TOKEN_1);
  f->libctx = OSSL_LIB_CTX_new();
  g_assert_nonnull(f->libctx);
  g_assert_cmpint(tessera_ossl_load(f->libctx), ==, 1);
  g_assert_cmpint(tessera_ossl_load(f->libctx), ==, 1); /* twice is fine */
}

static void fixture_stop(Fixture *f)
{
  tessera_ossl_unload(f->libctx);
  OSSL_LIB_CTX_free(f->libctx);
  tessera_client_free(f->c);
  test_agent_stop(f->agent);
  g_assert_cmpuint(ERR_peek_error(), ==, 0); /* every test consumes its errors */
}

static EVP_PKEY *agent_key(Fixture *f, const char *label)
{
  tessera_key *k = NULL;
  test_assert_rc(f->c, tessera_find_key(f->c, label, &k), TESSERA_OK);
  EVP_PKEY *pkey = tessera_ossl_key(f->libctx, f->c, k);
  tessera_keys_free(k, 1); /* the EVP_PKEY keeps its own copy */
  if (pkey == NULL) {
    ERR_print_errors_fp(stderr);
    g_error("no EVP_PKEY for %s", label);
  }
  return pkey;
}

static X509 *cert_in(OSSL_LIB_CTX *libctx, const char *label)
{
  g_autoptr(GBytes) der = test_cert_der(label);
  const unsigned char *p = g_bytes_get_data(der, NULL);
  X509 *x = X509_new_ex(libctx, NULL);
  g_assert_nonnull(d2i_X509(&x, &p, (long)g_bytes_get_size(der)));
  return x;
}

/* The errors queued, as `openssl` prints them, and the queue emptied. */
static char *take_errors(void)
{
  g_autoptr(BIO) bio = BIO_new(BIO_s_mem());
  ERR_print_errors(bio);
  char *data = NULL;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? g_strndup(data, (gsize)n) : g_strdup("");
}

static void assert_errors_mention(const char *needle)
{
  g_autofree char *errors = take_errors();
  if (strstr(errors, needle) == NULL)
    g_error("expected an error mentioning \"%s\", got:\n%s", needle, errors);
}

typedef struct {
  const char *label;
  gboolean pss;
} SignCase;

static const SignCase sign_cases[] = {
  { "rsa2048", FALSE }, { "rsa2048", TRUE }, { "rsa3072", TRUE }, { "p256", FALSE }, { "p384", FALSE },
};

/* The public half is the certificate's, and behaves like any key. */
static void test_key(gconstpointer data)
{
  const char *label = data;
  const TestKeySpec *spec = test_key_spec(label);
  Fixture f;
  fixture_start(&f, FALSE);
  g_autoptr(EVP_PKEY) pkey = agent_key(&f, label);
  g_assert_true(EVP_PKEY_is_a(pkey, spec->key_type == TPROTO_KEY_RSA ? "RSA" : "EC"));
  g_assert_false(EVP_PKEY_is_a(pkey, spec->key_type == TPROTO_KEY_RSA ? "EC" : "RSA"));
  g_assert_cmpint(EVP_PKEY_get_bits(pkey), ==, (int)spec->bits);
  g_assert_cmpint(EVP_PKEY_get_security_bits(pkey), >=, 112);
  g_autoptr(EVP_PKEY) pub = test_cert_pubkey(label);
  g_assert_cmpint(EVP_PKEY_get_size(pkey), ==, EVP_PKEY_get_size(pub));
  int nid = 0;
  g_assert_cmpint(EVP_PKEY_get_default_digest_nid(pkey, &nid), >, 0);
  g_assert_cmpint(nid, ==, NID_sha256);

  g_autoptr(X509) cert = cert_in(f.libctx, label);
  g_assert_cmpint(X509_check_private_key(cert, pkey), ==, 1);
  g_assert_cmpint(EVP_PKEY_eq(pub, pkey), ==, 1);
  g_assert_cmpint(EVP_PKEY_eq(pkey, pub), ==, 1);
  /* Another key of the same type is not this one. */
  const char *other = spec->key_type == TPROTO_KEY_RSA ? (spec->bits == 2048 ? "rsa2048-b" : "rsa2048")
                                                       : (spec->bits == 256 ? "p256-b" : "p256");
  g_autoptr(X509) other_cert = cert_in(f.libctx, other);
  g_assert_cmpint(X509_check_private_key(other_cert, pkey), ==, 0);
  ERR_clear_error();

  /* The SubjectPublicKeyInfo is the one the agent listed. */
  tessera_key *k = NULL;
  test_assert_rc(f.c, tessera_find_key(f.c, label, &k), TESSERA_OK);
  unsigned char *spki = NULL;
  int n = i2d_PUBKEY(pkey, &spki);
  g_assert_cmpint(n, >, 0);
  g_assert_cmpmem(spki, (gsize)n, k->spki, k->spki_len);
  OPENSSL_free(spki);
  tessera_keys_free(k, 1);

  /* A copy is the same key, and signs. */
  g_autoptr(EVP_PKEY) dup = EVP_PKEY_dup(pkey);
  g_assert_nonnull(dup);
  g_assert_cmpint(EVP_PKEY_eq(dup, pub), ==, 1);
  g_autoptr(EVP_MD_CTX) mctx = EVP_MD_CTX_new();
  size_t len = 0;
  g_assert_cmpint(EVP_DigestSignInit_ex(mctx, NULL, "SHA256", f.libctx, NULL, dup, NULL), ==, 1);
  g_assert_cmpint(EVP_DigestSign(mctx, NULL, &len, (const unsigned char *)"x", 1), ==, 1);
  g_autofree unsigned char *sig = g_malloc(len);
  g_assert_cmpint(EVP_DigestSign(mctx, sig, &len, (const unsigned char *)"x", 1), ==, 1);
  fixture_stop(&f);
}

static gboolean verify(EVP_PKEY *pub, const SignCase *sc, const void *msg, size_t msg_len,
                       const unsigned char *sig, size_t sig_len)
{
  g_autoptr(EVP_MD_CTX) mctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pctx = NULL;
  g_assert_cmpint(EVP_DigestVerifyInit(mctx, &pctx, EVP_sha256(), NULL, pub), ==, 1);
  if (sc->pss) {
    g_assert_cmpint(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), >, 0);
    g_assert_cmpint(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), >, 0);
  }
  int rc = EVP_DigestVerify(mctx, sig, sig_len, msg, msg_len);
  ERR_clear_error();
  return rc == 1;
}

/* EVP_DigestSign, the message hashed here in pieces, signed by the card;
 * verified with the certificate's key by the default provider. */
static void test_digest_sign(gconstpointer data)
{
  const SignCase *sc = data;
  Fixture f;
  fixture_start(&f, FALSE);
  g_autoptr(EVP_PKEY) pkey = agent_key(&f, sc->label);
  g_autoptr(EVP_MD_CTX) mctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pctx = NULL;
  g_assert_cmpint(EVP_DigestSignInit_ex(mctx, &pctx, "SHA256", f.libctx, NULL, pkey, NULL), ==, 1);
  if (sc->pss) {
    g_assert_cmpint(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), >, 0);
    g_assert_cmpint(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), >, 0);
    g_assert_cmpint(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()), >, 0);
    int pad = 0;
    g_assert_cmpint(EVP_PKEY_CTX_get_rsa_padding(pctx, &pad), >, 0);
    g_assert_cmpint(pad, ==, RSA_PKCS1_PSS_PADDING);
  }
  g_assert_cmpint(EVP_DigestSignUpdate(mctx, message, 10), ==, 1);
  g_assert_cmpint(EVP_DigestSignUpdate(mctx, message + 10, sizeof(message) - 11), ==, 1);
  size_t len = 0;
  g_assert_cmpint(EVP_DigestSignFinal(mctx, NULL, &len), ==, 1);
  g_autofree unsigned char *sig = g_malloc(len);
  if (EVP_DigestSignFinal(mctx, sig, &len) != 1) {
    ERR_print_errors_fp(stderr);
    g_error("%s: EVP_DigestSignFinal failed", sc->label);
  }

  /* The AlgorithmIdentifier CMS and X.509 put in the signature. */
  unsigned char aid[128];
  OSSL_PARAM params[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, aid, sizeof(aid)),
    OSSL_PARAM_END,
  };
  g_assert_cmpint(EVP_PKEY_CTX_get_params(pctx, params), ==, 1);
  const unsigned char *p = aid;
  X509_ALGOR *alg = d2i_X509_ALGOR(NULL, &p, (long)params[0].return_size);
  g_assert_nonnull(alg);
  const ASN1_OBJECT *oid = NULL;
  X509_ALGOR_get0(&oid, NULL, NULL, alg);
  int want = sc->pss ? NID_rsassaPss
             : test_key_spec(sc->label)->key_type == TPROTO_KEY_RSA ? NID_sha256WithRSAEncryption
                                                                    : NID_ecdsa_with_SHA256;
  g_assert_cmpint(OBJ_obj2nid(oid), ==, want);
  X509_ALGOR_free(alg);

  g_autoptr(EVP_PKEY) pub = test_cert_pubkey(sc->label);
  g_assert_true(verify(pub, sc, message, sizeof(message) - 1, sig, len));
  /* And the check can fail: another message, another padding. */
  g_assert_false(verify(pub, sc, message, sizeof(message) - 2, sig, len));
  if (test_key_spec(sc->label)->key_type == TPROTO_KEY_RSA) {
    SignCase other = { sc->label, !sc->pss };
    g_assert_false(verify(pub, &other, message, sizeof(message) - 1, sig, len));
  }
  fixture_stop(&f);
}

/* EVP_PKEY_sign on a digest made elsewhere. */
static void test_sign_digest(gconstpointer data)
{
  const char *label = data;
  Fixture f;
  fixture_start(&f, FALSE);
  g_autoptr(EVP_PKEY) pkey = agent_key(&f, label);
  unsigned char digest[32];
  g_assert_cmpint(EVP_Digest(message, sizeof(message) - 1, digest, NULL, EVP_sha256(), NULL), ==, 1);
  g_autoptr(EVP_PKEY_CTX) ctx = EVP_PKEY_CTX_new_from_pkey(f.libctx, pkey, NULL);
  g_assert_cmpint(EVP_PKEY_sign_init(ctx), ==, 1);
  g_assert_cmpint(EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()), >, 0);
  size_t len = 0;
  g_assert_cmpint(EVP_PKEY_sign(ctx, NULL, &len, digest, sizeof(digest)), ==, 1);
  g_autofree unsigned char *sig = g_malloc(len);
  g_assert_cmpint(EVP_PKEY_sign(ctx, sig, &len, digest, sizeof(digest)), ==, 1);
  /* A digest of the wrong length is refused before the agent sees it. */
  size_t len2 = len;
  g_assert_cmpint(EVP_PKEY_sign(ctx, sig, &len2, digest, 20), <=, 0);
  assert_errors_mention("no SHA2-256 digest");

  g_autoptr(EVP_PKEY) pub = test_cert_pubkey(label);
  g_autoptr(EVP_PKEY_CTX) vctx = EVP_PKEY_CTX_new(pub, NULL);
  g_assert_cmpint(EVP_PKEY_verify_init(vctx), ==, 1);
  g_assert_cmpint(EVP_PKEY_CTX_set_signature_md(vctx, EVP_sha256()), >, 0);
  g_assert_cmpint(EVP_PKEY_verify(vctx, sig, len, digest, sizeof(digest)), ==, 1);
  digest[0] ^= 1;
  g_assert_cmpint(EVP_PKEY_verify(vctx, sig, len, digest, sizeof(digest)), !=, 1);
  ERR_clear_error();
  fixture_stop(&f);
}

static X509_STORE *ca_store(void)
{
  g_autofree char *ca = harness_file("ca.pem");
  X509_STORE *store = X509_STORE_new();
  g_assert_cmpint(X509_STORE_load_file(store, ca), ==, 1);
  return store;
}

/* Verified by plain OpenSSL in the default context, as a recipient would. */
static gboolean cms_verify_der(const unsigned char *der, size_t der_len, const char *content,
                               size_t content_len)
{
  const unsigned char *p = der;
  g_autoptr(CMS_ContentInfo) cms = d2i_CMS_ContentInfo(NULL, &p, (long)der_len);
  g_assert_nonnull(cms);
  g_autoptr(X509_STORE) store = ca_store();
  g_autoptr(BIO) in = BIO_new_mem_buf(content, (int)content_len);
  int ok = CMS_verify(cms, NULL, store, in, NULL, CMS_BINARY);
  if (!ok)
    ERR_clear_error();
  return ok == 1;
}

static size_t cms_to_der(CMS_ContentInfo *cms, unsigned char **der)
{
  *der = NULL;
  int n = i2d_CMS_ContentInfo(cms, der);
  g_assert_cmpint(n, >, 0);
  return (size_t)n;
}

/* CMS_sign: detached, with signed attributes (EVP_DigestSign on them). */
static void test_cms_sign(gconstpointer data)
{
  const SignCase *sc = data;
  Fixture f;
  fixture_start(&f, FALSE);
  g_autoptr(EVP_PKEY) pkey = agent_key(&f, sc->label);
  g_autoptr(X509) cert = cert_in(f.libctx, sc->label);
  g_autoptr(BIO) in = BIO_new_mem_buf(message, sizeof(message) - 1);
  unsigned int flags = CMS_DETACHED | CMS_BINARY;
  g_autoptr(CMS_ContentInfo) cms = NULL;
  if (!sc->pss) {
    cms = CMS_sign_ex(cert, pkey, NULL, in, flags, f.libctx, NULL);
  } else {
    /* PSS: the signer's context is set up before CMS_final signs. */
    cms = CMS_sign_ex(NULL, NULL, NULL, NULL, flags | CMS_PARTIAL, f.libctx, NULL);
    g_assert_nonnull(cms);
    CMS_SignerInfo *si = CMS_add1_signer(cms, cert, pkey, EVP_sha256(), flags | CMS_KEY_PARAM);
    g_assert_nonnull(si);
    EVP_PKEY_CTX *pctx = CMS_SignerInfo_get0_pkey_ctx(si);
    g_assert_nonnull(pctx);
    g_assert_cmpint(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), >, 0);
    g_assert_cmpint(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), >, 0);
    if (CMS_final(cms, in, NULL, flags) != 1)
      g_clear_pointer(&cms, CMS_ContentInfo_free);
  }
  if (cms == NULL) {
    ERR_print_errors_fp(stderr);
    g_error("%s: CMS signing failed", sc->label);
  }
  CMS_SignerInfo *si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
  g_assert_cmpint(CMS_signed_get_attr_count(si), >, 0);
  X509_ALGOR *sig_alg = NULL;
  CMS_SignerInfo_get0_algs(si, NULL, NULL, NULL, &sig_alg);
  const ASN1_OBJECT *oid = NULL;
  X509_ALGOR_get0(&oid, NULL, NULL, sig_alg);
  if (sc->pss)
    g_assert_cmpint(OBJ_obj2nid(oid), ==, NID_rsassaPss);

  unsigned char *der = NULL;
  size_t der_len = cms_to_der(cms, &der);
  g_assert_true(cms_verify_der(der, der_len, message, sizeof(message) - 1));
  g_assert_false(cms_verify_der(der, der_len, message, sizeof(message) - 2));
  OPENSSL_free(der);
  fixture_stop(&f);
}

/* Encrypted to the certificate by plain OpenSSL (a sender), DER. */
static size_t cms_encrypt_to(const char *label, unsigned char **der)
{
  g_autoptr(X509) cert = cert_in(NULL, label);
  STACK_OF(X509) *certs = sk_X509_new_null();
  sk_X509_push(certs, cert);
  g_autoptr(BIO) in = BIO_new_mem_buf(message, sizeof(message) - 1);
  g_autoptr(CMS_ContentInfo) cms = CMS_encrypt(certs, in, EVP_aes_256_cbc(), CMS_BINARY);
  sk_X509_free(certs);
  g_assert_nonnull(cms);
  CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(CMS_get0_RecipientInfos(cms), 0);
  int want = test_key_spec(label)->key_type == TPROTO_KEY_RSA ? CMS_RECIPINFO_TRANS
                                                              : CMS_RECIPINFO_AGREE;
  g_assert_cmpint(CMS_RecipientInfo_type(ri), ==, want);
  return cms_to_der(cms, der);
}

/* Decrypted in our context, the way `tessera smime` will. cert may be
 * NULL (try every recipient). Returns the plaintext or NULL. */
static GBytes *cms_decrypt_der_flags(Fixture *f, const unsigned char *der, size_t der_len,
                                     EVP_PKEY *pkey, X509 *cert, unsigned int flags)
{
  CMS_ContentInfo *cms = CMS_ContentInfo_new_ex(f->libctx, NULL);
  const unsigned char *p = der;
  g_assert_nonnull(d2i_CMS_ContentInfo(&cms, &p, (long)der_len));
  g_autoptr(BIO) out = BIO_new(BIO_s_mem());
  int ok = CMS_decrypt(cms, pkey, cert, NULL, out, CMS_BINARY | flags);
  CMS_ContentInfo_free(cms);
  if (ok != 1)
    return NULL;
  char *data = NULL;
  long n = BIO_get_mem_data(out, &data);
  return g_bytes_new(data, (gsize)n);
}

static GBytes *cms_decrypt_der(Fixture *f, const unsigned char *der, size_t der_len,
                               EVP_PKEY *pkey, X509 *cert)
{
  return cms_decrypt_der_flags(f, der, der_len, pkey, cert, 0);
}

/* RSA key transport (AES-256-CBC), and ECDH key agreement: CMS_encrypt
 * to an EC certificate uses dhSinglePass-stdDH-sha1kdf with AES wrap. */
static void test_cms_decrypt(gconstpointer data)
{
  const char *label = data;
  Fixture f;
  fixture_start(&f, FALSE);
  g_autoptr(EVP_PKEY) pkey = agent_key(&f, label);
  g_autoptr(X509) cert = cert_in(f.libctx, label);
  unsigned char *der = NULL;
  size_t der_len = cms_encrypt_to(label, &der);
  g_autoptr(GBytes) plain = cms_decrypt_der(&f, der, der_len, pkey, cert);
  if (plain == NULL) {
    ERR_print_errors_fp(stderr);
    g_error("%s: CMS_decrypt failed", label);
  }
  g_assert_cmpmem(g_bytes_get_data(plain, NULL), g_bytes_get_size(plain), message,
                  sizeof(message) - 1);
  /* Without the certificate: every recipient is tried. */
  g_autoptr(GBytes) plain2 = cms_decrypt_der(&f, der, der_len, pkey, NULL);
  g_assert_nonnull(plain2);
  g_assert_true(g_bytes_equal(plain, plain2));
  OPENSSL_free(der);
  fixture_stop(&f);
}

/* OAEP with SHA-256 and a label, through EVP_PKEY_decrypt. */
static void test_decrypt_oaep(void)
{
  Fixture f;
  fixture_start(&f, FALSE);
  g_autoptr(EVP_PKEY) pkey = agent_key(&f, "rsa2048");
  g_autoptr(EVP_PKEY) pub = test_cert_pubkey("rsa2048");
  const char secret[] = "a content-encryption key";
  for (int with_label = 0; with_label < 2; with_label++) {
    g_autoptr(EVP_PKEY_CTX) ectx = EVP_PKEY_CTX_new(pub, NULL);
    g_assert_cmpint(EVP_PKEY_encrypt_init(ectx), ==, 1);
    g_assert_cmpint(EVP_PKEY_CTX_set_rsa_padding(ectx, RSA_PKCS1_OAEP_PADDING), >, 0);
    g_assert_cmpint(EVP_PKEY_CTX_set_rsa_oaep_md(ectx, EVP_sha256()), >, 0);
    if (with_label)
      g_assert_cmpint(EVP_PKEY_CTX_set0_rsa_oaep_label(ectx, OPENSSL_strdup("L"), 1), >, 0);
    unsigned char ct[256];
    size_t ct_len = sizeof(ct);
    g_assert_cmpint(EVP_PKEY_encrypt(ectx, ct, &ct_len, (const unsigned char *)secret,
                                     sizeof(secret)), ==, 1);

    g_autoptr(EVP_PKEY_CTX) dctx = EVP_PKEY_CTX_new_from_pkey(f.libctx, pkey, NULL);
    g_assert_cmpint(EVP_PKEY_decrypt_init(dctx), ==, 1);
    g_assert_cmpint(EVP_PKEY_CTX_set_rsa_padding(dctx, RSA_PKCS1_OAEP_PADDING), >, 0);
    g_assert_cmpint(EVP_PKEY_CTX_set_rsa_oaep_md(dctx, EVP_sha256()), >, 0);
    if (with_label)
      g_assert_cmpint(EVP_PKEY_CTX_set0_rsa_oaep_label(dctx, OPENSSL_strdup("L"), 1), >, 0);
    size_t len = 0;
    g_assert_cmpint(EVP_PKEY_decrypt(dctx, NULL, &len, ct, ct_len), ==, 1);
    g_assert_cmpuint(len, ==, 256);
    unsigned char out[256];
    g_assert_cmpint(EVP_PKEY_decrypt(dctx, out, &len, ct, ct_len), ==, 1);
    g_assert_cmpmem(out, len, secret, sizeof(secret));

    /* Another label: the token refuses, cleanly. */
    g_assert_cmpint(EVP_PKEY_CTX_set0_rsa_oaep_label(dctx, OPENSSL_strdup("M"), 1), >, 0);
    len = sizeof(out);
    g_assert_cmpint(EVP_PKEY_decrypt(dctx, out, &len, ct, ct_len), <=, 0);
    assert_errors_mention("tessera");
  }
  fixture_stop(&f);
}

/* Plain ECDH: the card's shared x equals the one computed from the
 * other side. */
static void test_derive(gconstpointer data)
{
  const char *label = data;
  Fixture f;
  fixture_start(&f, FALSE);
  g_autoptr(EVP_PKEY) pkey = agent_key(&f, label);
  g_autoptr(EVP_PKEY) pub = test_cert_pubkey(label);
  g_autoptr(EVP_PKEY) eph = EVP_EC_gen(strcmp(label, "p256") == 0 ? "P-256" : "P-384");
  g_assert_nonnull(eph);

  g_autoptr(EVP_PKEY_CTX) ours = EVP_PKEY_CTX_new_from_pkey(f.libctx, pkey, NULL);
  g_assert_cmpint(EVP_PKEY_derive_init(ours), ==, 1);
  g_assert_cmpint(EVP_PKEY_derive_set_peer(ours, eph), ==, 1);
  size_t len = 0;
  g_assert_cmpint(EVP_PKEY_derive(ours, NULL, &len), ==, 1);
  unsigned char z[66], want[66];
  g_assert_cmpint(EVP_PKEY_derive(ours, z, &len), ==, 1);

  g_autoptr(EVP_PKEY_CTX) theirs = EVP_PKEY_CTX_new(eph, NULL);
  size_t want_len = sizeof(want);
  g_assert_cmpint(EVP_PKEY_derive_init(theirs), ==, 1);
  g_assert_cmpint(EVP_PKEY_derive_set_peer(theirs, pub), ==, 1);
  g_assert_cmpint(EVP_PKEY_derive(theirs, want, &want_len), ==, 1);
  g_assert_cmpmem(z, len, want, want_len);

  /* A peer on another curve is refused. */
  g_autoptr(EVP_PKEY) wrong = EVP_EC_gen(strcmp(label, "p256") == 0 ? "P-384" : "P-256");
  g_autoptr(EVP_PKEY_CTX) ctx2 = EVP_PKEY_CTX_new_from_pkey(f.libctx, pkey, NULL);
  g_assert_cmpint(EVP_PKEY_derive_init(ctx2), ==, 1);
  g_assert_cmpint(EVP_PKEY_derive_set_peer(ctx2, wrong), <=, 0);
  ERR_clear_error();
  fixture_stop(&f);
}

/* The wrong key fails cleanly: no plaintext, an error, no crash. */
static void test_wrong_key(void)
{
  Fixture f;
  fixture_start(&f, FALSE);
  g_autoptr(EVP_PKEY) rsa3072 = agent_key(&f, "rsa3072");
  g_autoptr(EVP_PKEY) p384 = agent_key(&f, "p384");
  g_autoptr(X509) rsa3072_cert = cert_in(f.libctx, "rsa3072");
  g_autoptr(X509) p384_cert = cert_in(f.libctx, "p384");
  g_autoptr(X509) p256_cert = cert_in(f.libctx, "p256");

  /* For rsa2048, decrypted with rsa3072: not a recipient; and without a
   * certificate the agent's key is tried and fails. */
  unsigned char *der = NULL;
  size_t der_len = cms_encrypt_to("rsa2048", &der);
  g_assert_null(cms_decrypt_der(&f, der, der_len, rsa3072, rsa3072_cert));
  /* OpenSSL 3.0 quirk: CMS_decrypt fails here with nothing queued, so
   * the caller must say "not a recipient" itself. */
  ERR_clear_error();
  g_assert_null(cms_decrypt_der(&f, der, der_len, rsa3072, NULL));
  g_autofree char *errors = take_errors();
  g_assert_cmpstr(errors, !=, "");
  OPENSSL_free(der);

  /* For p256, with p384's key: not a recipient; tried anyway. */
  der_len = cms_encrypt_to("p256", &der);
  g_assert_null(cms_decrypt_der(&f, der, der_len, p384, p384_cert));
  ERR_clear_error();
  g_assert_null(cms_decrypt_der(&f, der, der_len, p384, NULL));
  g_autofree char *errors2 = take_errors();
  g_assert_cmpstr(errors2, !=, "");
  OPENSSL_free(der);

  /* Signing with a certificate that is not the key's. */
  g_autoptr(BIO) in = BIO_new_mem_buf(message, sizeof(message) - 1);
  g_assert_null(CMS_sign_ex(p256_cert, p384, NULL, in, CMS_DETACHED | CMS_BINARY, f.libctx, NULL));
  assert_errors_mention("private key does not match certificate");

  /* RSA decryption with an EC key is not offered at all. */
  g_autoptr(EVP_PKEY_CTX) ctx = EVP_PKEY_CTX_new_from_pkey(f.libctx, p384, NULL);
  g_assert_cmpint(EVP_PKEY_decrypt_init(ctx), <=, 0);
  ERR_clear_error();
  fixture_stop(&f);
}

/* The user cancels the PIN dialog: every operation fails with an error
 * that says so, and the key works once the PIN is given. */
static void test_pin_cancelled(void)
{
  Fixture f;
  fixture_start(&f, TRUE);
  test_pinentry_answers(f.agent, "cancel\ncancel\ncancel\ncancel\n");
  g_autoptr(EVP_PKEY) p256 = agent_key(&f, "p256");
  g_autoptr(EVP_PKEY) rsa = agent_key(&f, "rsa2048");

  g_autoptr(EVP_MD_CTX) mctx = EVP_MD_CTX_new();
  g_assert_cmpint(EVP_DigestSignInit_ex(mctx, NULL, "SHA256", f.libctx, NULL, p256, NULL), ==, 1);
  size_t len = 0;
  g_assert_cmpint(EVP_DigestSign(mctx, NULL, &len, (const unsigned char *)message, 5), ==, 1);
  g_autofree unsigned char *sig = g_malloc(len);
  g_assert_cmpint(EVP_DigestSign(mctx, sig, &len, (const unsigned char *)message, 5), <=, 0);
  unsigned long e = ERR_peek_error();
  g_assert_cmpstr(ERR_lib_error_string(e), ==, "tessera");
  g_assert_cmpstr(ERR_reason_error_string(e), ==, "PIN entry cancelled");
  assert_errors_mention(TEST_TOKEN_1);

  g_autoptr(X509) cert = cert_in(f.libctx, "p256");
  g_autoptr(BIO) in = BIO_new_mem_buf(message, sizeof(message) - 1);
  g_assert_null(CMS_sign_ex(cert, p256, NULL, in, CMS_DETACHED | CMS_BINARY, f.libctx, NULL));
  assert_errors_mention("PIN entry cancelled");

  g_autoptr(X509) rsa_cert = cert_in(f.libctx, "rsa2048");
  unsigned char *der = NULL;
  size_t der_len = cms_encrypt_to("rsa2048", &der);
  /* OpenSSL's defence against Bleichenbacher oracles hides why key
   * transport failed (the content is decrypted with a random key and
   * fails); CMS_DEBUG_DECRYPT keeps the reason. */
  g_assert_null(cms_decrypt_der(&f, der, der_len, rsa, rsa_cert));
  assert_errors_mention("bad decrypt");
  g_assert_null(cms_decrypt_der_flags(&f, der, der_len, rsa, rsa_cert, CMS_DEBUG_DECRYPT));
  assert_errors_mention("PIN entry cancelled");

  /* Now the PIN: the same keys work. */
  test_pinentry_answers(f.agent, "pin " TEST_PIN "\n");
  g_autoptr(GBytes) plain = cms_decrypt_der(&f, der, der_len, rsa, rsa_cert);
  g_assert_nonnull(plain);
  g_assert_cmpmem(g_bytes_get_data(plain, NULL), g_bytes_get_size(plain), message,
                  sizeof(message) - 1);
  OPENSSL_free(der);
  fixture_stop(&f);
}

int main(int argc, char **argv)
{
  harness_init(&argc, &argv);
  const char *keys[] = { "rsa2048", "p256", "p384" };
  for (gsize i = 0; i < G_N_ELEMENTS(keys); i++) {
    g_autofree char *key = g_strdup_printf("/openssl/key/%s", keys[i]);
    g_test_add_data_func(key, keys[i], test_key);
    g_autofree char *sd = g_strdup_printf("/openssl/sign-digest/%s", keys[i]);
    g_test_add_data_func(sd, keys[i], test_sign_digest);
    g_autofree char *dec = g_strdup_printf("/openssl/cms-decrypt/%s", keys[i]);
    g_test_add_data_func(dec, keys[i], test_cms_decrypt);
  }
  for (gsize i = 0; i < G_N_ELEMENTS(sign_cases); i++) {
    const SignCase *sc = &sign_cases[i];
    g_autofree char *ds = g_strdup_printf("/openssl/digest-sign/%s%s", sc->label,
                                          sc->pss ? "-pss" : "");
    g_test_add_data_func(ds, sc, test_digest_sign);
    g_autofree char *cs = g_strdup_printf("/openssl/cms-sign/%s%s", sc->label,
                                          sc->pss ? "-pss" : "");
    g_test_add_data_func(cs, sc, test_cms_sign);
  }
  g_test_add_data_func("/openssl/derive/p256", "p256", test_derive);
  g_test_add_data_func("/openssl/derive/p384", "p384", test_derive);
  g_test_add_func("/openssl/decrypt-oaep", test_decrypt_oaep);
  g_test_add_func("/openssl/wrong-key", test_wrong_key);
  g_test_add_func("/openssl/pin-cancelled", test_pin_cancelled);
  return harness_run();
}
