/* session-probe — a long-lived PKCS#11 application for the interop tests
 * (test-interop.sh): it loads a module with dlopen, as any program does,
 * keeps its sessions across commands, and lets the test pull the card in
 * between.
 *
 *   session-probe MODULE TOKEN-LABEL CKA-ID-HEX
 *
 * At start: C_Initialize, then the slot whose token has TOKEN-LABEL; prints
 * "ready slot=N". Then one command per line on stdin, each answered by one
 * line on stdout that starts with the command's name and the CK_RV:
 *
 *   open            C_OpenSession on that slot id (the new current session)
 *   login           C_Login(CKU_USER) with no PIN (protected path)
 *   sign IN OUT     finds the private key with CKA-ID on the current session,
 *                   signs file IN (SHA256-RSA-PKCS or ECDSA-SHA256), writes
 *                   the signature to OUT (ECDSA as DER, as openssl reads it)
 *   label           CKA_LABEL of the private key with CKA-ID ("label CKR_OK <label>")
 *   session         C_GetSessionInfo of the current session
 *   slot            C_GetSlotInfo: "present" or "absent"
 *   drain           C_WaitForSlotEvent(CKF_DONT_BLOCK) until no event
 *   wait            C_WaitForSlotEvent(0): blocks until a slot event
 *   quit            C_Finalize, exit
 */
#include <p11-kit/pkcs11.h>

#include <dlfcn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static CK_FUNCTION_LIST *p11;
static CK_SLOT_ID slot;
static CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
static unsigned char ckaid[64];
static size_t ckaid_len;

static const char *rv_name(CK_RV rv)
{
  static char other[32];
  switch (rv) {
#define N(x) case x: return #x;
  N(CKR_OK) N(CKR_GENERAL_ERROR) N(CKR_FUNCTION_FAILED) N(CKR_ARGUMENTS_BAD)
  N(CKR_NO_EVENT) N(CKR_DEVICE_ERROR) N(CKR_DEVICE_REMOVED) N(CKR_FUNCTION_CANCELED)
  N(CKR_KEY_HANDLE_INVALID) N(CKR_MECHANISM_INVALID) N(CKR_OBJECT_HANDLE_INVALID)
  N(CKR_OPERATION_ACTIVE) N(CKR_OPERATION_NOT_INITIALIZED) N(CKR_PIN_INCORRECT)
  N(CKR_SESSION_CLOSED) N(CKR_SESSION_HANDLE_INVALID) N(CKR_SLOT_ID_INVALID)
  N(CKR_TOKEN_NOT_PRESENT) N(CKR_TOKEN_NOT_RECOGNIZED) N(CKR_USER_ALREADY_LOGGED_IN)
  N(CKR_USER_NOT_LOGGED_IN) N(CKR_BUFFER_TOO_SMALL) N(CKR_CRYPTOKI_NOT_INITIALIZED)
  N(CKR_FUNCTION_REJECTED) N(CKR_KEY_FUNCTION_NOT_PERMITTED)
#undef N
  default:
    snprintf(other, sizeof(other), "CKR_0x%lx", (unsigned long)rv);
    return other;
  }
}

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  fflush(stdout);
}

static bool read_file(const char *path, unsigned char **data, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return false;
  size_t cap = 4096, n = 0;
  unsigned char *buf = malloc(cap);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      unsigned char *grown = realloc(buf, cap *= 2);
      if (grown == NULL)
        free(buf);
      buf = grown;
    }
  }
  fclose(f);
  *data = buf;
  *len = n;
  return buf != NULL;
}

/* One INTEGER of an ECDSA-Sig-Value: minimal, positive. */
static size_t der_integer(const unsigned char *v, size_t n, unsigned char *out)
{
  while (n > 1 && v[0] == 0)
    v++, n--;
  size_t pad = v[0] & 0x80 ? 1 : 0;
  out[0] = 0x02;
  out[1] = (unsigned char)(n + pad);
  out[2] = 0;
  memcpy(out + 2 + pad, v, n);
  return 2 + pad + n;
}

