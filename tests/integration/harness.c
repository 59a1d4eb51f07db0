/* Integration test harness: tokens, agent processes, connections, and the
 * OpenSSL side of every check. */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glib/gstdio.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define READY_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 10000

const TestKeySpec test_keys[TEST_N_KEYS] = {
  { "rsa2048", TEST_TOKEN_1, 0x01, TPROTO_KEY_RSA, 2048, TPROTO_OP_SIGN | TPROTO_OP_DECRYPT },
  { "rsa3072", TEST_TOKEN_1, 0x02, TPROTO_KEY_RSA, 3072, TPROTO_OP_SIGN | TPROTO_OP_DECRYPT },
  { "p256", TEST_TOKEN_1, 0x03, TPROTO_KEY_EC, 256, TPROTO_OP_SIGN | TPROTO_OP_DERIVE },
  { "p384", TEST_TOKEN_1, 0x04, TPROTO_KEY_EC, 384, TPROTO_OP_SIGN | TPROTO_OP_DERIVE },
  { "rsa2048-b", TEST_TOKEN_2, 0x11, TPROTO_KEY_RSA, 2048, TPROTO_OP_SIGN },
  { "p256-b", TEST_TOKEN_2, 0x13, TPROTO_KEY_EC, 256, TPROTO_OP_SIGN },
};

static char *harness_tmp;
static guint agent_counter;

const TestKeySpec *test_key_spec(const char *label)
{
  for (gsize i = 0; i < G_N_ELEMENTS(test_keys); i++)
    if (strcmp(test_keys[i].label, label) == 0)
      return &test_keys[i];
  g_error("no test key '%s'", label);
}

static const char *required_env(const char *name)
{
  const char *v = g_getenv(name);
  if (v == NULL || *v == '\0')
    g_error("%s is not set (run the integration tests with `meson test`)", name);
  return v;
}

static const char *softhsm_module(void)
{
  const char *m = g_getenv("SOFTHSM_MODULE");
  return m && *m ? m : "/usr/lib/softhsm/libsofthsm2.so";
}

void harness_init(int *argc, char ***argv)
{
  harness_init_with(argc, argv, NULL);
}

void harness_init_with(int *argc, char ***argv, const char *make_tokens_option)
{
  g_test_init(argc, argv, NULL);
  g_autoptr(GError) error = NULL;
  harness_tmp = g_dir_make_tmp("tessera-test-XXXXXX", &error);
  g_assert_no_error(error);
  /* A failed assertion aborts before harness_run() cleans up: the tokens
   * and sockets stay there for inspection. */
  g_test_message("test directory %s (kept if a test fails)", harness_tmp);

  const char *argv_tokens[] = { required_env("MAKE_TOKENS"), harness_tmp, make_tokens_option,
                                NULL };
  g_auto(GStrv) env = g_environ_setenv(g_get_environ(), "SOFTHSM_MODULE", softhsm_module(), TRUE);
  int status = 0;
  if (!g_spawn_sync(NULL, (char **)argv_tokens, env, G_SPAWN_DEFAULT, NULL, NULL, NULL, NULL,
                    &status, &error))
    g_error("cannot run make-tokens.sh: %s", error->message);
  if (!g_spawn_check_wait_status(status, &error))
    g_error("make-tokens.sh failed: %s", error->message);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  return remove(path);
}

