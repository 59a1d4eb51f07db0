/* SmimeDirectory against a real slapd and a real local store: lookups by
 * mail (userSMIMECertificate as PKCS#7 and as a certificate,
 * userCertificate;binary), filter injection, servers down or silent, the
 * store's files, modes and duplicates. */
#include "directory-ldap.h"
#include "directory.h"
#include "slapd-harness.h"
#include "test-certs.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *test_root; /* everything the tests write, removed at the end */
static Slapd slapd;
static TestCa ca;
static X509 *alice_smime, *alice_enc, *bob, *carol, *dave, *weird;
static X509 *multi, *no_email;

/* ---- fixtures ---- */

static char *make_ldif(void) {
  X509 *bundle[] = {alice_smime, ca.cert, NULL};
  g_autofree char *alice_p7 = test_pkcs7_base64(bundle);
  g_autofree char *alice_der = test_cert_der_base64(alice_enc);
  g_autofree char *bob_der = test_cert_der_base64(bob);
  g_autofree char *carol_der = test_cert_der_base64(carol);
  g_autofree char *dave_der = test_cert_der_base64(dave);
  g_autofree char *weird_der = test_cert_der_base64(weird);
  return g_strdup_printf(
      "dn: " SLAPD_SUFFIX "\nobjectClass: dcObject\nobjectClass: organization\no: Example\n"
      "dc: example\n\n"
      "dn: ou=people," SLAPD_SUFFIX "\nobjectClass: organizationalUnit\nou: people\n\n"
      /* Exchange style: a PKCS#7 bundle (leaf + CA) and a plain certificate. */
      "dn: uid=alice,ou=people," SLAPD_SUFFIX "\nobjectClass: inetOrgPerson\nuid: alice\n"
      "cn: Alice\nsn: A\nmail: alice@example.org\nuserSMIMECertificate:: %s\n"
      "userCertificate;binary:: %s\n\n"
      "dn: uid=bob,ou=people," SLAPD_SUFFIX "\nobjectClass: inetOrgPerson\nuid: bob\n"
      "cn: Bob\nsn: B\nmail: bob@example.org\nuserCertificate;binary:: %s\n\n"
      /* userSMIMECertificate holding a bare DER certificate. */
      "dn: uid=carol,ou=people," SLAPD_SUFFIX "\nobjectClass: inetOrgPerson\nuid: carol\n"
      "cn: Carol\nsn: C\nmail: carol@example.org\nuserSMIMECertificate:: %s\n\n"
      /* A value that is no certificate must not hide the good one. */
      "dn: uid=dave,ou=people," SLAPD_SUFFIX "\nobjectClass: inetOrgPerson\nuid: dave\n"
      "cn: Dave\nsn: D\nmail: dave@example.org\nuserSMIMECertificate:: AAECAwQF\n"
      "userCertificate;binary:: %s\n\n"
      /* A real address with filter metacharacters (legal in IA5String). */
      "dn: uid=weird,ou=people," SLAPD_SUFFIX "\nobjectClass: inetOrgPerson\nuid: weird\n"
      "cn: Weird\nsn: W\nmail: star*)(x@example.org\nuserCertificate;binary:: %s\n\n"
      "dn: uid=nocert,ou=people," SLAPD_SUFFIX "\nobjectClass: inetOrgPerson\nuid: nocert\n"
      "cn: Nocert\nsn: N\nmail: nocert@example.org\n\n",
      alice_p7, alice_der, bob_der, carol_der, dave_der, weird_der);
}

static void make_certs(void) {
  ca = test_ca_new();
  alice_smime = test_leaf_new(&ca, "Alice (signing)", "email:alice@example.org", NULL);
  alice_enc = test_leaf_new(&ca, "Alice (encryption)", "email:alice@example.org", NULL);
  bob = test_leaf_new(&ca, "Bob", "email:bob@example.org", NULL);
  carol = test_leaf_new(&ca, "Carol", "email:carol@example.org", NULL);
  dave = test_leaf_new(&ca, "Dave", "email:dave@example.org", NULL);
  weird = test_leaf_new(&ca, "Weird", "email:weird@example.org", NULL);
  multi = test_leaf_new(&ca, "Multi", "email:Multi@Example.ORG,email:second@example.org,DNS:x.org",
                        "third@example.org");
  no_email = test_leaf_new(&ca, "No Email", "DNS:host.example.org", NULL);
}