/* r || s as SEQUENCE { r INTEGER, s INTEGER } (curves up to P-384). */
static size_t ecdsa_der(const unsigned char *sig, size_t len, unsigned char *out)
{
  unsigned char body[2 * (2 + 1 + 66)];
  size_t n = der_integer(sig, len / 2, body);
  n += der_integer(sig + len / 2, len / 2, body + n);
  size_t hdr = 0;
  out[hdr++] = 0x30;
  if (n >= 128)
    out[hdr++] = 0x81;
  out[hdr++] = (unsigned char)n;
  memcpy(out + hdr, body, n);
  return hdr + n;
}

static CK_RV find_key(CK_OBJECT_HANDLE *key, CK_KEY_TYPE *type)
{
  CK_OBJECT_CLASS klass = CKO_PRIVATE_KEY;
  CK_ATTRIBUTE tmpl[] = {
    { CKA_CLASS, &klass, sizeof(klass) },
    { CKA_ID, ckaid, ckaid_len },
  };
  CK_RV rv = p11->C_FindObjectsInit(session, tmpl, 2);
  if (rv != CKR_OK)
    return rv;
  CK_ULONG n = 0;
  rv = p11->C_FindObjects(session, key, 1, &n);
  CK_RV final = p11->C_FindObjectsFinal(session);
  if (rv == CKR_OK)
    rv = final;
  if (rv == CKR_OK && n != 1)
    return CKR_KEY_HANDLE_INVALID;
  CK_ATTRIBUTE a = { CKA_KEY_TYPE, type, sizeof(*type) };
  return rv == CKR_OK ? p11->C_GetAttributeValue(session, *key, &a, 1) : rv;
}

static void sign(const char *in, const char *out)
{
  unsigned char *data = NULL;
  size_t len = 0;
  if (!read_file(in, &data, &len)) {
    reply("sign error: cannot read %s", in);
    return;
  }
  CK_OBJECT_HANDLE key;
  CK_KEY_TYPE type = 0;
  CK_RV rv = find_key(&key, &type);
  CK_MECHANISM mech = { type == CKK_EC ? CKM_ECDSA_SHA256 : CKM_SHA256_RSA_PKCS, NULL, 0 };
  if (rv == CKR_OK)
    rv = p11->C_SignInit(session, &mech, key);
  unsigned char sig[1024], der[1024];
  CK_ULONG sig_len = sizeof(sig);
  if (rv == CKR_OK)
    rv = p11->C_Sign(session, data, len, sig, &sig_len);
  free(data);
  if (rv != CKR_OK) {
    reply("sign %s", rv_name(rv));
    return;
  }
  const unsigned char *bytes = sig;
  size_t n = sig_len;
  if (type == CKK_EC) {
    n = ecdsa_der(sig, sig_len, der);
    bytes = der;
  }
  FILE *f = fopen(out, "wb");
  bool written = f && fwrite(bytes, 1, n, f) == n;
  if (f && fclose(f) != 0)
    written = false;
  if (written)
    reply("sign CKR_OK");
  else
    reply("sign error: cannot write %s", out);
}

static void show_label(void)
{
  CK_OBJECT_HANDLE key;
  CK_KEY_TYPE type;
  char value[256] = "";
  CK_ATTRIBUTE a = { CKA_LABEL, value, sizeof(value) - 1 };
  CK_RV rv = find_key(&key, &type);
  if (rv == CKR_OK)
    rv = p11->C_GetAttributeValue(session, key, &a, 1);
  if (rv == CKR_OK)
    value[a.ulValueLen] = '\0';
  reply("label %s %s", rv_name(rv), value);
}

