/* Recipients' certificates from LDAP with OpenLDAP's libldap: one
 * connection per lookup (the CLI looks up a few addresses and exits),
 * LDAPv3, an anonymous simple bind, one subtree search. */
#include "directory-ldap.h"

#include "directory-certs.h"
#include "directory.h"

#include <ldap.h>
#include <string.h>

/* More entries than this for one address is a filter that matches too
 * much; what arrived is still used. */
#define SEARCH_SIZE_LIMIT 64

char *smime_ldap_escape(const char *value, gsize length) {
  GString *out = g_string_sized_new(length);
  for (gsize i = 0; i < length; i++) {
    unsigned char c = (unsigned char)value[i];
    if (c == '*' || c == '(' || c == ')' || c == '\\' || c == '\0')
      g_string_append_printf(out, "\\%02x", c);
    else
      g_string_append_c(out, (char)c);
  }
  return g_string_free(out, FALSE);
}

char *smime_ldap_build_filter(const char *filter, const char *address) {
  g_autofree char *escaped = smime_ldap_escape(address, strlen(address));
  GString *out = g_string_new(NULL);
  for (const char *p = filter; *p; p++) {
    if (p[0] == '%' && p[1] == 's') {
      g_string_append(out, escaped);
      p++;
    } else if (p[0] == '%' && p[1] == '%') {
      g_string_append_c(out, '%');
      p++;
    } else {
      g_string_append_c(out, *p);
    }
  }
  return g_string_free(out, FALSE);
}

static gboolean check_filter(const char *filter, GError **error) {
  guint substitutions = 0;
  for (const char *p = filter; *p; p++) {
    if (*p != '%')
      continue;
    if (p[1] == 's')
      substitutions++;
    else if (p[1] != '%') {
      g_set_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_CONFIG,
                  "LDAP filter %s: only %%s (the address) and %%%% may follow %%", filter);
      return FALSE;
    }
    p++;
  }
  /* Without the address every lookup would return the same entries. */
  if (substitutions == 0 || filter[0] != '(') {
    g_set_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_CONFIG,
                "LDAP filter %s: must be parenthesized and contain %%s for the address", filter);
    return FALSE;
  }
  return TRUE;
}

static LDAP *open_handle(const char *uri, GError **error) {
  LDAP *ld = NULL;
  int rc = ldap_initialize(&ld, uri);
  if (rc != LDAP_SUCCESS || !ld) {
    g_set_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_CONFIG,
                "bad LDAP URI %s: %s", uri, ldap_err2string(rc));
    return NULL;
  }
  return ld;
}

/* The configured base, or BASE from ldap.conf. */
static char *search_base(LDAP *ld, const SmimeLdapConfig *config, GError **error) {
  if (config->base)
    return g_strdup(config->base);
  char *defbase = NULL;
  if (ldap_get_option(ld, LDAP_OPT_DEFBASE, &defbase) == LDAP_OPT_SUCCESS && defbase && *defbase) {
    char *base = g_strdup(defbase);
    ldap_memfree(defbase);
    return base;
  }
  ldap_memfree(defbase);
  g_set_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_CONFIG,
              "no LDAP search base for %s (configure one, or BASE in ldap.conf)", config->uri);
  return NULL;
}

gboolean smime_ldap_check_config(const SmimeLdapConfig *config, GError **error) {
  if (!check_filter(config->filter, error))
    return FALSE;
  LDAP *ld = open_handle(config->uri, error);
  if (!ld)
    return FALSE;
  g_autofree char *base = search_base(ld, config, error);
  ldap_unbind_ext(ld, NULL, NULL);
  if (!base)
    return FALSE;

  LDAPDN dn = NULL;
  if (ldap_str2dn(base, &dn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS) {
    g_set_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_CONFIG,
                "bad LDAP search base %s", base);
    return FALSE;
  }
  ldap_dnfree(dn);
  return TRUE;
}

static gboolean is_unreachable(int rc) {
  return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT;
}