static void free_certs(void) {
  X509 **all[] = {&alice_smime, &alice_enc, &bob, &carol, &dave, &weird, &multi, &no_email};
  for (gsize i = 0; i < G_N_ELEMENTS(all); i++)
    g_clear_pointer(all[i], X509_free);
  test_ca_clear(&ca);
}

static char *temp_store(void) {
  char *dir = test_make_dir(test_root, "store");
  g_assert_nonnull(dir);
  return dir;
}

static SmimeDirectory *open_store(const char *store) {
  g_autoptr(GError) error = NULL;
  SmimeDirectoryConfig config = {.store_dir = store};
  SmimeDirectory *d = smime_directory_new(&config, &error);
  g_assert_no_error(error);
  g_assert_nonnull(d);
  return d;
}

static SmimeDirectory *open_ldap(const char *store, const char *filter) {
  g_autoptr(GError) error = NULL;
  SmimeDirectoryConfig config = {
      .store_dir = store,
      .ldap_uri = slapd.uri,
      .ldap_base = "ou=people," SLAPD_SUFFIX,
      .ldap_filter = filter,
      .ldap_timeout_s = 5,
  };
  SmimeDirectory *d = smime_directory_new(&config, &error);
  g_assert_no_error(error);
  g_assert_nonnull(d);
  return d;
}

static GPtrArray *lookup_ok(SmimeDirectory *d, const char *address) {
  g_autoptr(GError) error = NULL;
  GPtrArray *found = smime_directory_lookup(d, address, &error);
  g_assert_no_error(error);
  g_assert_nonnull(found);
  return found;
}

static gboolean contains(GPtrArray *certs, X509 *cert) {
  for (guint i = 0; i < certs->len; i++)
    if (X509_cmp(g_ptr_array_index(certs, i), cert) == 0)
      return TRUE;
  return FALSE;
}

static guint count_files(const char *dir) {
  g_autoptr(GDir) listing = g_dir_open(dir, 0, NULL);
  guint n = 0;
  while (listing && g_dir_read_name(listing))
    n++;
  return n;
}

/* ---- the local store ---- */

static void test_store_import_lookup(void) {
  g_autofree char *store = temp_store();
  g_autoptr(SmimeDirectory) d = open_store(store);
  g_autoptr(GError) error = NULL;
  g_assert_true(smime_directory_import(d, multi, &error));
  g_assert_no_error(error);

  /* Each SAN address and the subject's emailAddress, in any case. */
  const char *addresses[] = {"multi@example.org", "MULTI@EXAMPLE.ORG", "Second@Example.Org",
                             "third@example.org", "THIRD@example.org"};
  for (gsize i = 0; i < G_N_ELEMENTS(addresses); i++) {
    g_autoptr(GPtrArray) found = lookup_ok(d, addresses[i]);
    g_assert_cmpuint(found->len, ==, 1);
    g_assert_cmpint(X509_cmp(g_ptr_array_index(found, 0), multi), ==, 0);
  }
  g_autoptr(GPtrArray) none = lookup_ok(d, "x.org@example.org");
  g_assert_cmpuint(none->len, ==, 0);
  test_remove_tree(store);
}

