#!/usr/bin/env bash
# Build the podman test images that stand in for devices and brokers:
#     localhost/iotsec-tls-test:bookworm   (Debian 12: python3-cryptography 38, mosquitto 2.0.11)
#     localhost/iotsec-tls-test:trixie     (Debian 13: python3-cryptography 43, mosquitto 2.0.21)
# No registry is reachable, so each image is a debootstrap'ed minbase root filesystem imported
# with `podman import`. An image is rebuilt only when it is missing or its key changed; the key
# is a hash of this script (which holds the package list and every build step) and the suite,
# stored in the image label `iotsec.tls.image-key`.
#
# Usage: scripts/build-images.sh [--force] [--verify|--no-verify] [SUITE...]
#   SUITE defaults to "bookworm trixie". Images built by this run are smoke-tested (systemd as
#   PID 1 reaches "running", python3-cryptography imports, mosquitto starts) unless --no-verify;
#   --verify smoke-tests all the requested images, built now or not.
# Env:   DEBIAN_MIRROR (default http://deb.debian.org/debian)
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
. "$REPO/scripts/env.sh"

# --- image key begin: everything between these markers goes into the image key ----------------
IMAGE_NAME="localhost/iotsec-tls-test"
KEY_LABEL="iotsec.tls.image-key"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# Everything a test host needs: the collection's modules run with the target's own python3 and
# python3-cryptography; mosquitto is both the broker and the device-side client.
PACKAGES=(
    python3 python3-cryptography python3-apt
    # debootstrap does not resolve virtual packages: python3-cryptography depends on
    # python3-cffi-backend-api-{min,max}, which python3-cffi-backend provides.
    python3-cffi-backend
    systemd systemd-sysv dbus
    ca-certificates openssl
    mosquitto mosquitto-clients
    procps iproute2 sudo
)
# Units that make no sense in a container or that fail there.
MASK_UNITS=(
    systemd-remount-fs.service
    systemd-firstboot.service
    systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket
    systemd-udev-trigger.service systemd-udev-settle.service
    getty.target console-getty.service getty@tty1.service
    apt-daily.timer apt-daily-upgrade.timer
    e2scrub_all.timer e2scrub_reap.service fstrim.timer
    sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount
    sys-fs-fuse-connections.mount
)

FORCE=0
VERIFY=1
SUITES=()
for arg in "$@"; do
    case "$arg" in
        --force) FORCE=1 ;;
        --verify) VERIFY=2 ;;
        --no-verify) VERIFY=0 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        -*) echo "unknown option: $arg" >&2; exit 2 ;;
        *) SUITES+=("$arg") ;;
    esac
done
[ "${#SUITES[@]}" -gt 0 ] || SUITES=(bookworm trixie)

log() { printf '[build-images] %s\n' "$*" >&2; }

# The key covers the package list and the build steps (the marked part of this script), and
# the suite; editing logging or the smoke test does not force a rebuild.
image_key() {
    {
        sed -n '/^# --- image key begin/,/^# --- image key end/p' "$REPO/scripts/build-images.sh"
        echo "$1"
    } | sha256sum | cut -c1-16
}

current_key() {
    podman image inspect --format "{{ index .Config.Labels \"$KEY_LABEL\" }}" "$1" 2>/dev/null || true
}

# Unmount anything left mounted below $1 (debootstrap mounts proc/sys; if it dies they may stay).
umount_below() {
    local dir="$1" m
    [ -d "$dir" ] || return 0
    findmnt -rn -o TARGET | awk -v d="$dir/" 'index($0, d) == 1' | sort -r | while read -r m; do
        umount -l "$m" || true
    done
}

remove_rootfs() {
    local dir="$1"
    [ -n "$dir" ] && [ -d "$dir" ] || return 0
    umount_below "$dir"
    rm -rf --one-file-system -- "$dir"
}

