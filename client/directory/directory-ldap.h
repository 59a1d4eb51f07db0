/* Certificates from an LDAP directory, published the way Active Directory
 * and Exchange do. Private to the directory library. */
#pragma once

#include <glib.h>

typedef struct {
  const char *uri;
  const char *base;   /* NULL: the default base of ldap.conf */
  const char *filter; /* with %s, already checked by smime_ldap_check_config */
  guint timeout_s;
} SmimeLdapConfig;

/* Whether uri, base and filter can be used; CONFIG errors otherwise. */
gboolean smime_ldap_check_config(const SmimeLdapConfig *config, GError **error);

/* value with * ( ) \ and NUL escaped as RFC 4515 asks (\2a ...): length
 * bytes of it, so a NUL can be passed. */
char *smime_ldap_escape(const char *value, gsize length);

/* filter with every %s replaced by the escaped address and %% by %. */
char *smime_ldap_build_filter(const char *filter, const char *address);

/* Appends to out (X509*, owned) the certificates of every entry that
 * matches: userSMIMECertificate (a certificate, or a PKCS#7 SignedData
 * whose end-entity certificates are taken) and userCertificate[;binary]. */
gboolean smime_ldap_find(const SmimeLdapConfig *config, const char *address, GPtrArray *out,
                         GError **error);