static void test_store_files(void) {
  g_autofree char *top = temp_store();
  g_autofree char *store = g_build_filename(top, "data", "tessera", "certificates", NULL);
  g_autoptr(SmimeDirectory) d = open_store(store);
  g_autoptr(GError) error = NULL;
  g_assert_true(smime_directory_import(d, bob, &error));
  g_assert_no_error(error);

  /* umask is 0 in this test: the modes are the library's own. */
  GStatBuf st;
  g_assert_cmpint(g_stat(store, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 07777, ==, 0700);
  g_autofree char *sha = test_cert_sha256(bob);
  g_autofree char *name = g_strconcat(sha, ".pem", NULL);
  g_autofree char *path = g_build_filename(store, name, NULL);
  g_assert_cmpint(g_stat(path, &st), ==, 0);
  g_assert_cmpint(st.st_mode & 07777, ==, 0600);
  g_assert_cmpuint(count_files(store), ==, 1); /* no temporary file left */

  g_autofree char *pem = NULL;
  g_assert_true(g_file_get_contents(path, &pem, NULL, NULL));
  g_assert_true(g_str_has_prefix(pem, "-----BEGIN CERTIFICATE-----\n"));
  test_remove_tree(top);
}

static void test_store_no_duplicate(void) {
  g_autofree char *store = temp_store();
  g_autoptr(SmimeDirectory) d = open_store(store);
  for (int i = 0; i < 3; i++) {
    g_autoptr(GError) error = NULL;
    g_assert_true(smime_directory_import(d, alice_smime, &error));
    g_assert_no_error(error);
  }
  /* A second certificate for the same address is a second file. */
  g_autoptr(GError) error = NULL;
  g_assert_true(smime_directory_import(d, alice_enc, &error));
  g_assert_no_error(error);
  g_assert_cmpuint(count_files(store), ==, 2);
  g_autoptr(GPtrArray) found = lookup_ok(d, "alice@example.org");
  g_assert_cmpuint(found->len, ==, 2);
  g_assert_true(contains(found, alice_smime));
  g_assert_true(contains(found, alice_enc));
  test_remove_tree(store);
}

static void test_store_no_email(void) {
  g_autofree char *top = temp_store();
  g_autofree char *store = g_build_filename(top, "certificates", NULL);
  g_autoptr(SmimeDirectory) d = open_store(store);
  g_autoptr(GError) error = NULL;
  g_assert_false(smime_directory_import(d, no_email, &error));
  g_assert_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_INVALID);
  g_assert_false(g_file_test(store, G_FILE_TEST_EXISTS));
  test_remove_tree(top);
}

static void test_store_missing_and_damaged(void) {
  g_autofree char *top = temp_store();
  g_autofree char *store = g_build_filename(top, "never-created", NULL);
  g_autoptr(SmimeDirectory) d = open_store(store);
  g_autoptr(GPtrArray) empty = lookup_ok(d, "bob@example.org");
  g_assert_cmpuint(empty->len, ==, 0);

  g_autoptr(GError) error = NULL;
  g_assert_true(smime_directory_import(d, bob, &error));
  g_assert_no_error(error);
  /* A damaged certificate file and a stray temporary file are skipped. */
  g_autofree char *bad = g_build_filename(store, "00000000000000000000000000000000"
                                                 "00000000000000000000000000000000.pem", NULL);
  g_autofree char *tmp = g_build_filename(store, "x.pem.ABC123", NULL);
  g_assert_true(g_file_set_contents(bad, "-----BEGIN CERTIFICATE-----\nAAAA\n", -1, NULL));
  g_assert_true(g_file_set_contents(tmp, "junk", -1, NULL));
  g_autoptr(GPtrArray) found = lookup_ok(d, "bob@example.org");
  g_assert_cmpuint(found->len, ==, 1);
  g_assert_true(contains(found, bob));
  test_remove_tree(top);
}

/* main() pointed XDG_DATA_HOME at a temporary directory. */
static void test_store_default_dir(void) {
  g_autoptr(GError) error = NULL;
  SmimeDirectoryConfig config = {0};
  g_autoptr(SmimeDirectory) d = smime_directory_new(&config, &error);
  g_assert_no_error(error);
  g_assert_true(smime_directory_import(d, carol, &error));
  g_assert_no_error(error);
  g_autofree char *sha = test_cert_sha256(carol);
  g_autofree char *name = g_strconcat(sha, ".pem", NULL);
  g_autofree char *path =
      g_build_filename(g_getenv("XDG_DATA_HOME"), "tessera", "certificates", name, NULL);
  g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
}

/* ---- LDAP ---- */

static void test_ldap_smime_and_binary(void) {
  g_autofree char *store = temp_store();
  g_autoptr(SmimeDirectory) d = open_ldap(store, NULL);
  const char *addresses[] = {"alice@example.org", "Alice@EXAMPLE.org"};
  for (gsize i = 0; i < G_N_ELEMENTS(addresses); i++) {
    g_autoptr(GPtrArray) found = lookup_ok(d, addresses[i]);
    /* The PKCS#7's leaf and userCertificate;binary; not the bundle's CA. */
    g_assert_cmpuint(found->len, ==, 2);
    g_assert_true(contains(found, alice_smime));
    g_assert_true(contains(found, alice_enc));
    g_assert_false(contains(found, ca.cert));
  }
  g_autoptr(GPtrArray) b = lookup_ok(d, "bob@example.org");
  g_assert_cmpuint(b->len, ==, 1);
  g_assert_true(contains(b, bob));
  test_remove_tree(store);
}

