/* Recipients' certificates: where `tessera smime` finds the certificate of
 * an address it encrypts to. A local store (a directory of certificates the
 * user imported or harvested from verified mail) and, when configured, an
 * LDAP directory that publishes them the way Active Directory / Exchange do
 * (userSMIMECertificate, userCertificate;binary, looked up by mail).
 *
 * GLib + OpenSSL + OpenLDAP's libldap: used by the CLI only.
 */
#pragma once

#include <glib.h>
#include <openssl/x509.h>

#define SMIME_DIRECTORY_ERROR (smime_directory_error_quark())
GQuark smime_directory_error_quark(void);
typedef enum {
  SMIME_DIRECTORY_ERROR_CONFIG,  /* bad store path, LDAP URI, base or filter */
  SMIME_DIRECTORY_ERROR_LDAP,    /* the server could not be reached or refused */
  SMIME_DIRECTORY_ERROR_STORE,   /* the local store could not be read or written */
  SMIME_DIRECTORY_ERROR_INVALID, /* not a certificate, or not one for mail */
} SmimeDirectoryError;

typedef struct {
  const char *store_dir;   /* NULL: $XDG_DATA_HOME/tessera/certificates */
  const char *ldap_uri;    /* NULL: no directory lookup (ldap://host, ldaps://, ldapi://) */
  const char *ldap_base;   /* search base, e.g. "ou=people,dc=example,dc=org" */
  const char *ldap_filter; /* NULL: "(mail=%s)"; %s is the address, escaped (RFC 4515) */
  guint ldap_timeout_s;    /* 0: 10 s */
} SmimeDirectoryConfig;

/* smime.conf (settings.c), [directory]: store, ldap-uri, ldap-base,
 * ldap-filter, ldap-timeout. The owned counterpart of the config above. */
typedef struct {
  char *store_dir, *ldap_uri, *ldap_base, *ldap_filter;
  guint ldap_timeout_s;
} SmimeDirectorySettings;
void smime_directory_settings_clear(SmimeDirectorySettings *s);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(SmimeDirectorySettings, smime_directory_settings_clear)
/* Reads one file into s: the keys it names replace s's. A missing file is
 * no error; a malformed one, an unknown group or key, or a bad value is a
 * SMIME_DIRECTORY_ERROR_CONFIG naming the file. */
gboolean smime_directory_settings_read(SmimeDirectorySettings *s, const char *path,
                                       GError **error);
/* $XDG_CONFIG_DIRS/tessera/smime.conf (the admin's; /etc/xdg by default),
 * then $XDG_CONFIG_HOME/tessera/smime.conf (the user's). */
gboolean smime_directory_settings_load(SmimeDirectorySettings *s, GError **error);

typedef struct SmimeDirectory SmimeDirectory;

SmimeDirectory *smime_directory_new(const SmimeDirectoryConfig *config, GError **error);
void smime_directory_free(SmimeDirectory *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SmimeDirectory, smime_directory_free)

/* Every certificate found for address (case-insensitive), from the store,
 * then the directory: a GPtrArray of X509* (owned; the array frees them),
 * empty when none. The caller decides which are usable (validity, key
 * usage, trust). FALSE/NULL only when a configured source failed, or
 * (SMIME_DIRECTORY_ERROR_INVALID) when address has no '@'. A certificate
 * found twice is returned once; from a PKCS#7 in userSMIMECertificate only
 * the certificates that are not CAs (the bundled chain) are returned. */
GPtrArray *smime_directory_lookup(SmimeDirectory *d, const char *address, GError **error);

/* Adds cert to the local store, under the email addresses of its
 * subjectAltName (and emailAddress in its subject); a certificate already
 * there is not added twice. FALSE when it names no address. */
gboolean smime_directory_import(SmimeDirectory *d, X509 *cert, GError **error);