static CK_SLOT_ID find_slot(const char *label)
{
  CK_SLOT_ID slots[64];
  CK_ULONG n = 64;
  if (p11->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
    return (CK_SLOT_ID)-1;
  for (CK_ULONG i = 0; i < n; i++) {
    CK_TOKEN_INFO info;
    if (p11->C_GetTokenInfo(slots[i], &info) != CKR_OK)
      continue;
    size_t len = sizeof(info.label);
    while (len && info.label[len - 1] == ' ')
      len--;
    if (len == strlen(label) && memcmp(info.label, label, len) == 0)
      return slots[i];
  }
  return (CK_SLOT_ID)-1;
}

int main(int argc, char **argv)
{
  if (argc != 4) {
    fprintf(stderr, "usage: %s MODULE TOKEN-LABEL CKA-ID-HEX\n", argv[0]);
    return 2;
  }
  for (const char *h = argv[3]; h[0] && h[1] && ckaid_len < sizeof(ckaid); h += 2)
    sscanf(h, "%2hhx", &ckaid[ckaid_len++]);
  void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  void *sym = lib ? dlsym(lib, "C_GetFunctionList") : NULL;
  CK_C_GetFunctionList get = NULL;
  memcpy(&get, &sym, sizeof(get)); /* ISO C has no object-to-function pointer cast */
  if (get == NULL || get(&p11) != CKR_OK) {
    fprintf(stderr, "session-probe: cannot load %s: %s\n", argv[1], dlerror());
    return 1;
  }
  CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
  CK_RV rv = p11->C_Initialize(&args);
  if (rv != CKR_OK) {
    reply("error C_Initialize %s", rv_name(rv));
    return 1;
  }
  slot = find_slot(argv[2]);
  if (slot == (CK_SLOT_ID)-1) {
    reply("error no token labelled %s", argv[2]);
    return 1;
  }
  reply("ready slot=%lu", (unsigned long)slot);

  char line[4096];
  while (fgets(line, sizeof(line), stdin)) {
    line[strcspn(line, "\n")] = '\0';
    char cmd[32] = "", in[2048] = "", out[2048] = "";
    if (sscanf(line, "%31s %2047s %2047s", cmd, in, out) < 1)
      continue;
    if (strcmp(cmd, "open") == 0) {
      rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &session);
      reply("open %s", rv_name(rv));
    } else if (strcmp(cmd, "login") == 0) {
      reply("login %s", rv_name(p11->C_Login(session, CKU_USER, NULL, 0)));
    } else if (strcmp(cmd, "sign") == 0) {
      sign(in, out);
    } else if (strcmp(cmd, "label") == 0) {
      show_label();
    } else if (strcmp(cmd, "session") == 0) {
      CK_SESSION_INFO info;
      rv = p11->C_GetSessionInfo(session, &info);
      reply("session %s state=%lu", rv_name(rv), rv == CKR_OK ? (unsigned long)info.state : 0ul);
    } else if (strcmp(cmd, "slot") == 0) {
      CK_SLOT_INFO info;
      rv = p11->C_GetSlotInfo(slot, &info);
      reply("slot %s %s", rv_name(rv),
            rv == CKR_OK && (info.flags & CKF_TOKEN_PRESENT) ? "present" : "absent");
    } else if (strcmp(cmd, "drain") == 0) {
      CK_SLOT_ID s;
      unsigned n = 0;
      while ((rv = p11->C_WaitForSlotEvent(CKF_DONT_BLOCK, &s, NULL)) == CKR_OK && n < 1000)
        n++;
      reply("drain %s events=%u", rv_name(rv), n);
    } else if (strcmp(cmd, "wait") == 0) {
      CK_SLOT_ID s = (CK_SLOT_ID)-1;
      rv = p11->C_WaitForSlotEvent(0, &s, NULL);
      reply("wait %s slot=%lu", rv_name(rv), (unsigned long)s);
    } else if (strcmp(cmd, "quit") == 0) {
      reply("quit %s", rv_name(p11->C_Finalize(NULL)));
      return 0;
    } else {
      reply("error unknown command %s", cmd);
    }
  }
  p11->C_Finalize(NULL);
  return 0;
}