int harness_run(void)
{
  int rc = g_test_run();
  if (harness_tmp != NULL && nftw(harness_tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
    g_printerr("cannot remove %s: %s\n", harness_tmp, g_strerror(errno));
  g_clear_pointer(&harness_tmp, g_free);
  return rc;
}

const char *harness_dir(void)
{
  return harness_tmp;
}

char *harness_file(const char *name)
{
  return g_build_filename(harness_tmp, name, NULL);
}

char *harness_mkdtemp(const char *prefix)
{
  char *tmpl = g_strdup_printf("%s/%s-XXXXXX", harness_tmp, prefix);
  g_assert_nonnull(g_mkdtemp(tmpl));
  return tmpl;
}

/* If the test process dies (failed assertion, meson timeout), its agents
 * must not outlive it. data: a file for stderr, or NULL. */
static void die_with_parent(gpointer data)
{
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (data != NULL) {
    int fd = open(data, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
  }
}

/* Beside the harness's other files, not the socket: its directory may
 * not exist before the agent makes it. */
static char *pinentry_file(const char *socket_path, const char *suffix)
{
  return g_strdup_printf("%s/agent-%08x%s", harness_tmp, g_str_hash(socket_path), suffix);
}

static const char *spy_module(void)
{
  const char *m = g_getenv("PKCS11_SPY");
  return m && *m ? m : "/usr/lib/x86_64-linux-gnu/pkcs11-spy.so";
}

/* agent.conf in a fresh XDG_CONFIG_HOME; NULL when there is none. */
static char *write_config(const char *contents)
{
  if (contents == NULL)
    return NULL;
  char *home = harness_mkdtemp("config");
  g_autofree char *dir = g_build_filename(home, "tessera", NULL);
  g_assert_cmpint(g_mkdir(dir, 0700), ==, 0);
  g_autofree char *file = g_build_filename(dir, "agent.conf", NULL);
  g_autoptr(GError) error = NULL;
  g_file_set_contents(file, contents, -1, &error);
  g_assert_no_error(error);
  return home;
}

GPid test_agent_spawn(const TestAgentOptions *o, const char *socket_path)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new();
  for (const char *const *p = o->prefix; p && *p; p++)
    g_ptr_array_add(argv, (char *)*p);
  g_ptr_array_add(argv, (char *)required_env("TESSERA_AGENT"));
  g_ptr_array_add(argv, "--foreground");
  g_ptr_array_add(argv, "--no-p11-kit");
  g_ptr_array_add(argv, "--pinentry");
  g_ptr_array_add(argv, (char *)(o->pinentry ? o->pinentry : required_env("FAKE_PINENTRY")));
  if (o->debug_log)
    g_ptr_array_add(argv, "--debug");
  if (!o->no_modules) {
    g_ptr_array_add(argv, "--module");
    g_ptr_array_add(argv, (char *)(o->spy_log ? spy_module() : softhsm_module()));
  }
  if (!o->default_socket) {
    g_ptr_array_add(argv, "--socket");
    g_ptr_array_add(argv, (char *)socket_path);
  }
  g_ptr_array_add(argv, NULL);

  g_autofree char *conf = harness_file("softhsm2.conf");
  g_autofree char *config_home = harness_file("no-config");
  g_autofree char *written_home = write_config(o->config);
  g_autofree char *script = pinentry_file(socket_path, ".pinentry");
  g_autofree char *log = pinentry_file(socket_path, ".pinentry.log");
  char **env = g_get_environ();
  env = g_environ_setenv(env, "SOFTHSM2_CONF", conf, TRUE);
  /* Never read the developer's own agent.conf. */
  env = g_environ_setenv(env, "XDG_CONFIG_HOME",
                         written_home  ? written_home
                         : o->config_home ? o->config_home
                                          : config_home,
                         TRUE);
  env = g_environ_setenv(env, "FAKE_PINENTRY_SCRIPT", script, TRUE);
  env = g_environ_setenv(env, "FAKE_PINENTRY_LOG", log, TRUE);
  if (o->spy_log) {
    env = g_environ_setenv(env, "PKCS11SPY", softhsm_module(), TRUE);
    env = g_environ_setenv(env, "PKCS11SPY_OUTPUT", o->spy_log, TRUE);
  }
  env = g_environ_unsetenv(env, "TESSERA_SOCKET");
  if (o->xdg_runtime_dir)
    env = g_environ_setenv(env, "XDG_RUNTIME_DIR", o->xdg_runtime_dir, TRUE);
  g_auto(GStrv) envp = env;

  GPid pid = 0;
  g_autoptr(GError) error = NULL;
  if (!g_spawn_async(NULL, (char **)argv->pdata, envp,
                     G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH, die_with_parent,
                     (gpointer)o->debug_log, &pid,
                     &error))
    g_error("cannot start the agent: %s", error->message);
  return pid;
}

int test_wait_pid(GPid pid, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid)
      return status;
    g_assert_cmpint(r, ==, 0);
    if (g_get_monotonic_time() > deadline)
      return -1;
    g_usleep(10 * 1000);
  }
}

