/* tessera smime — trust anchors, CRLs and certificate chains. No network:
 * only local anchors, the message's certificates and local CRLs. */
#include "smime.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <string.h>

/* lazy: a hashed (c_rehash) directory, looked up by hash when a chain
 * needs it; reading /etc/ssl/certs whole would cost every run tens of
 * milliseconds. Other directories are read whole, hashed or not. */
static gboolean add_location(X509_STORE *store, const char *path, gboolean required,
                             gboolean lazy, GError **error)
{
  if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
    if (X509_STORE_load_path(store, path) != 1) {
      smime_set_ossl_error(error, SMIME_ERROR_INPUT, "cannot use the CA directory %s", path);
      return FALSE;
    }
    g_autoptr(GDir) dir = lazy ? NULL : g_dir_open(path, 0, NULL);
    const char *name;
    while (dir && (name = g_dir_read_name(dir)) != NULL) {
      g_autofree char *file = g_build_filename(path, name, NULL);
      if (g_file_test(file, G_FILE_TEST_IS_REGULAR) &&
          (g_str_has_suffix(name, ".pem") || g_str_has_suffix(name, ".crt")))
        X509_STORE_load_file(store, file);
    }
    ERR_clear_error(); /* duplicates of hashed entries, a .pem without a certificate */
    return TRUE;
  }
  if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
    if (!required)
      return TRUE;
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "no such CA file: %s", path);
    return FALSE;
  }
  if (X509_STORE_load_file(store, path) != 1) {
    smime_set_ossl_error(error, SMIME_ERROR_INPUT, "cannot read the CA certificates in %s", path);
    return FALSE;
  }
  return TRUE;
}

/* Adds crl (consumed) to store. */
static gboolean add_crl(X509_STORE *store, X509_CRL *crl, const char *file, guint *n,
                        GError **error)
{
  int added = X509_STORE_add_crl(store, crl);
  X509_CRL_free(crl);
  if (added != 1) {
    smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "cannot use the CRL %s", file);
    return FALSE;
  }
  (*n)++;
  return TRUE;
}

/* One CRL file: PEM (every CRL in it) or DER. */
static gboolean add_crl_file(X509_STORE *store, const char *file, guint *count, GError **error)
{
  g_autoptr(BIO) in = BIO_new_file(file, "rb");
  if (in == NULL) {
    smime_set_ossl_error(error, SMIME_ERROR_INPUT, "cannot read the CRL %s", file);
    return FALSE;
  }
  guint n = 0;
  X509_CRL *crl;
  while ((crl = PEM_read_bio_X509_CRL(in, NULL, NULL, NULL)) != NULL)
    if (!add_crl(store, crl, file, &n, error))
      return FALSE;
  ERR_clear_error(); /* the end of the PEM data, or no PEM at all */
  if (n == 0 && BIO_reset(in) == 0 && (crl = d2i_X509_CRL_bio(in, NULL)) != NULL &&
      !add_crl(store, crl, file, &n, error))
    return FALSE;
  if (n == 0) {
    smime_set_ossl_error(error, SMIME_ERROR_INPUT, "%s is not a CRL (PEM or DER)", file);
    return FALSE;
  }
  *count += n;
  return TRUE;
}

