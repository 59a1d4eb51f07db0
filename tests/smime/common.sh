# tests/smime/common.sh — sourced by the S/MIME shell tests (tests/smime,
# tests/mutt), after tap.sh and with $T set: the checks (checks.sh), and the
# agent (agent.sh) on SoftHSM2 tokens made by make-tokens.sh --smime.
#   smime_tokens                         the tokens in $T ($T/env, $T/ca.pem ...)
#   smime_agent_start TOKEN...           the agent (AGENT_PID) on $TESSERA_SOCKET
#                                        with the scripted pinentry, logged in

# Nothing of this machine's S/MIME configuration (the admin's in
# /etc/xdg/tessera, the environment's) changes the tests.
unset TESSERA_SMIME_CA TESSERA_SMIME_CRL
export XDG_CONFIG_DIRS="$T/no-system-config"

. "$(dirname "$0")/../checks.sh"
. "$(dirname "$0")/../agent.sh"
tessera() { "$TESSERA_CLI" "$@"; }

smime_tokens() {
  "$MAKE_TOKENS" "$T" --smime || bail "make-tokens.sh failed"
  . "$T/env"
}

# The caller has set XDG_CONFIG_HOME and XDG_DATA_HOME (no user's files).
smime_agent_start() {
  scripted_pinentry
  agent_start "$MODULE" "$FAKE_PINENTRY"
  for tok in "$@"; do
    echo 123456 | tessera login "$tok" --pin-stdin >/dev/null || bail "cannot log in to $tok"
  done
}
