#!/usr/bin/env bash
# Prepare this machine for the iotsec.tls tests. Idempotent; a few seconds when already done.
#   1. Debian packages: podman (runc, netavark), debootstrap, mosquitto clients, sqlite3, ...
#   2. the controller venv at .venv from requirements-test.txt (+ requirements-test.lock as
#      constraints), reinstalled only when those files (or the venv's location) change;
#   3. the offline stand-in for ansible-test's pip bootstrap script in ~/.ansible/test/cache.
# It exports nothing; `. scripts/env.sh` sets up a shell for the tools.
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
REQ="$REPO/requirements-test.txt"
LOCK="$REPO/requirements-test.lock"
STANDIN="$REPO/tests/tools/get_pip_standin.py"
STAMP="$VENV/.iotsec-requirements.sha256"
PYTHON="${PYTHON:-python3}"

APT_PACKAGES=(
    # containers: podman with runc (crun fails here), netavark + aardvark-dns for name
    # resolution; netavark needs iptables for every network ("netavark: No such file or
    # directory" otherwise)
    podman runc conmon catatonit netavark aardvark-dns iptables uidmap slirp4netns fuse-overlayfs
    # test images (scripts/build-images.sh)
    debootstrap debian-archive-keyring
    # tools the tests use on the controller
    mosquitto-clients sqlite3 openssl ca-certificates rsync git
    # the hostile-CSR unit tests run again under Debian 12's own cryptography 38
    python3-cryptography python3-pytest
    # ansible-test sanity's shellcheck test is skipped silently without it: same checks everywhere
    shellcheck
)

log() { printf '[bootstrap] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "need root to run: $*"
        return 1
    fi
}

# --- 1. Debian packages ----------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)"
    [ "${status:0:2}" = "ii" ] || missing+=("$pkg")
done
# python3 -m venv needs ensurepip (Debian's own python3 ships it in python3-venv).
if ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q
    as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
else
    log "Debian packages present"
fi

# --- 2. controller venv ----------------------------------------------------------------------
if ! "$PYTHON" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 14) else 1)'; then
    log "$PYTHON is $("$PYTHON" -V 2>&1); ansible-core 2.19 needs Python 3.11 to 3.13"
    exit 1
fi
want="$(cat "$REQ" "$LOCK" | sha256sum | cut -d' ' -f1) $VENV $("$PYTHON" -V 2>&1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
# A venv is not relocatable: if the repo moved, or the venv is broken, start over.
if [ -d "$VENV" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "removing broken venv $VENV"
    rm -rf -- "$VENV"
    have=""
fi
if [ -d "$VENV" ] && [ -n "$have" ] && [ "${have#* }" != "${want#* }" ]; then
    log "venv was made for '${have#* }', now '${want#* }': recreating"
    rm -rf -- "$VENV"
    have=""
fi
if [ "$have" != "$want" ]; then
    [ -x "$VENV/bin/python" ] || { log "creating venv $VENV"; "$PYTHON" -m venv "$VENV"; }
    log "installing requirements-test.txt into .venv (this takes a minute)"
    rm -f -- "$STAMP"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQ" -c "$LOCK"
    "$VENV/bin/python" -m pip check
    printf '%s\n' "$want" >"$STAMP"
else
    log "venv up to date"
fi

# --- 3. ansible-test offline pip bootstrap -----------------------------------------------------
# ansible-test fetches get-pip-<version>.py from a host we cannot reach, unless
# ~/.ansible/test/cache/get_pip_<version with _>.py exists. Read <version> from ansible-test.
pyreq="$("$VENV/bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py"
pip_version="$(sed -n "s/^ *pip='\([0-9][0-9.]*\)',\$/\1/p" "$pyreq" | head -n1)"
if [ -z "$pip_version" ]; then
    log "cannot find the pip version ansible-test bootstraps in $pyreq"
    exit 1
fi
cache="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if ! cmp -s "$STANDIN" "$cache"; then
    mkdir -p -- "$(dirname -- "$cache")"
    cp -- "$STANDIN" "$cache"
    log "installed ansible-test pip bootstrap stand-in: $cache"
else
    log "ansible-test pip bootstrap stand-in present ($cache)"
fi
