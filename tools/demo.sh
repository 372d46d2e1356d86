#!/usr/bin/env bash
# tools/demo.sh BUILDDIR - a short tour of the tiervault vault, with no
# Cloudflare account: a vault in a temporary directory unlocked by a key
# file, a put, an import of a sample .dev.vars, ls and history, a rotation
# and a rollback, a wrangler export, a child process run with secrets, and
# the audit log check.  Every command is printed before it runs.  The
# values are made up for the demo.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: tools/demo.sh BUILDDIR" >&2
    exit 2
fi
tv=$(cd "$1" && pwd)/cli/tiervault
if [ ! -x "$tv" ]; then
    echo "demo: no tiervault program in '$1' (build first)" >&2
    exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tiervault-demo.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
export TIERVAULT_VAULT="$tmp/vault"
export TIERVAULT_KEY_FILE="$tmp/vault.key"
unset TIERVAULT_PASSPHRASE TIERVAULT_PASSPHRASE_FILE \
    TIERVAULT_PASSPHRASE_COMMAND XDG_DATA_HOME

say() {
    printf '\n== %s\n' "$*"
}

tiervault() {
    "$tv" "$@"
}

# Prints a command (quoted as a shell would need it), then runs it.
show() {
    printf '$'
    printf ' %q' "$@"
    printf '\n'
    "$@"
}

# As show, with standard input from the file $1.
show_in() {
    local from=$1
    shift
    printf '$'
    printf ' %q' "$@"
    printf ' < %q\n' "$from"
    "$@" < "$from"
}

say "a new vault in $tmp, unlocked by a key file"
show tiervault init --key-file "$TIERVAULT_KEY_FILE" --no-passphrase

say "put: the value comes from standard input, never the command line"
printf 'tok_demo_internal_1\n' > "$tmp/value"
show_in "$tmp/value" tiervault put shared INTERNAL_TOKEN --tier core \
    --note "first token"
show tiervault put node1-auth-service JWT_SIGNING_KEY --tier core --generate 32

say "import a .dev.vars file (what 'wrangler dev' reads)"
cat > "$tmp/.dev.vars" <<'VARS'
# payments, local development
STRIPE_SECRET_KEY=sk_test_demo_123
STRIPE_WEBHOOK_SECRET="whsec_demo_456"
CREEM_API_KEY='creem_demo_789'
VARS
cat "$tmp/.dev.vars"
show tiervault import "$tmp/.dev.vars" --service node9-payment-service \
    --tier payment

say "ls: names, tiers, versions and fingerprints, never values"
show tiervault ls

say "rotate the token, look at its history, roll back to version 1"
printf 'tok_demo_internal_2\n' > "$tmp/value"
show_in "$tmp/value" tiervault put shared INTERNAL_TOKEN --tier core
show tiervault history shared INTERNAL_TOKEN
show tiervault rollback shared INTERNAL_TOKEN 1
show tiervault get shared INTERNAL_TOKEN

say "export for 'wrangler secret bulk'"
show tiervault export --service node9-payment-service --format wrangler

say "run a child with the payment secrets in its environment (exec, no shell;
    here the child is sh, to print one)"
show tiervault run --service node9-payment-service --tier payment -- \
    sh -c 'echo "the child sees STRIPE_SECRET_KEY=${STRIPE_SECRET_KEY}"'

say "the audit log, and its MAC chain checked"
show tiervault log
show tiervault log verify

say "done; the temporary vault is removed"
