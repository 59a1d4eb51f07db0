/* The local store. Lookups scan every certificate's addresses instead of
 * keeping an index: a personal store holds tens of certificates, and a
 * file per certificate with nothing else cannot get out of step. */
#include "directory-store.h"

#include "directory-certs.h"
#include "directory.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <openssl/pem.h>
#include <string.h>

/* Store files are <64 hex digits>.pem; anything else (a temporary file of
 * an interrupted write, an editor's backup) is not a certificate. */
static gboolean is_store_name(const char *name) {
  if (strlen(name) != 64 + 4 || strcmp(name + 64, ".pem") != 0)
    return FALSE;
  for (int i = 0; i < 64; i++)
    if (!g_ascii_isxdigit(name[i]) || g_ascii_isupper(name[i]))
      return FALSE;
  return TRUE;
}

static char *cert_to_pem(X509 *cert) {
  g_autoptr(BIO) bio = BIO_new(BIO_s_mem());
  if (!bio || !PEM_write_bio_X509(bio, cert))
    return NULL;
  char *data = NULL;
  long len = BIO_get_mem_data(bio, &data);
  return g_strndup(data, (gsize)len);
}

static X509 *cert_from_pem_file(const char *path, GError **error) {
  g_autofree char *pem = NULL;
  gsize len = 0;
  if (!g_file_get_contents(path, &pem, &len, error))
    return NULL;
  g_autoptr(BIO) bio = BIO_new_mem_buf(pem, (int)MIN(len, (gsize)G_MAXINT));
  X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
  if (!cert)
    g_set_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_STORE,
                "%s is not a PEM certificate", path);
  return cert;
}

static gboolean ensure_dir(const char *dir, GError **error) {
  if (g_file_test(dir, G_FILE_TEST_IS_DIR))
    return TRUE;
  /* 0700 for the parents too: $XDG_DATA_HOME/tessera is ours alone. */
  if (g_mkdir_with_parents(dir, 0700) != 0) {
    int err = errno;
    g_set_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_STORE,
                "cannot create certificate store %s: %s", dir, g_strerror(err));
    return FALSE;
  }
  return TRUE;
}

gboolean smime_store_add(const char *dir, X509 *cert, GError **error) {
  g_autoptr(GPtrArray) addresses = smime_cert_addresses(cert);
  if (addresses->len == 0) {
    g_set_error_literal(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_INVALID,
                        "the certificate names no email address");
    return FALSE;
  }
  g_autofree char *fingerprint = smime_cert_fingerprint(cert);
  g_autofree char *pem = cert_to_pem(cert);
  if (!fingerprint || !pem) {
    g_set_error_literal(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_INVALID,
                        "the certificate cannot be encoded");
    return FALSE;
  }
  if (!ensure_dir(dir, error))
    return FALSE;

  g_autofree char *name = g_strconcat(fingerprint, ".pem", NULL);
  g_autofree char *path = g_build_filename(dir, name, NULL);
  if (g_file_test(path, G_FILE_TEST_EXISTS)) /* the name is the content */
    return TRUE;

  /* Temporary file, fsync, rename: a crash leaves the old store or the new
   * certificate, never half a file. */
  g_autoptr(GError) local = NULL;
  GFileSetContentsFlags flags = G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE;
  if (!g_file_set_contents_full(path, pem, -1, flags, 0600, &local)) {
    g_set_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_STORE,
                "cannot write to the certificate store: %s", local->message);
    return FALSE;
  }
  return TRUE;
}

static gboolean names_address(X509 *cert, const char *lower) {
  g_autoptr(GPtrArray) addresses = smime_cert_addresses(cert);
  for (guint i = 0; i < addresses->len; i++)
    if (strcmp(g_ptr_array_index(addresses, i), lower) == 0)
      return TRUE;
  return FALSE;
}

gboolean smime_store_find(const char *dir, const char *address, GPtrArray *out, GError **error) {
  g_autoptr(GError) local = NULL;
  g_autoptr(GDir) listing = g_dir_open(dir, 0, &local);
  if (!listing) {
    if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
      return TRUE; /* nothing imported yet */
    g_set_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_STORE,
                "cannot read the certificate store: %s", local->message);
    return FALSE;
  }

  g_autofree char *lower = g_ascii_strdown(address, -1);
  const char *name;
  while ((name = g_dir_read_name(listing))) {
    if (!is_store_name(name))
      continue;
    g_autofree char *path = g_build_filename(dir, name, NULL);
    g_autoptr(GError) read_error = NULL;
    g_autoptr(X509) cert = cert_from_pem_file(path, &read_error);
    /* One damaged file must not hide every other recipient: skip it. */
    if (!cert) {
      g_debug("certificate store: %s", read_error->message);
      continue;
    }
    if (names_address(cert, lower))
      g_ptr_array_add(out, g_steal_pointer(&cert));
  }
  return TRUE;
}