static void test_ldap_der_and_garbage(void) {
  g_autofree char *store = temp_store();
  g_autoptr(SmimeDirectory) d = open_ldap(store, NULL);
  g_autoptr(GPtrArray) c = lookup_ok(d, "carol@example.org");
  g_assert_cmpuint(c->len, ==, 1);
  g_assert_true(contains(c, carol));
  g_autoptr(GPtrArray) v = lookup_ok(d, "dave@example.org");
  g_assert_cmpuint(v->len, ==, 1);
  g_assert_true(contains(v, dave));
  test_remove_tree(store);
}

static void test_ldap_no_entry(void) {
  g_autofree char *store = temp_store();
  g_autoptr(SmimeDirectory) d = open_ldap(store, NULL);
  g_autoptr(GPtrArray) none = lookup_ok(d, "nobody@example.org");
  g_assert_cmpuint(none->len, ==, 0);
  g_autoptr(GPtrArray) nocert = lookup_ok(d, "nocert@example.org");
  g_assert_cmpuint(nocert->len, ==, 0);
  test_remove_tree(store);
}

static void test_ldap_escape(void) {
  g_autofree char *plain = smime_ldap_escape("alice@example.org", 17);
  g_assert_cmpstr(plain, ==, "alice@example.org");
  g_autofree char *meta = smime_ldap_escape("a*b(c)d\\e\0f", 11);
  g_assert_cmpstr(meta, ==, "a\\2ab\\28c\\29d\\5ce\\00f");
  g_autofree char *filter =
      smime_ldap_build_filter("(&(objectClass=*)(|(mail=%s)(uid=%s))(x=100%%))", "*)(uid=*");
  g_assert_cmpstr(filter, ==,
                  "(&(objectClass=*)(|(mail=\\2a\\29\\28uid=\\2a)"
                  "(uid=\\2a\\29\\28uid=\\2a))(x=100%))");
}

/* Unescaped, each of these would match every entry with a certificate. */
static void test_ldap_injection(void) {
  g_autofree char *store = temp_store();
  const char *filters[] = {NULL, "(&(objectClass=inetOrgPerson)(mail=%s))"};
  for (gsize f = 0; f < G_N_ELEMENTS(filters); f++) {
    g_autoptr(SmimeDirectory) d = open_ldap(store, filters[f]);
    const char *attacks[] = {"*@example.org", "*@example.org)(mail=*", "*)(mail=*@x",
                             "bob@example.org)(|(mail=*"};
    for (gsize i = 0; i < G_N_ELEMENTS(attacks); i++) {
      g_autoptr(GPtrArray) found = lookup_ok(d, attacks[i]);
      g_assert_cmpuint(found->len, ==, 0);
    }
    /* The filter works, and matches metacharacters literally. */
    g_autoptr(GPtrArray) b = lookup_ok(d, "bob@example.org");
    g_assert_cmpuint(b->len, ==, 1);
    g_autoptr(GPtrArray) w = lookup_ok(d, "star*)(x@example.org");
    g_assert_cmpuint(w->len, ==, 1);
    g_assert_true(contains(w, weird));
  }
  test_remove_tree(store);
}

static void assert_unreachable(const char *uri, guint timeout_s, double max_seconds) {
  g_autofree char *store = temp_store();
  g_autoptr(GError) error = NULL;
  SmimeDirectoryConfig config = {
      .store_dir = store,
      .ldap_uri = uri,
      .ldap_base = SLAPD_SUFFIX,
      .ldap_timeout_s = timeout_s,
  };
  g_autoptr(SmimeDirectory) d = smime_directory_new(&config, &error);
  g_assert_no_error(error);
  /* The store's answer is not returned when the directory fails. */
  g_assert_true(smime_directory_import(d, bob, &error));
  g_assert_no_error(error);

  gint64 start = g_get_monotonic_time();
  g_autoptr(GPtrArray) found = smime_directory_lookup(d, "bob@example.org", &error);
  double seconds = (double)(g_get_monotonic_time() - start) / G_USEC_PER_SEC;
  g_assert_null(found);
  g_assert_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_LDAP);
  g_autofree char *prefix = g_strdup_printf("LDAP server %s unreachable: ", uri);
  g_test_message("%s (%.2f s)", error->message, seconds);
  g_assert_true(g_str_has_prefix(error->message, prefix));
  g_assert_cmpfloat(seconds, <, max_seconds);
  test_remove_tree(store);
}

