#!/usr/bin/env bash
# Speed benchmark of iotsec.tls rotation against a community.crypto baseline (issue 4).
#   benchmarks/run.sh [N] [options of benchmarks/rotation.py]     N simulated devices, default 100
#   benchmarks/run.sh smoke                                        N=5, one round: about a minute
# Works from a fresh clone: prepares the machine with scripts/bootstrap.sh, then builds and
# installs the collection from the working tree (same file selection as
# scripts/collection-install.sh) into the benchmark's own temporary directory, so a concurrent
# test run that reinstalls build/collections cannot change the code under measurement midway.
# Exits 0 when the measurements were made, whether or not the targets were met.
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '[benchmark] %s\n' "$*" >&2; }

args=()
if [ "$#" -gt 0 ]; then
    case "$1" in
        smoke) args=(-n 5 --repeat 1 --wait-quiet 10); shift ;;
        [0-9]*) args=(-n "$1"); shift ;;
    esac
fi

bash "$REPO/scripts/bootstrap.sh"
# shellcheck source=scripts/env.sh
. "$REPO/scripts/env.sh"

keep=0
for a in "$@"; do [ "$a" != --keep ] || keep=1; done
WORK="$(mktemp -d "${TMPDIR:-/tmp}/iotsec-bench.XXXXXX")"
# The work directory holds a throwaway CA and keys: removed unless --keep or a failure to look at.
rc=1
# shellcheck disable=SC2317  # called indirectly, by the EXIT trap
cleanup() {
    if [ "$keep" = 0 ] && [ "$rc" = 0 ]; then
        rm -rf --one-file-system -- "$WORK"
    else
        log "work directory kept: $WORK"
    fi
}
trap cleanup EXIT

# The collection under test: git-tracked files plus untracked, not ignored ones (what
# scripts/collection-install.sh copies), built and installed like a user would get it.
COPY="$WORK/src/ansible_collections/iotsec/tls"
mkdir -p -- "$COPY" "$WORK/dist" "$WORK/collections"
git -C "$REPO" ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do
        [ -e "$REPO/$f" ] || [ -L "$REPO/$f" ] || continue # tracked but deleted
        printf '%s\0' "$f"
    done \
    | rsync -a --from0 --files-from=- "$REPO/" "$COPY/"
export ANSIBLE_COLLECTIONS_PATH="$WORK/collections"
(cd "$COPY" && ansible-galaxy collection build --force --output-path "$WORK/dist" . >/dev/null)
artifact="$(find "$WORK/dist" -maxdepth 1 -name 'iotsec-tls-*.tar.gz' -print -quit)"
[ -n "$artifact" ] || { log "ansible-galaxy built no artifact"; exit 1; }
ansible-galaxy collection install --offline --no-deps --force -p "$WORK/collections" "$artifact" >/dev/null
dirty=""
[ -z "$(git -C "$REPO" status --porcelain --untracked-files=normal)" ] || dirty=" + uncommitted changes"
log "collection $(basename "$artifact") from $(git -C "$REPO" rev-parse --short HEAD)$dirty installed in $WORK/collections"

PLAYBOOKS="$WORK/collections/ansible_collections/iotsec/tls/playbooks"
rc=0
python "$REPO/benchmarks/rotation.py" --workdir "$WORK/run" --playbooks "$PLAYBOOKS" "${args[@]}" "$@" || rc=$?
exit "$rc"