int test_socket_connect(const char *path)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  g_assert_cmpint(fd, >=, 0);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

TestAgent *test_agent_start_full(const TestAgentOptions *o)
{
  TestAgent *a = g_new0(TestAgent, 1);
  if (o->default_socket)
    a->socket_path = g_build_filename(o->xdg_runtime_dir, "tessera", "agent.sock", NULL);
  else if (o->socket_path)
    a->socket_path = g_strdup(o->socket_path);
  else
    a->socket_path = g_strdup_printf("%s/agent-%u.sock", harness_tmp, ++agent_counter);
  a->pinentry_script = pinentry_file(a->socket_path, ".pinentry");
  a->pinentry_log = pinentry_file(a->socket_path, ".pinentry.log");
  /* No answers yet: the fake cancels every dialog. */
  test_pinentry_answers(a, "");
  a->pid = test_agent_spawn(o, a->socket_path);

  gint64 deadline = g_get_monotonic_time() + READY_TIMEOUT_MS * 1000;
  for (;;) {
    int fd = test_socket_connect(a->socket_path);
    if (fd >= 0) {
      close(fd);
      return a;
    }
    int status = test_wait_pid(a->pid, 0);
    if (status != -1)
      g_error("the agent exited before it was ready (wait status 0x%x)", status);
    if (g_get_monotonic_time() > deadline) {
      g_autofree char *path = g_strdup(a->socket_path);
      test_agent_free(a);
      g_error("the agent did not accept connections on %s within %d ms", path, READY_TIMEOUT_MS);
    }
    g_usleep(20 * 1000);
  }
}

TestAgent *test_agent_start(void)
{
  const TestAgentOptions o = { 0 };
  return test_agent_start_full(&o);
}

void test_agent_stop(TestAgent *a)
{
  g_assert_cmpint(kill(a->pid, SIGTERM), ==, 0);
  int status = test_wait_pid(a->pid, STOP_TIMEOUT_MS);
  if (status == -1) {
    kill(a->pid, SIGKILL);
    test_wait_pid(a->pid, STOP_TIMEOUT_MS);
    g_error("the agent ignored SIGTERM for %d ms", STOP_TIMEOUT_MS);
  }
  a->pid = 0;
  g_assert_true(WIFEXITED(status));
  g_assert_cmpint(WEXITSTATUS(status), ==, 0);
  g_assert_false(g_file_test(a->socket_path, G_FILE_TEST_EXISTS));
  test_agent_free(a);
}

void test_agent_free(TestAgent *a)
{
  if (a == NULL)
    return;
  if (a->pid > 0) {
    kill(a->pid, SIGKILL);
    test_wait_pid(a->pid, STOP_TIMEOUT_MS);
  }
  g_free(a->socket_path);
  g_free(a->pinentry_script);
  g_free(a->pinentry_log);
  g_free(a);
}

void test_pinentry_answers(const TestAgent *a, const char *lines)
{
  g_autofree char *pos = g_strconcat(a->pinentry_script, ".pos", NULL);
  (void)remove(pos);
  g_autoptr(GError) error = NULL;
  g_file_set_contents(a->pinentry_script, lines, -1, &error);
  g_assert_no_error(error);
}

char *test_pinentry_log(const TestAgent *a)
{
  char *text = NULL;
  if (!g_file_get_contents(a->pinentry_log, &text, NULL, NULL))
    return g_strdup("");
  return text;
}

guint test_count_lines(const char *text, const char *needle)
{
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  guint n = 0;
  for (char **l = lines; *l != NULL; l++)
    if (strstr(*l, needle) != NULL)
      n++;
  return n;
}

tessera_client *test_connect(const TestAgent *a)
{
  static const tessera_option no_prompt = { "PROMPT", "no" };
  return test_connect_with(a, &no_prompt, 1);
}

tessera_client *test_connect_prompting(const TestAgent *a)
{
  return test_connect_with(a, NULL, 0);
}

