#!/usr/bin/env bash
# What Galaxy, Automation Hub and ansible-builder will say of the collection, checked before a
# release (stage `publish` of scripts/test.sh). Needs the collection copy that
# scripts/collection-install.sh makes (build/ansible_collections/iotsec/tls). Everything it
# writes is under build/publish/ and its own venv build/publish-venv:
#   1. build/publish-venv from requirements-publish.txt (+ requirements-publish.lock as
#      constraints), reinstalled only when those files or the Python change; its own venv because
#      galaxy-importer pins attrs<24, which .venv's lock does not allow;
#   2. `ansible-galaxy collection build` of the copy -> build/publish/dist/iotsec-tls-<version>.tar.gz;
#   3. every relative link in the Markdown the tarball ships resolves inside it
#      (tests/tools/tarball_links.py); COPYING is shipped and every Python file has the SPDX line;
#   4. galaxy-importer (Galaxy's own import) on the tarball, offline: ansible-lint on, ansible-test
#      off; fails on any ERROR or WARNING line it prints, and shows them;
#   5. `antsibull-docs lint-collection-docs --plugin-docs` on the installed tarball: no errors;
#   6. `ansible-builder introspect` of the installed tarball lists every line of requirements.txt
#      and bindep.txt, as the collection's;
#   7. `ansible-builder create` on the shipped docs/execution-environment.yml writes a build
#      context. No image is built: the test machines reach no container registry.
# Usage: scripts/publish-check.sh
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
. "$REPO/scripts/env.sh"

COPY="$REPO/build/ansible_collections/iotsec/tls"
PVENV="$REPO/build/publish-venv"
REQ="$REPO/requirements-publish.txt"
LOCK="$REPO/requirements-publish.lock"
STAMP="$PVENV/.iotsec-requirements.sha256"
OUT="$REPO/build/publish"
PYTHON="${PYTHON:-python3}"