/* "unreachable: Can't contact LDAP server", "refused ...: <server's words>" */
static void set_ldap_error(GError **error, LDAP *ld, const SmimeLdapConfig *config,
                           const char *what, int rc) {
  if (rc == LDAP_TIMEOUT) {
    g_set_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_LDAP,
                "LDAP server %s unreachable: no answer within %u s", config->uri,
                config->timeout_s);
    return;
  }
  if (is_unreachable(rc)) {
    g_set_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_LDAP,
                "LDAP server %s unreachable: %s", config->uri, ldap_err2string(rc));
    return;
  }
  char *diagnostic = NULL;
  ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diagnostic);
  int code = rc == LDAP_FILTER_ERROR ? SMIME_DIRECTORY_ERROR_CONFIG : SMIME_DIRECTORY_ERROR_LDAP;
  g_set_error(error, SMIME_DIRECTORY_ERROR, code, "LDAP server %s: %s failed: %s%s%s",
              config->uri, what, ldap_err2string(rc), diagnostic && *diagnostic ? " — " : "",
              diagnostic ? diagnostic : "");
  ldap_memfree(diagnostic);
}

static gboolean configure(LDAP *ld, const SmimeLdapConfig *config, GError **error) {
  int version = LDAP_VERSION3;
  struct timeval timeout = {.tv_sec = config->timeout_s, .tv_usec = 0};
  /* Referrals would be followed with the same anonymous bind, to servers
   * nobody configured; Active Directory sends them for every other domain. */
  if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS ||
      ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &timeout) != LDAP_OPT_SUCCESS ||
      ldap_set_option(ld, LDAP_OPT_TIMEOUT, &timeout) != LDAP_OPT_SUCCESS ||
      ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS) {
    g_set_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_CONFIG,
                "cannot set LDAP options for %s", config->uri);
    return FALSE;
  }
  return TRUE;
}

/* userSMIMECertificate, userCertificate, with or without ;binary. */
static gboolean is_certificate_attribute(const char *name) {
  gsize len = strcspn(name, ";");
  static const char *const wanted[] = {"userSMIMECertificate", "userCertificate"};
  for (gsize i = 0; i < G_N_ELEMENTS(wanted); i++)
    if (len == strlen(wanted[i]) && g_ascii_strncasecmp(name, wanted[i], len) == 0)
      return TRUE;
  return FALSE;
}

static void collect_entry(LDAP *ld, LDAPMessage *entry, GPtrArray *out) {
  BerElement *ber = NULL;
  for (char *name = ldap_first_attribute(ld, entry, &ber); name;
       name = ldap_next_attribute(ld, entry, ber)) {
    if (is_certificate_attribute(name)) {
      struct berval **values = ldap_get_values_len(ld, entry, name);
      for (int i = 0; values && values[i]; i++)
        if (smime_certs_from_der((const guchar *)values[i]->bv_val, values[i]->bv_len, out) == 0)
          g_debug("LDAP: a %s value is not a certificate", name);
      ldap_value_free_len(values);
    }
    ldap_memfree(name);
  }
  ber_free(ber, 0);
}

static gboolean search(LDAP *ld, const SmimeLdapConfig *config, const char *address,
                       GPtrArray *out, GError **error) {
  struct berval anonymous = {.bv_len = 0, .bv_val = NULL};
  int rc = ldap_sasl_bind_s(ld, NULL, LDAP_SASL_SIMPLE, &anonymous, NULL, NULL, NULL);
  if (rc != LDAP_SUCCESS) {
    set_ldap_error(error, ld, config, "anonymous bind", rc);
    return FALSE;
  }

  g_autofree char *base = search_base(ld, config, error);
  if (!base)
    return FALSE;
  g_autofree char *filter = smime_ldap_build_filter(config->filter, address);
  char *attrs[] = {"userSMIMECertificate", "userSMIMECertificate;binary", "userCertificate;binary",
                   "userCertificate", NULL};
  /* The same limit for the server (timelimit) and for waiting for it. */
  struct timeval timeout = {.tv_sec = config->timeout_s, .tv_usec = 0};
  LDAPMessage *result = NULL;
  rc = ldap_search_ext_s(ld, base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL, &timeout,
                         SEARCH_SIZE_LIMIT, &result);
  if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
    g_autofree char *what = g_strdup_printf("search for %s under %s", filter, base);
    set_ldap_error(error, ld, config, what, rc);
    ldap_msgfree(result);
    return FALSE;
  }
  for (LDAPMessage *e = ldap_first_entry(ld, result); e; e = ldap_next_entry(ld, e))
    collect_entry(ld, e, out);
  ldap_msgfree(result);
  return TRUE;
}

gboolean smime_ldap_find(const SmimeLdapConfig *config, const char *address, GPtrArray *out,
                         GError **error) {
  LDAP *ld = open_handle(config->uri, error);
  if (!ld)
    return FALSE;
  gboolean ok = configure(ld, config, error) && search(ld, config, address, out, error);
  ldap_unbind_ext(ld, NULL, NULL);
  return ok;
}
