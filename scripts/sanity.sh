#!/usr/bin/env bash
# Static checks: `ansible-test sanity` on the collection copy made by
# scripts/collection-install.sh (build/ansible_collections/iotsec/tls), then ansible-lint
# (production profile, .ansible-lint) from the repo root. Both need the working tree installed
# as the collection (ansible-lint resolves iotsec.tls.* through build/collections), so this
# runs scripts/collection-install.sh first, unless --no-install says that has just been done
# (scripts/test.sh, after its collection stage).
# Offline: ansible-test creates a virtual environment per sanity test and bootstraps pip in it
# with the stand-in that scripts/bootstrap.sh puts in ~/.ansible/test/cache (the host it would
# download get-pip.py from is unreachable); the tests' own requirements come from PyPI.
# Usage: scripts/sanity.sh [--skip-ansible-test|--skip-lint] [--no-install] [extra ansible-test args...]
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
. "$REPO/scripts/env.sh"
COPY="$REPO/build/ansible_collections/iotsec/tls"

run_ansible_test=1
run_lint=1
install=1
extra=()
for arg in "$@"; do
    case "$arg" in
        --skip-ansible-test) run_ansible_test=0 ;;
        --skip-lint) run_lint=0 ;;
        --no-install) install=0 ;;
        *) extra+=("$arg") ;;
    esac
done

log() { printf '[sanity] %s\n' "$*" >&2; }
rc=0

if [ "$install" = 1 ]; then
    bash "$REPO/scripts/collection-install.sh"
fi

if [ "$run_ansible_test" = 1 ]; then
    if [ ! -d "$COPY" ]; then
        log "${COPY#"$REPO"/} is missing: run scripts/collection-install.sh first"
        exit 1
    fi
    if [ -f "$REPO/tests/sanity/ignore-2.19.txt" ] && [ -s "$REPO/tests/sanity/ignore-2.19.txt" ]; then
        log "tests/sanity/ignore-2.19.txt is not empty: sanity findings must be fixed, not ignored"
        rc=1
    fi
    log "ansible-test sanity --python 3.11 (in ${COPY#"$REPO"/})"
    # ansible-test sets up its own collection paths from the copy's location.
    if ! (cd "$COPY" && env -u ANSIBLE_COLLECTIONS_PATH \
        ansible-test sanity --python 3.11 --color no "${extra[@]}"); then
        rc=1
    fi
fi

if [ "$run_lint" = 1 ]; then
    log "ansible-lint (profile production)"
    if ! (cd "$REPO" && ansible-lint --config-file "$REPO/.ansible-lint"); then
        rc=1
    fi
fi

exit "$rc"
