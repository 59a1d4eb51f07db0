/* tessera-pkcs11 — an agent key as certificate, public-key and private-key
 * objects, all readable without login (NSS pairs them by CKA_ID), and the
 * module's table of objects. */
#include "p11.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/objects.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

void p11_object_free(p11_object *o)
{
  if (o == NULL)
    return;
  p11_attrs_clear(&o->attrs);
  free(o->key_id);
  free(o);
}

/* ---- the public key's values ------------------------------------------- */

typedef struct {
  uint8_t *modulus, *exponent; /* RSA, big-endian */
  size_t modulus_len, exponent_len;
  uint8_t *ec_params; /* DER OID of the named curve */
  size_t ec_params_len;
  uint8_t *ec_point_der; /* DER OCTET STRING around the point */
  size_t ec_point_der_len;
  const uint8_t *ec_point; /* the raw point inside ec_point_der */
  size_t ec_point_len;
} public_values;

static void public_values_clear(public_values *v)
{
  free(v->modulus);
  free(v->exponent);
  free(v->ec_params);
  free(v->ec_point_der);
  memset(v, 0, sizeof(*v));
}

static bool integer_bytes(const ASN1_TYPE *t, uint8_t **out, size_t *len)
{
  if (t == NULL || t->type != V_ASN1_INTEGER)
    return false;
  BIGNUM *bn = ASN1_INTEGER_to_BN(t->value.integer, NULL);
  if (bn == NULL)
    return false;
  *len = (size_t)BN_num_bytes(bn);
  *out = malloc(*len ? *len : 1);
  if (*out)
    BN_bn2bin(bn, *out);
  BN_free(bn);
  return *out != NULL;
}

/* RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } */
static bool rsa_values(const unsigned char *der, int der_len, public_values *v)
{
  ASN1_SEQUENCE_ANY *seq = d2i_ASN1_SEQUENCE_ANY(NULL, &der, der_len);
  bool ok = seq && sk_ASN1_TYPE_num(seq) == 2 &&
            integer_bytes(sk_ASN1_TYPE_value(seq, 0), &v->modulus, &v->modulus_len) &&
            integer_bytes(sk_ASN1_TYPE_value(seq, 1), &v->exponent, &v->exponent_len);
  sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
  return ok;
}

/* EC: the curve's OID in the algorithm parameters, the point as the key. */
static bool ec_values(const X509_ALGOR *alg, const unsigned char *point, int point_len,
                      public_values *v)
{
  int param_type = V_ASN1_UNDEF;
  const void *param = NULL;
  X509_ALGOR_get0(NULL, &param_type, &param, alg);
  if (param_type != V_ASN1_OBJECT || point_len <= 0 || point_len > 127)
    return false;
  unsigned char *der = NULL;
  int der_len = i2d_ASN1_OBJECT(param, &der);
  if (der_len <= 0)
    return false;
  v->ec_params = malloc((size_t)der_len);
  v->ec_point_der = malloc((size_t)point_len + 2);
  if (v->ec_params == NULL || v->ec_point_der == NULL) {
    OPENSSL_free(der);
    return false;
  }
  memcpy(v->ec_params, der, (size_t)der_len);
  v->ec_params_len = (size_t)der_len;
  OPENSSL_free(der);
  v->ec_point_der[0] = 0x04; /* OCTET STRING, short length: points are < 128 bytes */
  v->ec_point_der[1] = (uint8_t)point_len;
  memcpy(v->ec_point_der + 2, point, (size_t)point_len);
  v->ec_point_der_len = (size_t)point_len + 2;
  v->ec_point = v->ec_point_der + 2;
  v->ec_point_len = (size_t)point_len;
  return true;
}

/* Read straight from the DER, not through EVP_PKEY: in a program that set
 * an engine (libp11) as the default for a key type, EVP_PKEY accessors of
 * that type fail. */
static bool public_values_from_spki(const tessera_key *k, public_values *v)
{
  memset(v, 0, sizeof(*v));
  if (k->spki == NULL || k->spki_len == 0)
    return false;
  const unsigned char *p = k->spki;
  X509_PUBKEY *spki = d2i_X509_PUBKEY(NULL, &p, (long)k->spki_len);
  const unsigned char *key = NULL;
  int key_len = 0;
  X509_ALGOR *alg = NULL;
  bool ok = spki && X509_PUBKEY_get0_param(NULL, &key, &key_len, &alg, spki);
  if (ok && k->key_type == TPROTO_KEY_RSA)
    ok = rsa_values(key, key_len, v);
  else if (ok)
    ok = ec_values(alg, key, key_len, v);
  X509_PUBKEY_free(spki);
  if (!ok)
    public_values_clear(v);
  return ok;
}

bool p11_ckaid_from_spki(const tessera_key *k, uint8_t out[20])
{
  public_values v;
  if (!public_values_from_spki(k, &v))
    return false;
  if (k->key_type == TPROTO_KEY_RSA)
    SHA1(v.modulus, v.modulus_len, out);
  else
    SHA1(v.ec_point, v.ec_point_len, out);
  public_values_clear(&v);
  return true;
}

