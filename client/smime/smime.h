/* tessera smime — S/MIME for RFC 5322 messages: GMime for the MIME
 * structure, OpenSSL 3's CMS for the cryptography, the agent (through the
 * tessera OpenSSL provider) for every private-key operation. Used by the
 * CLI only (client/cli/cmd-smime*.c). */
#pragma once

#include "cli.h"

#include <gmime/gmime.h>
#include <openssl/bio.h>
#include <openssl/pem.h> /* before cms.h: its PEM_read_bio_CMS */
#include <openssl/cms.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

G_DEFINE_AUTOPTR_CLEANUP_FUNC(BIO, BIO_free_all)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(CMS_ContentInfo, CMS_ContentInfo_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(X509_STORE, X509_STORE_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OSSL_LIB_CTX, OSSL_LIB_CTX_free)

static inline void smime_certs_free(STACK_OF(X509) *certs)
{
  sk_X509_pop_free(certs, X509_free);
}

/* GError codes of SMIME_ERROR. */
#define SMIME_ERROR (smime_error_quark())
GQuark smime_error_quark(void);
typedef enum {
  SMIME_ERROR_INPUT = 1,    /* not a message, malformed MIME or CMS */
  SMIME_ERROR_NO_CERT,      /* no usable certificate (signer, recipient) */
  SMIME_ERROR_NOT_RECIPIENT, /* encrypted, but to none of the user's keys */
  SMIME_ERROR_CRYPTO,       /* OpenSSL refused (the queued errors are in the message) */
  SMIME_ERROR_AGENT,        /* the agent refused */
  SMIME_ERROR_UNREACHABLE,  /* the agent cannot be reached / connection lost */
} SmimeError;

/* Appends OpenSSL's queued errors (and clears them) to a message. */
G_GNUC_PRINTF(3, 4) void smime_set_ossl_error(GError **error, int code, const char *fmt, ...);

/* ---- message.c: RFC 5322 messages with GMime ---- */

typedef struct {
  GMimeMessage *msg;
  GMimeStream *stream; /* the message's bytes (a spooled copy for stdin) */
} SmimeMessage;

void smime_mime_init(void);
/* path "-" = stdin, spooled to an unlinked temporary file so that GMime
 * keeps only offsets, not the content, in memory. */
SmimeMessage *smime_message_read(const char *path, GError **error);
/* The same from a seekable fd, which the message then owns; name is for
 * errors. */
SmimeMessage *smime_message_read_fd(int fd, const char *name, GError **error);
void smime_message_free(SmimeMessage *m);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SmimeMessage, smime_message_free)
/* The From address (lower case), or NULL. */
char *smime_message_from(SmimeMessage *m);
/* To, Cc and Bcc addresses (char *, owned). */
GPtrArray *smime_message_recipients(SmimeMessage *m);
/* The outer headers (everything but MIME-Version and Content-*), as they
 * came, LF line ends. */
gboolean smime_write_outer_headers(SmimeMessage *m, BIO *out, GError **error);
/* The decoded content of a part, in a temporary file BIO. */
BIO *smime_part_content_bio(GMimePart *part, GError **error);
/* The email addresses of a certificate: subjectAltName rfc822Name, and
 * emailAddress in the subject (lower case). */
GPtrArray *smime_cert_emails(X509 *cert);
gboolean smime_cert_has_email(X509 *cert, const char *address);

/* ---- canonical.c: the entity that is signed and encrypted ---- */

/* The message's MIME entity (headers and body), CRLF line ends, in a
 * BIO positioned at its start, which BIO_seek(b, 0) rewinds: a single part,
 * or multiparts of parts, stored as they are sent are made canonical while
 * they are read (that BIO has no fd), anything else is written to a
 * temporary file BIO first.
 * encode_7bit: re-encode 8-bit and binary parts (quoted-printable /
 * base64) first. */
BIO *smime_entity_bio(GMimeObject *entity, gboolean encode_7bit, GError **error);

/* ---- tmpfile.c, output.c, bio.c: temporary files, output, copies ---- */

/* A temporary file BIO (unlinked), read/write, buffered (BIO_flush,
 * BIO_seek and BIO_get_fd write out what is pending). */
BIO *smime_tmp_bio(GError **error);
/* Flushes a temporary BIO and rewinds it for reading. */
gboolean smime_rewind(BIO *b, GError **error);
/* A filter BIO that turns CRLF into LF (mail on Unix has LF line ends). */
BIO *smime_lf_filter_new(void);
/* stdout or a file, through the LF filter unless crlf. */
BIO *smime_output_open(const char *path, gboolean crlf, GError **error);
gboolean smime_output_close(BIO *out, GError **error);
/* Copies in to out. */
gboolean smime_bio_copy(BIO *in, BIO *out, GError **error);

/* ---- trust.c ---- */