tessera_client *test_connect_with(const TestAgent *a, const tessera_option *options, size_t n)
{
  tessera_client *c = NULL;
  g_autofree char *err = NULL;
  int rc = tessera_client_connect_with_options(a->socket_path, "integration-test", options, n,
                                               &c, &err);
  if (rc != TESSERA_OK)
    g_error("cannot connect to %s: %d %s", a->socket_path, rc, err ? err : "");
  g_assert_nonnull(c);
  g_assert_cmpuint(tessera_client_version(c), ==, TPROTO_VERSION);
  return c;
}

void test_login(tessera_client *c, const char *token)
{
  test_assert_rc(c, tessera_login(c, token, TEST_PIN, strlen(TEST_PIN)), TESSERA_OK);
}

void test_assert_rc_impl(tessera_client *c, int rc, int expected, const char *where)
{
  if (rc != expected) {
    const char *got = rc > 0 ? tproto_error_name((uint32_t)rc) : NULL;
    const char *want = expected > 0 ? tproto_error_name((uint32_t)expected) : NULL;
    g_error("%s: expected %d (%s), got %d (%s): \"%s\"", where, expected, want ? want : "-", rc,
            got ? got : "-", tessera_client_last_error(c));
  }
  if (expected != TESSERA_OK && *tessera_client_last_error(c) == '\0')
    g_error("%s: error %d came without a message", where, rc);
}

static X509 *load_cert(const char *label)
{
  g_autofree char *name = g_strdup_printf("%s.pem", label);
  g_autofree char *path = harness_file(name);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    g_error("cannot open %s: %s", path, g_strerror(errno));
  X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  if (x == NULL)
    g_error("%s is not a PEM certificate", path);
  return x;
}

GBytes *test_cert_der(const char *label)
{
  g_autoptr(X509) x = load_cert(label);
  unsigned char *der = NULL;
  int n = i2d_X509(x, &der);
  g_assert_cmpint(n, >, 0);
  GBytes *b = g_bytes_new(der, (gsize)n);
  OPENSSL_free(der);
  return b;
}

EVP_PKEY *test_cert_pubkey(const char *label)
{
  g_autoptr(X509) x = load_cert(label);
  EVP_PKEY *k = X509_get_pubkey(x);
  g_assert_nonnull(k);
  return k;
}

const EVP_MD *test_md(uint8_t hash)
{
  switch (hash) {
  case TPROTO_HASH_SHA1:
    return EVP_sha1();
  case TPROTO_HASH_SHA224:
    return EVP_sha224();
  case TPROTO_HASH_SHA256:
    return EVP_sha256();
  case TPROTO_HASH_SHA384:
    return EVP_sha384();
  case TPROTO_HASH_SHA512:
    return EVP_sha512();
  default:
    g_error("no hash %u", hash);
  }
}

GBytes *test_digest(uint8_t hash, const void *data, size_t len)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  g_assert_cmpint(EVP_Digest(data, len, md, &n, test_md(hash), NULL), ==, 1);
  g_assert_cmpuint(n, ==, tproto_hash_len(hash));
  return g_bytes_new(md, n);
}

GBytes *test_digest_info(uint8_t hash, GBytes *digest)
{
  g_autoptr(X509_SIG) sig = X509_SIG_new();
  X509_ALGOR *alg = NULL;
  ASN1_OCTET_STRING *value = NULL;
  X509_SIG_getm(sig, &alg, &value);
  g_assert_cmpint(X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(test_md(hash))), V_ASN1_NULL,
                                  NULL),
                  ==, 1);
  gsize n = 0;
  const guint8 *d = g_bytes_get_data(digest, &n);
  g_assert_cmpint(ASN1_OCTET_STRING_set(value, d, (int)n), ==, 1);
  unsigned char *der = NULL;
  int len = i2d_X509_SIG(sig, &der);
  g_assert_cmpint(len, >, 0);
  GBytes *b = g_bytes_new(der, (gsize)len);
  OPENSSL_free(der);
  return b;
}

