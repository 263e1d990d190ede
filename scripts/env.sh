# shellcheck shell=bash
# Test environment for iotsec.tls. Source it, don't run it:
#     . scripts/env.sh
# Sets PATH to the repo's venv, points podman at the project's containers.conf and Ansible at
# the collection built by scripts/collection-install.sh. Safe to source more than once and
# from shells running with `set -u`.

IOTSEC_REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
export IOTSEC_REPO

export VIRTUAL_ENV="$IOTSEC_REPO/.venv"
case ":${PATH:-}:" in
    *":$VIRTUAL_ENV/bin:"*) ;;
    *) export PATH="$VIRTUAL_ENV/bin${PATH:+:$PATH}" ;;
esac

# Podman: runc and no default ulimits (see the comments in that file).
export CONTAINERS_CONF="$IOTSEC_REPO/tests/podman/containers.conf"

# Ansible finds the collection under test here (scripts/collection-install.sh puts it there);
# collections bundled in the venv's `ansible` package (containers.podman, ...) are still found
# through the Python path.
export ANSIBLE_COLLECTIONS_PATH="$IOTSEC_REPO/build/collections"

# Ansible insists on a UTF-8 locale; CI machines often have none configured.
case "${LC_ALL:-${LC_CTYPE:-${LANG:-}}}" in
    *UTF-8*|*utf8*|*UTF8*|*utf-8*) ;;
    *) export LC_ALL=C.UTF-8 ;;
esac

# Images built by scripts/build-images.sh.
export IOTSEC_IMAGE_BOOKWORM="localhost/iotsec-tls-test:bookworm"
export IOTSEC_IMAGE_TRIXIE="localhost/iotsec-tls-test:trixie"