typedef struct {
  char **ca_files;   /* --ca: anchors for this run */
  char **crl_files;  /* --crl: CRL files or directories */
} SmimeTrustOptions;

/* System anchors (/etc/ssl/certs), the configured collections
 * ($TESSERA_SMIME_CA; smime-ca.pem and smime-ca/ in the admin's
 * $XDG_CONFIG_DIRS/tessera and the user's $XDG_CONFIG_HOME/tessera), --ca
 * files; CRLs from $TESSERA_SMIME_CRL, smime-crl/ there and --crl (then
 * checked for the whole chain). */
X509_STORE *smime_trust_store(const SmimeTrustOptions *o, GError **error);

typedef enum {
  SMIME_CHAIN_OK,
  SMIME_CHAIN_UNTRUSTED,
  SMIME_CHAIN_EXPIRED,
  SMIME_CHAIN_NOT_YET_VALID,
  SMIME_CHAIN_REVOKED,
  SMIME_CHAIN_USAGE, /* keyUsage / extendedKeyUsage do not allow it */
} SmimeChainStatus;

typedef struct {
  SmimeChainStatus status;
  char *reason;           /* OpenSSL's words, for anything but OK */
  STACK_OF(X509) *chain;  /* leaf .. anchor, when built */
} SmimeChainResult;
void smime_chain_result_clear(SmimeChainResult *r);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(SmimeChainResult, smime_chain_result_clear)

/* purpose: X509_PURPOSE_SMIME_SIGN, or X509_PURPOSE_ANY for encryption
 * (OpenSSL's SMIME_ENCRYPT demands keyEncipherment, which EC keys lack:
 * the callers check keyUsage and extendedKeyUsage themselves). */
void smime_verify_chain(X509_STORE *store, X509 *leaf, STACK_OF(X509) *untrusted, int purpose,
                        SmimeChainResult *out);
const char *smime_chain_status_name(SmimeChainStatus s);

/* ---- select.c: which of the agent's keys ---- */

typedef enum { SMIME_USE_SIGN, SMIME_USE_ENCRYPT } SmimeUse;

typedef struct {
  const tessera_key *key; /* borrowed from the key list */
  X509 *cert;             /* owned */
  char *refusal;          /* NULL: usable */
} SmimeCandidate;

/* Why cert's own fields forbid use (keyUsage for the use and key type,
 * extendedKeyUsage, validity now), or NULL. */
char *smime_cert_refusal(X509 *cert, SmimeUse use, gboolean rsa);
/* The best key for address and use among keys (NULL address: any
 * address). Fills candidates (SmimeCandidate *, owned) for --explain.
 * Returns the chosen candidate (in the array) or NULL. */
SmimeCandidate *smime_select_key(const CliKeys *keys, X509_STORE *store, const char *address,
                                 SmimeUse use, GPtrArray **candidates);
void smime_explain(const char *what, const char *address, GPtrArray *candidates,
                   const SmimeCandidate *chosen);
GPtrArray *smime_candidates_new(void);

/* ---- sign.c ---- */

typedef struct {
  OSSL_LIB_CTX *libctx;
  tessera_client *c;
  const tessera_key *key; /* the signing key */
  X509 *cert;
  STACK_OF(X509) *chain;  /* intermediates to include (may be NULL) */
  X509 *encryption_cert;  /* for SMIMEEncryptionKeyPreference (may be NULL) */
  const EVP_MD *md;
  gboolean pss;
  gboolean opaque;
  gboolean crlf_eol;      /* CRLF for the S/MIME headers too (to be encrypted next) */
  gboolean der;           /* a bare DER SignedData, no MIME (detached unless opaque) */
} SmimeSignOptions;

/* Signs the canonical entity in `entity` and writes the S/MIME entity
 * (MIME-Version, multipart/signed or application/pkcs7-mime) to out,
 * streaming. */
gboolean smime_sign_entity(const SmimeSignOptions *o, BIO *entity, BIO *out, GError **error);

/* ---- encrypt.c ---- */

typedef struct {
  OSSL_LIB_CTX *libctx;
  STACK_OF(X509) *recipients;
  gboolean gcm;
  gboolean oaep;
  gboolean der;  /* a bare DER CMS, no MIME */
} SmimeEncryptOptions;

gboolean smime_encrypt_entity(const SmimeEncryptOptions *o, BIO *entity, BIO *out,
                              GError **error);

/* ---- decrypt.c ---- */

/* Finds the key among keys whose certificate a RecipientInfo names and
 * decrypts through the agent; writes the content to out. */
gboolean smime_decrypt_cms(OSSL_LIB_CTX *libctx, tessera_client *c, const CliKeys *keys,
                           CMS_ContentInfo *cms, BIO *dcont, BIO *out, char **used_key,
                           GError **error);
