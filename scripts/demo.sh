#!/usr/bin/env bash
# Demo: the CA on this machine, two devices in podman containers (Debian 12 and 13) on a podman
# network, the fleet in inventories/demo. State (CA, passphrase) is kept in .demo/.
#     scripts/demo.sh        prepare everything, start the devices, run ca.yml and provision.yml
#     scripts/demo.sh down   remove the demo's containers and network (.demo/ stays)
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

NETWORK=iotsec-demo
DEVICES=("iotsec-demo-device1:localhost/iotsec-tls-test:bookworm"
         "iotsec-demo-device2:localhost/iotsec-tls-test:trixie")

log() { printf '[demo] %s\n' "$*" >&2; }

down() {
    local d
    for d in "${DEVICES[@]}"; do
        podman rm -f "${d%%:*}" >/dev/null 2>&1 || true
    done
    podman network rm "$NETWORK" >/dev/null 2>&1 || true
    log "demo containers removed (.demo/ kept)"
}

if [ "${1:-}" = down ]; then
    # shellcheck source=scripts/env.sh
    . "$REPO/scripts/env.sh"
    down
    exit 0
fi

bash scripts/bootstrap.sh
# shellcheck source=scripts/env.sh
. "$REPO/scripts/env.sh"
bash scripts/collection-install.sh
bash scripts/build-images.sh

# Demo state: the CA directory and a random CA passphrase, readable by root only.
export IOTSEC_TLS_DEMO_DIR="$REPO/.demo"
mkdir -p "$IOTSEC_TLS_DEMO_DIR"
chmod 0700 "$IOTSEC_TLS_DEMO_DIR"
if [ ! -s "$IOTSEC_TLS_DEMO_DIR/ca-passphrase" ]; then
    (umask 077 && openssl rand -base64 32 >"$IOTSEC_TLS_DEMO_DIR/ca-passphrase")
fi
IOTSEC_TLS_CA_PASSPHRASE="$(cat "$IOTSEC_TLS_DEMO_DIR/ca-passphrase")"
export IOTSEC_TLS_CA_PASSPHRASE

# Devices: systemd as PID 1, reachable by name on the demo network (started once, reused).
podman network exists "$NETWORK" || podman network create "$NETWORK" >/dev/null
for d in "${DEVICES[@]}"; do
    name="${d%%:*}" image="${d#*:}"
    if [ "$(podman container inspect --format '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
        podman rm -f "$name" >/dev/null 2>&1 || true
        podman run -d --name "$name" --hostname "$name" --network "$NETWORK" \
            --systemd=always "$image" /sbin/init >/dev/null
        log "started $name ($image)"
    fi
done
for d in "${DEVICES[@]}"; do
    podman exec "${d%%:*}" systemctl is-system-running --wait >/dev/null || true
done

# The job itself: a CA on this machine, identities on the devices, then a summary of subjects,
# serials and expiry (the last lines of provision.yml's output).
ansible-playbook -i inventories/demo playbooks/ca.yml "$@"
ansible-playbook -i inventories/demo playbooks/provision.yml "$@"
log "CA and ledger in $IOTSEC_TLS_DEMO_DIR/ca; run again: nothing changes until renewal is due"
log "remove the devices with: scripts/demo.sh down"