build_one() {
    local suite="$1" key="$2" image="$IMAGE_NAME:$1" workdir rootfs old_id unit
    workdir="$(mktemp -d "$REPO/build/images/$suite.XXXXXX")"
    rootfs="$workdir/rootfs"
    # shellcheck disable=SC2064  # expand now: the trap must remove this build's directory
    trap "remove_rootfs '$workdir'" EXIT

    log "$suite: debootstrap (minbase) from $MIRROR"
    local include
    include="$(IFS=,; echo "${PACKAGES[*]}")"
    debootstrap --variant=minbase --include="$include" "$suite" "$rootfs" "$MIRROR"

    log "$suite: container adjustments"
    # The machine id is generated at first boot of each container (systemd does this when the
    # file is empty), so two containers of one image never share it.
    : >"$rootfs/etc/machine-id"
    rm -f "$rootfs/var/lib/dbus/machine-id"
    # Podman provides these per container.
    : >"$rootfs/etc/hostname"
    rm -f "$rootfs/etc/resolv.conf"
    for unit in "${MASK_UNITS[@]}"; do
        ln -sfn /dev/null "$rootfs/etc/systemd/system/$unit"
    done
    # The broker is started by the roles that configure it, not by every device at boot.
    chroot "$rootfs" systemctl disable mosquitto.service >/dev/null 2>&1 || true
    # Journal in memory only: containers are short-lived.
    mkdir -p "$rootfs/etc/systemd/journald.conf.d"
    printf '[Journal]\nStorage=volatile\n' >"$rootfs/etc/systemd/journald.conf.d/10-container.conf"
    # Slim down: downloaded .debs and package lists (containers have no mirror access anyway).
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/var/log/*.log "$rootfs"/tmp/* "$rootfs"/var/tmp/*
    umount_below "$rootfs"

    old_id="$(podman image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
    log "$suite: podman import -> $image (key $key)"
    tar --numeric-owner --xattrs -C "$rootfs" -c . | podman import \
        --change 'CMD ["/sbin/init"]' \
        --change 'STOPSIGNAL SIGRTMIN+3' \
        --change 'ENV container=podman' \
        --change "LABEL $KEY_LABEL=$key" \
        --change "LABEL org.opencontainers.image.description=iotsec.tls test host ($suite)" \
        - "$image" >/dev/null
    if [ -n "$old_id" ]; then
        podman rmi "$old_id" >/dev/null 2>&1 || true
    fi
    remove_rootfs "$workdir"
    trap - EXIT
}

# --- image key end -----------------------------------------------------------------------------

# Smoke test: systemd is PID 1 and reaches "running", the target's cryptography imports, and
# mosquitto starts. Returns non-zero on the first failed check; always removes its container.
verify_one() {
    local suite="$1" image="$IMAGE_NAME:$1" name="iotsec-tls-imgcheck-$1-$$" state pid1 crypto
    local ok=1
    podman rm -f "$name" >/dev/null 2>&1 || true
    if ! podman run -d --systemd=always --name "$name" "$image" /sbin/init >/dev/null; then
        log "$suite: container did not start"
        podman rm -f "$name" >/dev/null 2>&1 || true
        return 1
    fi
    # An exec that comes before systemd listens on its bus prints nothing: ask again.
    local try
    for try in 1 2 3; do
        state="$(timeout 120 podman exec "$name" systemctl is-system-running --wait 2>/dev/null || true)"
        [ -z "$state" ] || break
        log "$suite: no answer from systemctl (try $try of 3)"
        sleep 2
    done
    pid1="$(podman exec "$name" cat /proc/1/comm 2>/dev/null || true)"
    crypto="$(podman exec "$name" python3 -c \
        'import cryptography; print(cryptography.__version__)' 2>/dev/null || true)"
    log "$suite: system '$state', PID 1 '$pid1', python3-cryptography '${crypto:-missing}'"
    if [ "$state" != "running" ]; then
        log "$suite: systemd did not reach 'running'; failed units:"
        podman exec "$name" systemctl --failed --no-legend >&2 || true
        ok=0
    fi
    [ "$pid1" = "systemd" ] || { log "$suite: PID 1 is not systemd"; ok=0; }
    [ -n "$crypto" ] || { log "$suite: python3 cannot import cryptography"; ok=0; }
    if podman exec "$name" systemctl start mosquitto.service \
        && podman exec "$name" systemctl is-active --quiet mosquitto.service; then
        log "$suite: mosquitto starts"
    else
        log "$suite: mosquitto did not start"
        ok=0
    fi
    podman rm -f "$name" >/dev/null 2>&1 || true
    [ "$ok" = 1 ]
}

mkdir -p "$REPO/build/images"
declare -A PIDS=()
for suite in "${SUITES[@]}"; do
    key="$(image_key "$suite")"
    have="$(current_key "$IMAGE_NAME:$suite")"
    if [ "$FORCE" = 0 ] && [ "$have" = "$key" ]; then
        log "$suite: $IMAGE_NAME:$suite is up to date (key $key)"
        continue
    fi
    log "$suite: building (have '${have:-none}', want '$key'); log: build/images/$suite.log"
    ( build_one "$suite" "$key" ) >"$REPO/build/images/$suite.log" 2>&1 &
    PIDS[$suite]=$!
done

rc=0
for suite in "${!PIDS[@]}"; do
    if wait "${PIDS[$suite]}"; then
        log "$suite: built"
    else
        log "$suite: BUILD FAILED; last lines of build/images/$suite.log:"
        tail -n 30 "$REPO/build/images/$suite.log" >&2 || true
        rc=1
    fi
done
[ "$rc" = 0 ] || exit "$rc"

if [ "$VERIFY" = 2 ]; then
    VERIFY_SUITES=("${SUITES[@]}")
elif [ "$VERIFY" = 1 ]; then
    VERIFY_SUITES=("${!PIDS[@]}")
else
    VERIFY_SUITES=()
fi
for suite in "${VERIFY_SUITES[@]}"; do
    verify_one "$suite" || rc=1
done
exit "$rc"