static void test_ldap_refused(void) {
  guint port = 0;
  int fd = slapd_reserve_port(FALSE, &port); /* bound, not listening: refused */
  g_assert_cmpint(fd, >=, 0);
  g_autofree char *uri = g_strdup_printf("ldap://127.0.0.1:%u", port);
  assert_unreachable(uri, 5, 2.0);

  g_autofree char *store = temp_store();
  SmimeDirectoryConfig config = {.store_dir = store, .ldap_uri = uri, .ldap_base = SLAPD_SUFFIX};
  g_autoptr(GError) error = NULL;
  g_autoptr(SmimeDirectory) d = smime_directory_new(&config, &error);
  g_assert_no_error(error);
  g_autoptr(GPtrArray) found = smime_directory_lookup(d, "bob@example.org", &error);
  g_assert_null(found);
  g_autofree char *expected =
      g_strdup_printf("LDAP server %s unreachable: Can't contact LDAP server", uri);
  g_assert_cmpstr(error->message, ==, expected);
  close(fd);
  test_remove_tree(store);
}

/* A server that accepts the connection and never answers. */
static void test_ldap_silent(void) {
  guint port = 0;
  int fd = slapd_reserve_port(TRUE, &port);
  g_assert_cmpint(fd, >=, 0);
  g_autofree char *uri = g_strdup_printf("ldap://127.0.0.1:%u", port);
  alarm(10); /* a lookup that ignores its timeout fails here, not in meson's */
  assert_unreachable(uri, 1, 4.0);
  alarm(0);
  close(fd);
}

static void test_ldap_no_such_base(void) {
  g_autofree char *store = temp_store();
  g_autoptr(GError) error = NULL;
  SmimeDirectoryConfig config = {
      .store_dir = store, .ldap_uri = slapd.uri, .ldap_base = "ou=nowhere," SLAPD_SUFFIX};
  g_autoptr(SmimeDirectory) d = smime_directory_new(&config, &error);
  g_assert_no_error(error);
  g_autoptr(GPtrArray) found = smime_directory_lookup(d, "bob@example.org", &error);
  g_assert_null(found);
  g_assert_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_LDAP);
  g_test_message("%s", error->message);
  g_assert_nonnull(strstr(error->message, "No such object"));
  test_remove_tree(store);
}

/* ---- SmimeDirectory ---- */

static void test_store_then_ldap(void) {
  g_autofree char *store = temp_store();
  g_autoptr(SmimeDirectory) d = open_ldap(store, NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(smime_directory_import(d, alice_enc, &error));
  g_assert_no_error(error);
  g_autoptr(GPtrArray) found = lookup_ok(d, "alice@example.org");
  /* The store's copy first, the directory's same certificate not again. */
  g_assert_cmpuint(found->len, ==, 2);
  g_assert_cmpint(X509_cmp(g_ptr_array_index(found, 0), alice_enc), ==, 0);
  g_assert_cmpint(X509_cmp(g_ptr_array_index(found, 1), alice_smime), ==, 0);
  test_remove_tree(store);
}

static void assert_config_error(const char *store, const char *uri, const char *base,
                                const char *filter) {
  g_autoptr(GError) error = NULL;
  SmimeDirectoryConfig config = {
      .store_dir = store, .ldap_uri = uri, .ldap_base = base, .ldap_filter = filter};
  g_autoptr(SmimeDirectory) d = smime_directory_new(&config, &error);
  g_assert_null(d);
  g_assert_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_CONFIG);
  g_test_message("%s", error->message);
}

static void test_config_errors(void) {
  assert_config_error("", NULL, NULL, NULL);
  assert_config_error("/tmp/x", "http://example.org", SLAPD_SUFFIX, NULL);
  assert_config_error("/tmp/x", slapd.uri, "not a dn", NULL);
  assert_config_error("/tmp/x", slapd.uri, NULL, NULL); /* LDAPNOINIT: no ldap.conf BASE */
  assert_config_error("/tmp/x", slapd.uri, SLAPD_SUFFIX, "mail=%s");
  assert_config_error("/tmp/x", slapd.uri, SLAPD_SUFFIX, "(mail=%d)");
  assert_config_error("/tmp/x", slapd.uri, SLAPD_SUFFIX, "(mail=alice@example.org)");

  /* A filter only libldap can reject fails the lookup, as a config error. */
  g_autoptr(SmimeDirectory) d = open_ldap("/nonexistent/store", "(&(mail=%s)");
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) found = smime_directory_lookup(d, "bob@example.org", &error);
  g_assert_null(found);
  g_assert_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_CONFIG);
  g_test_message("%s", error->message);
}

