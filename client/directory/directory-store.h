/* The local certificate store: one PEM file per certificate, named by its
 * SHA-256 fingerprint, in a directory only the user can read. Private to
 * the directory library. */
#pragma once

#include <glib.h>
#include <openssl/x509.h>

/* Adds cert to the store in dir (created 0700 when missing); a certificate
 * already there is left alone. FALSE when it names no address. */
gboolean smime_store_add(const char *dir, X509 *cert, GError **error);

/* Appends to out (X509*, owned) every stored certificate for address,
 * compared case-insensitively. A missing dir is an empty store. */
gboolean smime_store_find(const char *dir, const char *address, GPtrArray *out, GError **error);