/* The CMS of an application/pkcs7-mime entity. With content non-NULL, a
 * SignedData, EnvelopedData or AuthEnvelopedData comes without its content,
 * which *content then streams (bounded memory; see ber.c); *content stays
 * NULL when the CMS was read whole. */
CMS_ContentInfo *smime_read_cms_part(OSSL_LIB_CTX *libctx, GMimeObject *entity, BIO **content,
                                     GError **error);
/* The same from a DER (or PEM) CMS in a file BIO. */
CMS_ContentInfo *smime_read_cms_der(OSSL_LIB_CTX *libctx, BIO *der, BIO **content,
                                    GError **error);

/* ---- bare.c: what mail programs' hooks give (mutt's smime_*_command) ---- */

/* path ("-": stdin) as a seekable file BIO (stdin is spooled). */
BIO *smime_open_input(const char *path, GError **error);
/* A bare MIME entity (headers, blank line, body) from path, its line ends
 * made CRLF, in a temporary BIO at its start: what was signed. */
BIO *smime_canonical_input(const char *path, GError **error);

/* ---- ber.c ---- */

/* der: a file BIO. A SignedData, EnvelopedData or AuthEnvelopedData
 * without its (encapsulated or encrypted) content, which *content streams
 * from the file; NULL (nothing queued) when der is none of these or has no
 * content to split off. */
CMS_ContentInfo *smime_split_content(OSSL_LIB_CTX *libctx, BIO *der, BIO **content);

/* ---- verify.c ---- */

typedef enum {
  SMIME_VERDICT_GOOD,
  SMIME_VERDICT_BAD_SIGNATURE,
  SMIME_VERDICT_UNTRUSTED,
  SMIME_VERDICT_EXPIRED,
  SMIME_VERDICT_REVOKED,
  SMIME_VERDICT_ADDRESS_MISMATCH,
  SMIME_VERDICT_USAGE,
  SMIME_VERDICT_NOT_SIGNED,
  SMIME_VERDICT_MALFORMED,
} SmimeVerdictCode;

/* One SignerInfo's verdict: its signature over the content, its
 * certificate, chain, signing time and the From address. */
typedef struct {
  SmimeVerdictCode code;
  char *reason;      /* the exact reason for anything but GOOD */
  char *signer_name; /* common name */
  char *signer_address;
  char *signer_subject, *signer_issuer, *signer_serial; /* NULL: no certificate */
  char *signed_at;   /* ISO 8601 UTC, or NULL */
  char *anchor;      /* the trust anchor's subject */
  GPtrArray *chain;  /* subjects, leaf first */
  X509 *signer_cert; /* owned */
} SmimeSignerVerdict;
void smime_signer_verdict_free(SmimeSignerVerdict *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(SmimeSignerVerdict, smime_signer_verdict_free)

/* The message's verdict. With several signers it is GOOD when at least one
 * signer is good and every signature could be checked and verifies (one
 * that fails is a changed message: BAD_SIGNATURE, whatever the others say;
 * one that cannot be checked: MALFORMED); otherwise the first failing
 * signer's. */
typedef struct {
  SmimeVerdictCode code;
  char *reason;      /* the exact reason for anything but GOOD */
  char *from;        /* the message's From address */
  gboolean opaque;
  gboolean address_unchecked; /* a bare entity without --from: no address to check */
  GPtrArray *signers; /* SmimeSignerVerdict *, every SignerInfo in the message's
                       * order; NULL when there was none to judge */
  /* The signer the verdict is about (in signers; NULL: none): the first bad
   * or uncheckable signature, else the first good signer, else the first. */
  const SmimeSignerVerdict *signer;
} SmimeVerdict;
void smime_verdict_clear(SmimeVerdict *v);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(SmimeVerdict, smime_verdict_clear)
const char *smime_verdict_name(SmimeVerdictCode c);

/* Verifies m; writes the outer headers and the signed entity to content
 * (NULL: not written). FALSE only for input it cannot read at all (then
 * error, and v holds nothing); every verdict, good or bad, is TRUE with v
 * filled, to be cleared. */
gboolean smime_verify_message(OSSL_LIB_CTX *libctx, SmimeMessage *m, X509_STORE *store,
                              BIO *content, SmimeVerdict *v, GError **error);
/* Bare input, as mail programs' hooks give it (see bare.c): a detached DER
 * (or PEM) signature of the canonical entity in content; and a bare
 * SignedData whose content goes to content (NULL: nowhere). The address is
 * checked against from only when it is given. Return values as above. */
gboolean smime_verify_detached(OSSL_LIB_CTX *libctx, BIO *signature, BIO *content,
                               const char *from, X509_STORE *store, SmimeVerdict *v,
                               GError **error);
gboolean smime_verify_bare(OSSL_LIB_CTX *libctx, BIO *der, const char *from, X509_STORE *store,
                           BIO *content, SmimeVerdict *v, GError **error);