static int hex_value(char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

uint8_t *p11_ckaid_from_uri(const char *uri, size_t *len)
{
  *len = 0;
  const char *p = uri ? strchr(uri, ':') : NULL;
  while (p) {
    p++;
    if (strncmp(p, "id=", 3) == 0)
      break;
    p = strchr(p, ';');
  }
  if (p == NULL)
    return NULL;
  p += 3;
  size_t end = strcspn(p, ";?");
  uint8_t *out = malloc(end ? end : 1);
  if (out == NULL)
    return NULL;
  size_t n = 0;
  for (size_t i = 0; i < end; i++) {
    if (p[i] == '%' && i + 2 < end + 1 && hex_value(p[i + 1]) >= 0 && hex_value(p[i + 2]) >= 0) {
      out[n++] = (uint8_t)(hex_value(p[i + 1]) << 4 | hex_value(p[i + 2]));
      i += 2;
    } else {
      out[n++] = (uint8_t)p[i];
    }
  }
  if (n == 0) {
    free(out);
    return NULL;
  }
  *len = n;
  return out;
}

/* ---- the objects -------------------------------------------------------- */

static p11_object *object_new(const tessera_key *k, CK_SLOT_ID slot, CK_OBJECT_CLASS klass)
{
  p11_object *o = calloc(1, sizeof(*o));
  if (o == NULL)
    return NULL;
  o->slot = slot;
  o->klass = klass;
  o->key_type = k->key_type;
  o->bits = k->bits;
  o->ops = k->ops;
  o->flags = k->flags;
  o->key_id = strdup(k->id);
  if (o->key_id == NULL) {
    free(o);
    return NULL;
  }
  return o;
}

static bool common_attrs(p11_attrs *a, CK_OBJECT_CLASS klass, const uint8_t *ckaid,
                         size_t ckaid_len, const char *label, bool private_object)
{
  return p11_attrs_add_ulong(a, CKA_CLASS, klass) && p11_attrs_add_bool(a, CKA_TOKEN, true) &&
         p11_attrs_add_bool(a, CKA_PRIVATE, private_object) &&
         p11_attrs_add_bool(a, CKA_MODIFIABLE, false) &&
         p11_attrs_add(a, CKA_LABEL, label, strlen(label)) &&
         p11_attrs_add(a, CKA_ID, ckaid, ckaid_len);
}

static bool add_der(p11_attrs *a, CK_ATTRIBUTE_TYPE type, int len, unsigned char *der)
{
  bool ok = len > 0 && p11_attrs_add(a, type, der, (size_t)len);
  OPENSSL_free(der);
  return ok;
}

static bool certificate_attrs(p11_attrs *a, const tessera_key *k, X509 *x509)
{
  unsigned char *subject = NULL, *issuer = NULL, *serial = NULL;
  int subject_len = i2d_X509_NAME(X509_get_subject_name(x509), &subject);
  int issuer_len = i2d_X509_NAME(X509_get_issuer_name(x509), &issuer);
  int serial_len = i2d_ASN1_INTEGER(X509_get_serialNumber(x509), &serial);
  return add_der(a, CKA_SUBJECT, subject_len, subject) &&
         add_der(a, CKA_ISSUER, issuer_len, issuer) &&
         add_der(a, CKA_SERIAL_NUMBER, serial_len, serial) &&
         p11_attrs_add_ulong(a, CKA_CERTIFICATE_TYPE, CKC_X_509) &&
         p11_attrs_add_ulong(a, CKA_CERTIFICATE_CATEGORY, 1 /* token user */) &&
         p11_attrs_add_bool(a, CKA_TRUSTED, false) &&
         p11_attrs_add(a, CKA_VALUE, k->cert, k->cert_len);
}

static bool subject_of(X509 *x509, p11_attrs *a)
{
  if (x509 == NULL)
    return true;
  unsigned char *subject = NULL;
  int len = i2d_X509_NAME(X509_get_subject_name(x509), &subject);
  return add_der(a, CKA_SUBJECT, len, subject);
}

static bool key_attrs(p11_attrs *a, const tessera_key *k, const public_values *v, bool private_key)
{
  bool rsa = k->key_type == TPROTO_KEY_RSA;
  bool ok = p11_attrs_add_ulong(a, CKA_KEY_TYPE, rsa ? CKK_RSA : CKK_EC) &&
            p11_attrs_add_bool(a, CKA_LOCAL, false) &&
            p11_attrs_add_bool(a, CKA_DERIVE, private_key && (k->ops & TPROTO_OP_DERIVE)) &&
            p11_attrs_add(a, CKA_PUBLIC_KEY_INFO, k->spki, k->spki_len);
  if (rsa)
    ok = ok && p11_attrs_add(a, CKA_MODULUS, v->modulus, v->modulus_len) &&
         p11_attrs_add(a, CKA_PUBLIC_EXPONENT, v->exponent, v->exponent_len) &&
         p11_attrs_add_ulong(a, CKA_MODULUS_BITS, k->bits);
  else
    ok = ok && p11_attrs_add(a, CKA_EC_PARAMS, v->ec_params, v->ec_params_len) &&
         (private_key || p11_attrs_add(a, CKA_EC_POINT, v->ec_point_der, v->ec_point_der_len));
  if (private_key)
    return ok && p11_attrs_add_bool(a, CKA_SENSITIVE, true) &&
           p11_attrs_add_bool(a, CKA_ALWAYS_SENSITIVE, true) &&
           p11_attrs_add_bool(a, CKA_EXTRACTABLE, false) &&
           p11_attrs_add_bool(a, CKA_NEVER_EXTRACTABLE, true) &&
           p11_attrs_add_bool(a, CKA_SIGN, k->ops & TPROTO_OP_SIGN) &&
           p11_attrs_add_bool(a, CKA_SIGN_RECOVER, false) &&
           p11_attrs_add_bool(a, CKA_DECRYPT, k->ops & TPROTO_OP_DECRYPT) &&
           p11_attrs_add_bool(a, CKA_UNWRAP, false) &&
           p11_attrs_add_bool(a, CKA_WRAP_WITH_TRUSTED, false) &&
           p11_attrs_add_bool(a, CKA_ALWAYS_AUTHENTICATE, k->flags & TPROTO_KEY_ALWAYS_AUTH);
  return ok && p11_attrs_add_bool(a, CKA_VERIFY, k->ops & TPROTO_OP_SIGN) &&
         p11_attrs_add_bool(a, CKA_VERIFY_RECOVER, false) &&
         p11_attrs_add_bool(a, CKA_ENCRYPT, k->ops & TPROTO_OP_DECRYPT) &&
         p11_attrs_add_bool(a, CKA_WRAP, false) && p11_attrs_add_bool(a, CKA_TRUSTED, false);
}

size_t p11_objects_for_key(const tessera_key *k, CK_SLOT_ID slot, const uint8_t *ckaid,
                           size_t ckaid_len, const char *label, p11_object *out[3])
{
  size_t n = 0;
  X509 *x509 = NULL;
  public_values v;
  if (!public_values_from_spki(k, &v))
    return 0;
  if (k->cert && k->cert_len) {
    const unsigned char *p = k->cert;
    x509 = d2i_X509(NULL, &p, (long)k->cert_len);
  }
  static const CK_OBJECT_CLASS classes[] = { CKO_CERTIFICATE, CKO_PUBLIC_KEY, CKO_PRIVATE_KEY };
  for (size_t i = 0; i < 3; i++) {
    if (classes[i] == CKO_CERTIFICATE && x509 == NULL)
      continue;
    p11_object *o = object_new(k, slot, classes[i]);
    bool ok = o && common_attrs(&o->attrs, classes[i], ckaid, ckaid_len, label,
                                classes[i] == CKO_PRIVATE_KEY);
    if (ok && classes[i] == CKO_CERTIFICATE)
      ok = certificate_attrs(&o->attrs, k, x509);
    else if (ok)
      ok = subject_of(x509, &o->attrs) &&
           key_attrs(&o->attrs, k, &v, classes[i] == CKO_PRIVATE_KEY);
    if (!ok) {
      p11_object_free(o);
      while (n)
        p11_object_free(out[--n]);
      break;
    }
    out[n++] = o;
  }
  X509_free(x509);
  public_values_clear(&v);
  return n;
}

/* ---- the table (lock held) --------------------------------------------- */

p11_object *p11_object_find(CK_OBJECT_HANDLE h)
{
  for (size_t i = 0; i < p11_state.n_objects; i++)
    if (p11_state.objects[i]->handle == h)
      return p11_state.objects[i];
  return NULL;
}

bool p11_object_add(p11_object *o)
{
  p11_object **objects =
    realloc(p11_state.objects, (p11_state.n_objects + 1) * sizeof(*objects));
  if (objects == NULL)
    return false;
  p11_state.objects = objects;
  if (o->handle == 0)
    o->handle = p11_state.next_handle++;
  objects[p11_state.n_objects++] = o;
  return true;
}

/* slot (CK_UNAVAILABLE_INFORMATION = any), session (0 = none) and
 * token_objects pick what goes. */
void p11_objects_free_where(CK_SLOT_ID slot, CK_SESSION_HANDLE session, bool token_objects)
{
  size_t kept = 0;
  for (size_t i = 0; i < p11_state.n_objects; i++) {
    p11_object *o = p11_state.objects[i];
    bool slot_matches = slot == CK_UNAVAILABLE_INFORMATION || o->slot == slot;
    bool goes = slot_matches && ((token_objects && o->session == 0) ||
                                 (session != 0 && o->session == session));
    if (goes)
      p11_object_free(o);
    else
      p11_state.objects[kept++] = o;
  }
  p11_state.n_objects = kept;
}