/* ---- smime.conf ---- */

static char *write_conf(const char *dir, const char *name, const char *text) {
  char *path = g_build_filename(dir, name, NULL);
  g_autoptr(GError) error = NULL;
  g_assert_true(g_file_set_contents(path, text, -1, &error));
  g_assert_no_error(error);
  return path;
}

static void test_settings_read_and_override(void) {
  g_autofree char *dir = test_make_dir(test_root, "conf");
  g_autofree char *admin = write_conf(dir, "admin.conf",
                                      "# the admin's\n[directory]\nldap-uri = ldap://ldap.example.org\n"
                                      "ldap-base = ou=people,dc=example,dc=org\n"
                                      "ldap-filter = (&(objectClass=person)(mail=%s))\nldap-timeout = 7\n");
  g_autofree char *user = write_conf(dir, "user.conf", "[directory]\nstore = ~/certs\n"
                                                       "ldap-base = ou=staff,dc=example,dc=org\n");
  g_auto(SmimeDirectorySettings) s = {0};
  g_autoptr(GError) error = NULL;
  g_assert_true(smime_directory_settings_read(&s, admin, &error));
  g_assert_true(smime_directory_settings_read(&s, user, &error));
  g_assert_no_error(error);
  g_autofree char *certs = g_build_filename(g_get_home_dir(), "certs", NULL);
  g_assert_cmpstr(s.store_dir, ==, certs);
  g_assert_cmpstr(s.ldap_uri, ==, "ldap://ldap.example.org");
  g_assert_cmpstr(s.ldap_base, ==, "ou=staff,dc=example,dc=org"); /* the user's wins */
  g_assert_cmpstr(s.ldap_filter, ==, "(&(objectClass=person)(mail=%s))");
  g_assert_cmpuint(s.ldap_timeout_s, ==, 7);
  /* A file that is not there changes nothing. */
  g_autofree char *none = g_build_filename(dir, "none.conf", NULL);
  g_assert_true(smime_directory_settings_read(&s, none, &error));
  g_assert_cmpstr(s.ldap_uri, ==, "ldap://ldap.example.org");
  test_remove_tree(dir);
}

static void test_settings_errors(void) {
  g_autofree char *dir = test_make_dir(test_root, "conf-bad");
  const char *bad[] = {
      "[directory]\nldap-url = ldap://x\n",           /* unknown key */
      "[ldap]\nuri = ldap://x\n",                     /* unknown group */
      "[directory]\nldap-timeout = 0\n",              /* out of range */
      "[directory]\nldap-timeout = ten\n",            /* not a number */
      "[directory]\nldap-base =\n",                   /* empty */
      "ldap-uri = ldap://x\n",                        /* no group */
  };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autofree char *path = write_conf(dir, "bad.conf", bad[i]);
    g_auto(SmimeDirectorySettings) s = {0};
    g_autoptr(GError) error = NULL;
    g_assert_false(smime_directory_settings_read(&s, path, &error));
    g_assert_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_CONFIG);
    g_assert_nonnull(strstr(error->message, path)); /* names the file */
    g_test_message("%s", error->message);
  }
  test_remove_tree(dir);
}