/* PKCS#11 ECDSA signatures are r||s; OpenSSL verifies DER. */
static GBytes *ecdsa_raw_to_der(const uint8_t *sig, size_t len)
{
  if (len == 0 || len % 2 != 0)
    return NULL;
  g_autoptr(ECDSA_SIG) es = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(sig, (int)(len / 2), NULL);
  BIGNUM *s = BN_bin2bn(sig + len / 2, (int)(len / 2), NULL);
  g_assert_cmpint(ECDSA_SIG_set0(es, r, s), ==, 1);
  unsigned char *der = NULL;
  int n = i2d_ECDSA_SIG(es, &der);
  g_assert_cmpint(n, >, 0);
  GBytes *b = g_bytes_new(der, (gsize)n);
  OPENSSL_free(der);
  return b;
}

gboolean test_verify(EVP_PKEY *pub, uint8_t mech, uint8_t hash, GBytes *digest,
                     const uint8_t *sig, size_t sig_len)
{
  g_autoptr(EVP_PKEY_CTX) ctx = EVP_PKEY_CTX_new(pub, NULL);
  g_assert_cmpint(EVP_PKEY_verify_init(ctx), ==, 1);
  g_autoptr(GBytes) der = NULL;
  switch (mech) {
  case TPROTO_MECH_RSA_PKCS:
    g_assert_cmpint(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), ==, 1);
    break;
  case TPROTO_MECH_RSA_PSS:
    g_assert_cmpint(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING), ==, 1);
    g_assert_cmpint(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, test_md(hash)), ==, 1);
    /* An explicit length makes OpenSSL insist on it: salt = hash length. */
    g_assert_cmpint(EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, (int)tproto_hash_len(hash)), ==, 1);
    break;
  case TPROTO_MECH_ECDSA: {
    /* r and s each as long as the group order. */
    size_t half = (size_t)(EVP_PKEY_get_bits(pub) + 7) / 8;
    if (sig_len != 2 * half)
      return FALSE;
    der = ecdsa_raw_to_der(sig, sig_len);
    sig = g_bytes_get_data(der, &sig_len);
    break;
  }
  default:
    g_error("not a signing mechanism: %u", mech);
  }
  g_assert_cmpint(EVP_PKEY_CTX_set_signature_md(ctx, test_md(hash)), ==, 1);
  gsize dlen = 0;
  const guint8 *d = g_bytes_get_data(digest, &dlen);
  return EVP_PKEY_verify(ctx, sig, sig_len, d, dlen) == 1;
}

uint8_t test_default_mech(const char *label)
{
  return test_key_spec(label)->key_type == TPROTO_KEY_RSA ? TPROTO_MECH_RSA_PKCS
                                                           : TPROTO_MECH_ECDSA;
}

void test_sign_and_verify(tessera_client *c, const char *label, uint8_t mech, uint8_t hash)
{
  g_autofree char *message = g_strdup_printf("message %u for %s, mech %u hash %u",
                                             g_random_int(), label, mech, hash);
  g_autoptr(GBytes) digest = test_digest(hash, message, strlen(message));
  g_autoptr(GBytes) input =
      mech == TPROTO_MECH_RSA_PKCS ? test_digest_info(hash, digest) : g_bytes_ref(digest);
  gsize in_len = 0;
  const guint8 *in = g_bytes_get_data(input, &in_len);
  uint8_t mgf = mech == TPROTO_MECH_RSA_PSS ? hash : 0;
  uint32_t salt = mech == TPROTO_MECH_RSA_PSS ? (uint32_t)tproto_hash_len(hash) : 0;
  uint8_t *sig = NULL;
  size_t sig_len = 0;
  int rc = tessera_sign(c, label, mech, mech == TPROTO_MECH_RSA_PSS ? hash : 0, mgf, salt, in,
                        in_len, &sig, &sig_len);
  test_assert_rc(c, rc, TESSERA_OK);
  g_assert_nonnull(sig);
  g_autoptr(EVP_PKEY) pub = test_cert_pubkey(label);
  if (test_key_spec(label)->key_type == TPROTO_KEY_RSA)
    g_assert_cmpuint(sig_len, ==, test_key_spec(label)->bits / 8);
  if (!test_verify(pub, mech, hash, digest, sig, sig_len))
    g_error("%s: signature (mech %s, %s, %zu bytes) does not verify", label,
            tproto_mech_name(mech), tproto_hash_name(hash), sig_len);
  free(sig);
}