log() { printf '[publish-check] %s\n' "$*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

if [ ! -d "$COPY" ]; then
    fail "${COPY#"$REPO"/} is missing: run scripts/collection-install.sh first"
fi

# --- 1. the publishing venv --------------------------------------------------------------------
want="$(cat "$REQ" "$LOCK" | sha256sum | cut -d' ' -f1) $PVENV $("$PYTHON" -V 2>&1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [ -d "$PVENV" ] && { ! "$PVENV/bin/python" -c 'import sys' >/dev/null 2>&1 \
    || { [ -n "$have" ] && [ "${have#* }" != "${want#* }" ]; }; }; then
    log "recreating $PVENV (broken, moved or another Python)"
    rm -rf --one-file-system -- "$PVENV"
    have=""
fi
if [ "$have" != "$want" ]; then
    [ -x "$PVENV/bin/python" ] || { log "creating venv ${PVENV#"$REPO"/}"; "$PYTHON" -m venv "$PVENV"; }
    log "installing requirements-publish.txt into ${PVENV#"$REPO"/}"
    rm -f -- "$STAMP"
    "$PVENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ" -c "$LOCK"
    "$PVENV/bin/python" -m pip check
    printf '%s\n' "$want" >"$STAMP"
else
    log "venv ${PVENV#"$REPO"/} up to date"
fi
# Its tools first: galaxy-importer runs ansible-doc and ansible-lint from PATH.
export PATH="$PVENV/bin:$PATH"

rm -rf --one-file-system -- "$OUT"
mkdir -p -- "$OUT/dist" "$OUT/collections" "$OUT/importer"

# --- 2. build ----------------------------------------------------------------------------------
(cd "$COPY" && ansible-galaxy collection build --force --output-path "$OUT/dist" . >/dev/null)
artifact="$(find "$OUT/dist" -maxdepth 1 -name 'iotsec-tls-*.tar.gz' -print -quit)"
[ -n "$artifact" ] || fail "ansible-galaxy built no artifact"
log "built ${artifact#"$REPO"/}"
ANSIBLE_COLLECTIONS_PATH="$OUT/collections" \
    ansible-galaxy collection install --offline --no-deps --force -p "$OUT/collections" "$artifact" >/dev/null
INSTALLED="$OUT/collections/ansible_collections/iotsec/tls"

# --- 3. links in the shipped Markdown ------------------------------------------------------------
log "relative links in the tarball's Markdown"
python "$REPO/tests/tools/tarball_links.py" "$artifact" || fail "links to files the tarball does not ship"

# The license: COPYING shipped, and every shipped Python file says which license it is under.
members="$(tar tzf "$artifact")"
grep -qx COPYING <<<"$members" || fail "the tarball has no COPYING"
mkdir -p -- "$OUT/unpacked"
tar xzf "$artifact" -C "$OUT/unpacked"
# grep -L exits 1 when every file has the line
unlabelled="$(find "$OUT/unpacked" -name '*.py' -type f -print0 \
    | xargs -0r grep -L '^# SPDX-License-Identifier: GPL-3.0-or-later$' || true)"
unlabelled="${unlabelled//"$OUT/unpacked/"/}"
[ -z "$unlabelled" ] || fail "Python files without '# SPDX-License-Identifier: GPL-3.0-or-later':
$unlabelled"

# --- 4. galaxy-importer ------------------------------------------------------------------------
cat >"$OUT/galaxy-importer.cfg" <<'EOF'
[galaxy-importer]
# Offline: no ansible-test (it would pull a container image), ansible-lint without Galaxy.
RUN_ANSIBLE_TEST = False
RUN_ANSIBLE_LINT = True
OFFLINE_ANSIBLE_LINT = True
RUN_ANSIBLE_DOC = True
CHECK_CHANGELOG = True
# Automation Hub's checks: one of its tags (we have `security`); version 1.0.0 or later is
# left off while the collection is 0.x (see README, Publishing).
CHECK_REQUIRED_TAGS = True
REQUIRE_V1_OR_GREATER = False
LOG_LEVEL_MAIN = INFO
EOF
log "galaxy-importer $(python -c 'import importlib.metadata as m; print(m.version("galaxy-importer"))') on ${artifact#"$REPO"/}"
rc=0
# It writes importer_result.json into the current directory.
(cd "$OUT/importer" && env -u ANSIBLE_COLLECTIONS_PATH GALAXY_IMPORTER_CONFIG="$OUT/galaxy-importer.cfg" \
    python -m galaxy_importer.main "$artifact") >"$OUT/importer.log" 2>&1 || rc=$?
findings="$(grep -E '^(ERROR|WARNING|CRITICAL):' "$OUT/importer.log" || true)"
if [ "$rc" != 0 ] || [ -n "$findings" ] \
    || ! grep -qx 'Importer processing completed successfully' "$OUT/importer.log"; then
    if [ -n "$findings" ]; then
        log "galaxy-importer's errors and warnings (whole log: ${OUT#"$REPO"/}/importer.log):"
        printf '%s\n' "$findings"
    else
        cat "$OUT/importer.log"
    fi
    fail "galaxy-importer (exit $rc): $(printf '%s' "$findings" | grep -c . || true) error/warning line(s)"
fi
log "galaxy-importer: no error, no warning ($(grep -c '^Loading ' "$OUT/importer.log") items loaded)"

# --- 5. antsibull-docs ---------------------------------------------------------------------------
log "antsibull-docs lint-collection-docs --plugin-docs (installed tarball)"
rc=0
(cd "$INSTALLED" && ANSIBLE_COLLECTIONS_PATH="$OUT/collections" \
    antsibull-docs lint-collection-docs --plugin-docs .) >"$OUT/antsibull-docs.log" 2>&1 || rc=$?
if [ "$rc" != 0 ] || [ -s "$OUT/antsibull-docs.log" ]; then
    cat "$OUT/antsibull-docs.log"
    fail "antsibull-docs lint-collection-docs (exit $rc)"
fi

# --- 6. ansible-builder introspect -------------------------------------------------------------
log "ansible-builder introspect (installed tarball)"
ansible-builder introspect "$OUT/collections" >"$OUT/introspect.yml"
cat "$OUT/introspect.yml"
python - "$OUT/introspect.yml" "$REPO/requirements.txt" "$REPO/bindep.txt" <<'EOF'
"""Every requirement line of requirements.txt and bindep.txt is in introspect's output."""
import sys

import yaml

with open(sys.argv[1], encoding="utf-8") as f:
    found = yaml.safe_load(f) or {}
missing = []
for kind, path in (("python", sys.argv[2]), ("system", sys.argv[3])):
    listed = [entry.split("#")[0].strip() for entry in found.get(kind) or []
              if entry.endswith("# from collection iotsec.tls")]
    with open(path, encoding="utf-8") as f:
        wanted = [line.split("#")[0].strip() for line in f]
    wanted = [line for line in wanted if line]
    if not wanted:
        missing.append("%s lists no requirement" % path)
    missing.extend("%s: %s" % (kind, line) for line in wanted if line not in listed)
if missing:
    print("ansible-builder introspect does not list:\n  " + "\n  ".join(missing))
    sys.exit(1)
EOF

# --- 7. ansible-builder create ---------------------------------------------------------------------
log "ansible-builder create -f docs/execution-environment.yml (the shipped example; no image build)"
ansible-builder create -f "$INSTALLED/docs/execution-environment.yml" -c "$OUT/ee-context" >/dev/null
[ -s "$OUT/ee-context/Containerfile" ] || fail "ansible-builder create wrote no Containerfile"
grep -q 'iotsec.tls' "$OUT/ee-context/_build/requirements.yml" \
    || fail "the build context's requirements.yml does not install iotsec.tls"
log "build context in ${OUT#"$REPO"/}/ee-context"
log "passed"