/* The user's smime.conf (XDG_CONFIG_HOME) leads to the real slapd. */
static void test_settings_load_ldap(void) {
  g_autofree char *home = test_make_dir(test_root, "config-home");
  g_autofree char *tdir = g_build_filename(home, "tessera", NULL);
  g_assert_cmpint(g_mkdir_with_parents(tdir, 0700), ==, 0);
  g_autofree char *text = g_strdup_printf("[directory]\nldap-uri = %s\nldap-base = ou=people,"
                                          SLAPD_SUFFIX "\nldap-filter = (&(objectClass="
                                          "inetOrgPerson)(mail=%%s))\nldap-timeout = 5\n",
                                          slapd.uri);
  g_free(write_conf(tdir, "smime.conf", text));
  g_autofree char *old_home = g_strdup(g_getenv("XDG_CONFIG_HOME"));
  /* GLib reads XDG_CONFIG_HOME once per process: this test runs first. */
  g_setenv("XDG_CONFIG_HOME", home, TRUE);
  g_autoptr(GError) error = NULL;
  g_auto(SmimeDirectorySettings) s = {0};
  gboolean loaded = smime_directory_settings_load(&s, &error);
  if (old_home)
    g_setenv("XDG_CONFIG_HOME", old_home, TRUE);
  else
    g_unsetenv("XDG_CONFIG_HOME");
  g_assert_no_error(error);
  g_assert_true(loaded);
  g_assert_cmpstr(s.ldap_uri, ==, slapd.uri);
  g_autofree char *store = temp_store();
  SmimeDirectoryConfig config = {
      .store_dir = store,
      .ldap_uri = s.ldap_uri,
      .ldap_base = s.ldap_base,
      .ldap_filter = s.ldap_filter,
      .ldap_timeout_s = s.ldap_timeout_s,
  };
  g_autoptr(SmimeDirectory) d = smime_directory_new(&config, &error);
  g_assert_no_error(error);
  g_autoptr(GPtrArray) found = lookup_ok(d, "bob@example.org");
  g_assert_cmpuint(found->len, ==, 1);
  g_assert_true(contains(found, bob));
  test_remove_tree(store);
  test_remove_tree(home);
}

static void test_not_an_address(void) {
  g_autoptr(SmimeDirectory) d = open_store("/nonexistent/store");
  const char *bad[] = {"", "alice"};
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) found = smime_directory_lookup(d, bad[i], &error);
    g_assert_null(found);
    g_assert_error(error, SMIME_DIRECTORY_ERROR, SMIME_DIRECTORY_ERROR_INVALID);
  }
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  umask(0);
  /* Neither this machine's ldap.conf nor ~/.ldaprc changes the tests. */
  g_setenv("LDAPNOINIT", "1", TRUE);
  g_autoptr(GError) error = NULL;
  test_root = g_dir_make_tmp("tessera-directory-XXXXXX", &error);
  g_assert_no_error(error);
  g_autofree char *data_home = test_make_dir(test_root, "xdg");
  g_assert_nonnull(data_home);
  g_setenv("XDG_DATA_HOME", data_home, TRUE);

  make_certs();
  g_autofree char *ldif = make_ldif();
  if (!slapd_start(&slapd, test_root, ldif, &error)) {
    slapd_stop(&slapd);
    test_remove_tree(test_root);
    g_printerr("test-directory: cannot start slapd: %s\n", error->message);
    return 1;
  }
  g_test_message("slapd on %s", slapd.uri);

  g_test_add_func("/directory/settings/load-ldap", test_settings_load_ldap);
  g_test_add_func("/directory/settings/read-and-override", test_settings_read_and_override);
  g_test_add_func("/directory/settings/errors", test_settings_errors);
  g_test_add_func("/directory/store/import-lookup", test_store_import_lookup);
  g_test_add_func("/directory/store/files", test_store_files);
  g_test_add_func("/directory/store/no-duplicate", test_store_no_duplicate);
  g_test_add_func("/directory/store/no-email", test_store_no_email);
  g_test_add_func("/directory/store/missing-and-damaged", test_store_missing_and_damaged);
  g_test_add_func("/directory/store/default-dir", test_store_default_dir);
  g_test_add_func("/directory/ldap/smime-and-binary", test_ldap_smime_and_binary);
  g_test_add_func("/directory/ldap/der-and-garbage", test_ldap_der_and_garbage);
  g_test_add_func("/directory/ldap/no-entry", test_ldap_no_entry);
  g_test_add_func("/directory/ldap/escape", test_ldap_escape);
  g_test_add_func("/directory/ldap/injection", test_ldap_injection);
  g_test_add_func("/directory/ldap/refused", test_ldap_refused);
  g_test_add_func("/directory/ldap/silent", test_ldap_silent);
  g_test_add_func("/directory/ldap/no-such-base", test_ldap_no_such_base);
  g_test_add_func("/directory/lookup/store-then-ldap", test_store_then_ldap);
  g_test_add_func("/directory/lookup/config-errors", test_config_errors);
  g_test_add_func("/directory/lookup/not-an-address", test_not_an_address);
  int rc = g_test_run();

  slapd_stop(&slapd);
  free_certs();
  test_remove_tree(test_root);
  g_free(test_root);
  return rc;
}
