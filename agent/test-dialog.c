/* Unit tests: the words of the PIN dialogs. */
#include "dialog.h"

#include "messages.h"

#include <string.h>

static const DialogSubject sign = { "mutt", 4242, "My Card", "00A1", "Signature key",
                                    DIALOG_SIGN };

static void test_names_program_action_key_and_token(void)
{
  g_autofree char *d = dialog_pin_description(&sign, FALSE, 0);
  g_assert_nonnull(strstr(d, "mutt (pid 4242)"));
  g_assert_nonnull(strstr(d, "sign with the key \u201cSignature key\u201d"));
  g_assert_nonnull(strstr(d, "\u201cMy Card\u201d (serial 00A1)"));
  g_assert_null(strstr(d, "blocked"));
}

static void test_tries_left(void)
{
  g_autofree char *low = dialog_pin_description(&sign, FALSE, TPROTO_TOKEN_PIN_COUNT_LOW);
  g_assert_nonnull(strstr(low, "Few tries left"));
  g_autofree char *final = dialog_pin_description(&sign, FALSE,
                                                  TPROTO_TOKEN_PIN_FINAL_TRY |
                                                      TPROTO_TOKEN_PIN_COUNT_LOW);
  g_assert_nonnull(strstr(final, "Last try before the card is blocked"));
  g_autofree char *err = dialog_wrong_pin_error(TPROTO_TOKEN_PIN_FINAL_TRY);
  g_assert_cmpstr(err, ==, "Wrong PIN. Last try before the card is blocked!");
  g_autofree char *plain = dialog_wrong_pin_error(0);
  g_assert_cmpstr(plain, ==, "Wrong PIN.");
}

static void test_login_without_key(void)
{
  DialogSubject s = { "tessera", 7, "tok", "", NULL, DIALOG_LOGIN };
  g_autofree char *d = dialog_pin_description(&s, FALSE, 0);
  g_assert_nonnull(strstr(d, "tessera (pid 7) asks to log in to the token \u201ctok\u201d."));
  g_assert_null(strstr(d, "serial"));
}

static void test_every_use_pinpad_confirm(void)
{
  DialogSubject s = sign;
  s.action = DIALOG_DECRYPT;
  g_autofree char *every = dialog_pin_description(&s, TRUE, 0);
  g_assert_nonnull(strstr(every, "decrypt with the key"));
  g_assert_nonnull(strstr(every, "PIN for every use"));
  g_autofree char *pad = dialog_pinpad_description(&s, 0);
  g_assert_nonnull(strstr(pad, "keypad"));
  g_autofree char *confirm = dialog_confirm_description(&s);
  g_assert_nonnull(strstr(confirm, "Allow this use?"));
  g_autofree char *insert = dialog_insert_description(&s);
  g_assert_cmpstr(insert, ==,
                  "Insert the smart card \u201cMy Card\u201d (serial 00A1) to decrypt with the key "
                  "\u201cSignature key\u201d for mutt (pid 4242).");
  g_autofree char *title = dialog_title(&s);
  g_assert_cmpstr(title, ==, "Tessera: My Card");
}

int main(int argc, char **argv)
{
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/dialog/names", test_names_program_action_key_and_token);
  g_test_add_func("/dialog/tries", test_tries_left);
  g_test_add_func("/dialog/login", test_login_without_key);
  g_test_add_func("/dialog/every-use-pinpad-confirm", test_every_use_pinpad_confirm);
  return g_test_run();
}
