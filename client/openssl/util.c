/* Helpers the operations share: agent keys, digests. */
#include "prov.h"

#include "messages.h"

#include <string.h>

int tprov_key_is_agent(const tprov_key *k)
{
  if (k == NULL || k->id == NULL || k->client == NULL) {
    tprov_raise(k ? k->prov : NULL, TPROV_R_NO_PRIVATE_KEY,
                "this key has no private half at the agent");
    return 0;
  }
  return 1;
}

EVP_MD *tprov_fetch_md(const tprov_ctx *p, const char *name)
{
  EVP_MD *md = EVP_MD_fetch(p->libctx, name, TPROV_OTHERS);
  if (md == NULL)
    tprov_raise(p, TPROV_R_UNSUPPORTED, "digest %s", name);
  return md;
}

static const struct {
  const char *name;
  uint8_t hash;
  size_t len;
} hashes[] = {
  { "SHA1", TPROTO_HASH_SHA1, 20 },     { "SHA2-224", TPROTO_HASH_SHA224, 28 },
  { "SHA2-256", TPROTO_HASH_SHA256, 32 }, { "SHA2-384", TPROTO_HASH_SHA384, 48 },
  { "SHA2-512", TPROTO_HASH_SHA512, 64 },
};

uint8_t tprov_md_hash(const EVP_MD *md)
{
  for (size_t i = 0; md != NULL && i < sizeof(hashes) / sizeof(hashes[0]); i++)
    if (EVP_MD_is_a(md, hashes[i].name))
      return hashes[i].hash;
  return TPROTO_HASH_NONE;
}

const char *tprov_md_name_for_len(size_t len)
{
  for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++)
    if (hashes[i].len == len)
      return hashes[i].name;
  return NULL;
}
