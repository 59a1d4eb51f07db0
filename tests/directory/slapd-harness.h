/* A throwaway OpenLDAP server for the tests: Debian's slapd as the current
 * user on 127.0.0.1, a port in 36400-36499, an mdb database and its config
 * in a temporary directory, the core/cosine/inetorgperson schemas. */
#pragma once

#include <glib.h>

#define SLAPD_SUFFIX "dc=example,dc=org"

typedef struct {
  GPid pid;
  guint port;
  char *dir; /* config, database, LDIF, log: removed by slapd_stop */
  char *uri; /* ldap://127.0.0.1:PORT */
} Slapd;

/* In a new directory under parent: loads ldif (entries under SLAPD_SUFFIX,
 * which it must create) with slapadd, starts slapd and waits until it
 * accepts connections; after a failure too, slapd_stop cleans up. slapd
 * dies with the test process (PR_SET_PDEATHSIG), so a failed assertion
 * does not leave it running. */
gboolean slapd_start(Slapd *s, const char *parent, const char *ldif, GError **error);

/* Stops slapd and removes its directory. */
void slapd_stop(Slapd *s);

/* A new directory under parent named prefix-XXXXXX, 0700. */
char *test_make_dir(const char *parent, const char *prefix);

/* Removes path and everything under it (for the tests' temp dirs too). */
void test_remove_tree(const char *path);

/* A socket bound to a free port in the range, listening when listen_too:
 * connections to it are refused (not listening) or never answered. */
int slapd_reserve_port(gboolean listen_too, guint *port);
