#!/usr/bin/env bash
# Make the collection under test available to the test tools, from the working tree's
# git-tracked files plus untracked files that are not ignored (deleted files are left out):
#   build/ansible_collections/iotsec/tls               plain copy: ansible-test runs here, and
#                                                      pytest imports ansible_collections.iotsec.tls
#                                                      with PYTHONPATH=build
#   build/dist/iotsec-tls-<version>.tar.gz             `ansible-galaxy collection build` of that copy
#   build/collections/ansible_collections/iotsec/tls   that artifact installed (ANSIBLE_COLLECTIONS_PATH)
# Offline: the artifact is installed with --offline --no-deps; collections it depends on come
# from the venv's `ansible` package.
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
. "$REPO/scripts/env.sh"

NAMESPACE=iotsec
NAME=tls
COPY="$REPO/build/ansible_collections/$NAMESPACE/$NAME"
DIST="$REPO/build/dist"
INSTALL="$REPO/build/collections"

log() { printf '[collection-install] %s\n' "$*" >&2; }

cd "$REPO"

if [ ! -f galaxy.yml ]; then
    # Placeholder only so that the tool chain can run before the real galaxy.yml exists.
    log "galaxy.yml is missing: writing a minimal PLACEHOLDER (replace it with the real one)"
    cat >galaxy.yml <<'EOF'
---
# PLACEHOLDER written by scripts/collection-install.sh because galaxy.yml was missing.
namespace: iotsec
name: tls
version: 0.0.1
readme: README.md
authors:
  - iotsec.tls maintainers
description: Machine identity and TLS for IoT fleets (placeholder metadata).
license:
  - GPL-3.0-or-later
build_ignore:
  - .ci
  - .venv
  - build
  - scripts
  - molecule
  - requirements-test.txt
  - requirements-test.lock
  - tests/output
EOF
fi

# 1. The copy, from git's view of the working tree.
list="$(mktemp)"
trap 'rm -f -- "$list"' EXIT
git -C "$REPO" ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do
        [ -e "$f" ] || [ -L "$f" ] || continue # tracked but deleted in the working tree
        printf '%s\0' "$f"
    done >"$list"
rm -rf --one-file-system -- "$COPY"
mkdir -p -- "$COPY"
rsync -a --from0 --files-from="$list" "$REPO/" "$COPY/"
# ansible-test lists a collection's files with git when it finds a .git directory at or above the
# collection root; above the copy it would find this repo, where build/ is ignored (no files at
# all). A git index of its own in the copy gives it exactly the copied files.
git -C "$COPY" init -q
git -C "$COPY" add -A
log "copied $(tr -cd '\0' <"$list" | wc -c) files to ${COPY#"$REPO"/}"

# galaxy.yml's readme must exist for a build; say so clearly rather than with a traceback.
readme="$(sed -n 's/^readme:[[:space:]]*["'\'']\{0,1\}\([^"'\'']*\)["'\'']\{0,1\}[[:space:]]*$/\1/p' galaxy.yml | head -n1)"
if [ -n "$readme" ] && [ ! -f "$COPY/$readme" ]; then
    log "galaxy.yml names readme '$readme', which does not exist (or is ignored by git): cannot build"
    exit 1
fi

# 2. Build and install the artifact.
rm -rf --one-file-system -- "$DIST"
mkdir -p -- "$DIST" "$INSTALL"
(cd "$COPY" && ansible-galaxy collection build --force --output-path "$DIST" . >/dev/null)
artifact="$(find "$DIST" -maxdepth 1 -name "$NAMESPACE-$NAME-*.tar.gz" -print -quit)"
[ -n "$artifact" ] || { log "ansible-galaxy built no artifact"; exit 1; }
rm -rf --one-file-system -- "$INSTALL/ansible_collections/$NAMESPACE/$NAME"
ansible-galaxy collection install --offline --no-deps --force -p "$INSTALL" "$artifact" >/dev/null
log "installed ${artifact#"$REPO"/} into ${INSTALL#"$REPO"/}"
