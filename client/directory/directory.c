/* SmimeDirectory: the local store, then the LDAP directory when one is
 * configured. */
#include "directory.h"

#include "directory-certs.h"
#include "directory-ldap.h"
#include "directory-store.h"

#include <string.h>

#define DEFAULT_FILTER "(mail=%s)"
#define DEFAULT_TIMEOUT_S 10

G_DEFINE_QUARK(smime-directory-error-quark, smime_directory_error)

struct SmimeDirectory {
  char *store_dir;
  gboolean has_ldap;
  char *ldap_uri;
  char *ldap_base;
  char *ldap_filter;
  guint ldap_timeout_s;
};

void smime_directory_free(SmimeDirectory *d) {
  if (!d)
    return;
  g_free(d->store_dir);
  g_free(d->ldap_uri);
  g_free(d->ldap_base);
  g_free(d->ldap_filter);
  g_free(d);
}

static SmimeLdapConfig ldap_config(const SmimeDirectory *d) {
  return (SmimeLdapConfig){
      .uri = d->ldap_uri,
      .base = d->ldap_base,
      .filter = d->ldap_filter,
      .timeout_s = d->ldap_timeout_s,
  };
}

SmimeDirectory *smime_directory_new(const SmimeDirectoryConfig *config, GError **error) {
  g_return_val_if_fail(config != NULL, NULL);
  g_autoptr(SmimeDirectory) d = g_new0(SmimeDirectory, 1);

  if (config->store_dir && !*config->store_dir) {
    g_set_error_literal(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_CONFIG,
                        "the certificate store path is empty");
    return NULL;
  }
  d->store_dir = config->store_dir
                     ? g_strdup(config->store_dir)
                     : g_build_filename(g_get_user_data_dir(), "tessera", "certificates", NULL);

  if (config->ldap_uri && *config->ldap_uri) {
    d->has_ldap = TRUE;
    d->ldap_uri = g_strdup(config->ldap_uri);
    d->ldap_base = g_strdup(config->ldap_base);
    d->ldap_filter = g_strdup(config->ldap_filter ? config->ldap_filter : DEFAULT_FILTER);
    d->ldap_timeout_s = config->ldap_timeout_s ? config->ldap_timeout_s : DEFAULT_TIMEOUT_S;
    SmimeLdapConfig lc = ldap_config(d);
    if (!smime_ldap_check_config(&lc, error))
      return NULL;
  }
  return g_steal_pointer(&d);
}

static void free_cert(gpointer cert) {
  X509_free(cert);
}

/* A certificate in the store and the directory, or under both
 * userCertificate and userCertificate;binary, is one recipient. */
static void append_new(GPtrArray *result, GPtrArray *found) {
  for (guint i = 0; i < found->len; i++) {
    X509 *cert = g_ptr_array_index(found, i);
    gboolean seen = FALSE;
    for (guint j = 0; j < result->len && !seen; j++)
      seen = smime_cert_equal(g_ptr_array_index(result, j), cert);
    if (!seen)
      g_ptr_array_add(result, g_steal_pointer(&found->pdata[i]));
  }
}

GPtrArray *smime_directory_lookup(SmimeDirectory *d, const char *address, GError **error) {
  g_return_val_if_fail(d != NULL && address != NULL, NULL);
  if (!*address || !strchr(address, '@')) {
    g_set_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_INVALID,
                "%s is not an email address", address);
    return NULL;
  }

  g_autoptr(GPtrArray) result = g_ptr_array_new_with_free_func(free_cert);
  g_autoptr(GPtrArray) stored = g_ptr_array_new_with_free_func(free_cert);
  if (!smime_store_find(d->store_dir, address, stored, error))
    return NULL;
  append_new(result, stored);

  if (d->has_ldap) {
    g_autoptr(GPtrArray) published = g_ptr_array_new_with_free_func(free_cert);
    SmimeLdapConfig lc = ldap_config(d);
    if (!smime_ldap_find(&lc, address, published, error))
      return NULL;
    append_new(result, published);
  }
  return g_steal_pointer(&result);
}

gboolean smime_directory_import(SmimeDirectory *d, X509 *cert, GError **error) {
  g_return_val_if_fail(d != NULL && cert != NULL, FALSE);
  return smime_store_add(d->store_dir, cert, error);
}