static gint compare_paths(gconstpointer a, gconstpointer b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A CRL file, or every regular file in a directory (in name order, so that
 * an error names the same file every time). required: a path that does
 * not exist is an error, else it is skipped. */
static gboolean add_crl_location(X509_STORE *store, const char *path, gboolean required,
                                 guint *count, GError **error)
{
  if (!g_file_test(path, G_FILE_TEST_IS_DIR)) {
    if (!required && !g_file_test(path, G_FILE_TEST_EXISTS))
      return TRUE;
    return add_crl_file(store, path, count, error);
  }
  g_autoptr(GError) dir_error = NULL;
  g_autoptr(GDir) dir = g_dir_open(path, 0, &dir_error);
  if (dir == NULL) {
    g_set_error(error, SMIME_ERROR, SMIME_ERROR_INPUT, "cannot read the CRL directory %s: %s",
                path, dir_error->message);
    return FALSE;
  }
  g_autoptr(GPtrArray) files = g_ptr_array_new_with_free_func(g_free);
  const char *name;
  while ((name = g_dir_read_name(dir)) != NULL) {
    char *file = g_build_filename(path, name, NULL);
    if (g_file_test(file, G_FILE_TEST_IS_REGULAR))
      g_ptr_array_add(files, file);
    else
      g_free(file);
  }
  g_ptr_array_sort(files, compare_paths);
  for (guint i = 0; i < files->len; i++)
    if (!add_crl_file(store, files->pdata[i], count, error))
      return FALSE;
  return TRUE;
}

/* $XDG_CONFIG_DIRS/tessera (the admin's; /etc/xdg by default), then
 * $XDG_CONFIG_HOME/tessera (the user's), each + name. */
static GPtrArray *config_paths(const char *name)
{
  GPtrArray *paths = g_ptr_array_new_with_free_func(g_free);
  for (const char *const *d = g_get_system_config_dirs(); *d; d++)
    g_ptr_array_add(paths, g_build_filename(*d, "tessera", name, NULL));
  g_ptr_array_add(paths, g_build_filename(g_get_user_config_dir(), "tessera", name, NULL));
  return paths;
}

X509_STORE *smime_trust_store(const SmimeTrustOptions *o, GError **error)
{
  g_autoptr(X509_STORE) store = X509_STORE_new();
  if (store == NULL) {
    smime_set_ossl_error(error, SMIME_ERROR_CRYPTO, "no X509_STORE");
    return NULL;
  }
  /* The system store (Debian: /etc/ssl/certs, hashed). */
  if (!add_location(store, "/etc/ssl/certs", FALSE, TRUE, error))
    return NULL;
  const char *env = g_getenv("TESSERA_SMIME_CA");
  if (env && *env) {
    g_auto(GStrv) parts = g_strsplit(env, ":", -1);
    for (char **p = parts; *p; p++)
      if (**p && !add_location(store, *p, TRUE, FALSE, error))
        return NULL;
  }
  /* The configured collections (like Exchange's certificate collection). */
  g_autoptr(GPtrArray) bundles = config_paths("smime-ca.pem");
  g_autoptr(GPtrArray) dirs = config_paths("smime-ca");
  for (guint i = 0; i < bundles->len; i++)
    if (!add_location(store, bundles->pdata[i], FALSE, FALSE, error) ||
        !add_location(store, dirs->pdata[i], FALSE, FALSE, error))
      return NULL;
  for (char **p = o ? o->ca_files : NULL; p && *p; p++)
    if (!add_location(store, *p, TRUE, FALSE, error))
      return NULL;
  /* CRLs: the configured ones, then --crl (files or directories). */
  guint crls = 0;
  const char *crl_env = g_getenv("TESSERA_SMIME_CRL");
  if (crl_env && *crl_env) {
    g_auto(GStrv) parts = g_strsplit(crl_env, ":", -1);
    for (char **p = parts; *p; p++)
      if (**p && !add_crl_location(store, *p, TRUE, &crls, error))
        return NULL;
  }
  g_autoptr(GPtrArray) crl_dirs = config_paths("smime-crl");
  for (guint i = 0; i < crl_dirs->len; i++)
    if (!add_crl_location(store, crl_dirs->pdata[i], FALSE, &crls, error))
      return NULL;
  for (char **p = o ? o->crl_files : NULL; p && *p; p++)
    if (!add_crl_location(store, *p, TRUE, &crls, error))
      return NULL;
  /* With any CRL, every certificate of the chain needs its issuer's CRL:
   * one without is "unable to get certificate CRL" (untrusted). */
  if (crls > 0)
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  ERR_clear_error();
  return g_steal_pointer(&store);
}

void smime_chain_result_clear(SmimeChainResult *r)
{
  g_clear_pointer(&r->reason, g_free);
  if (r->chain)
    smime_certs_free(r->chain);
  r->chain = NULL;
}

const char *smime_chain_status_name(SmimeChainStatus s)
{
  switch (s) {
  case SMIME_CHAIN_OK: return "ok";
  case SMIME_CHAIN_UNTRUSTED: return "untrusted";
  case SMIME_CHAIN_EXPIRED: return "expired";
  case SMIME_CHAIN_NOT_YET_VALID: return "not yet valid";
  case SMIME_CHAIN_REVOKED: return "revoked";
  case SMIME_CHAIN_USAGE: return "not for this use";
  }
  return "?";
}

void smime_verify_chain(X509_STORE *store, X509 *leaf, STACK_OF(X509) *untrusted, int purpose,
                        SmimeChainResult *out)
{
  memset(out, 0, sizeof(*out));
  X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  if (ctx == NULL || X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1) {
    out->status = SMIME_CHAIN_UNTRUSTED;
    out->reason = g_strdup("cannot set up certificate verification");
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    return;
  }
  X509_STORE_CTX_set_purpose(ctx, purpose);
  int ok = X509_verify_cert(ctx);
  int err = X509_STORE_CTX_get_error(ctx);
  STACK_OF(X509) *chain = X509_STORE_CTX_get1_chain(ctx);
  out->chain = chain;
  if (ok == 1) {
    out->status = SMIME_CHAIN_OK;
  } else {
    switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CRL_HAS_EXPIRED: out->status = SMIME_CHAIN_EXPIRED; break;
    case X509_V_ERR_CERT_NOT_YET_VALID: out->status = SMIME_CHAIN_NOT_YET_VALID; break;
    case X509_V_ERR_CERT_REVOKED: out->status = SMIME_CHAIN_REVOKED; break;
    case X509_V_ERR_INVALID_PURPOSE:
    case X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE: out->status = SMIME_CHAIN_USAGE; break;
    default: out->status = SMIME_CHAIN_UNTRUSTED; break;
    }
    int depth = X509_STORE_CTX_get_error_depth(ctx);
    X509 *at = X509_STORE_CTX_get_current_cert(ctx);
    g_autofree char *who = NULL;
    if (at) {
      char buf[256];
      X509_NAME_oneline(X509_get_subject_name(at), buf, sizeof(buf));
      who = g_strdup(buf);
    }
    out->reason = g_strdup_printf("%s%s%s (depth %d)", X509_verify_cert_error_string(err),
                                  who ? ": " : "", who ? who : "", depth);
  }
  X509_STORE_CTX_free(ctx);
  ERR_clear_error();
}
