#!/usr/bin/env bash
# Demo: the whole product on this machine. The CA on the control node; a hardened Mosquitto broker
# (Debian 12) and two devices (Debian 12 and 13) in podman containers on the podman network
# demo-iotsec (fleet: inventories/demo). Then, shown as it happens: a device publishing over mutual
# TLS to its own topic and a subscriber receiving it; a client without a certificate and a device
# publishing into another device's topic refused; a forced rotation of every identity while the
# subscriber stays connected, and the rotation summary. State (CA, passphrases, logs) is in .demo/.
#     scripts/demo.sh [ANSIBLE-PLAYBOOK OPTIONS]   set up (a second run changes nothing) and show it
#     scripts/demo.sh down                         remove the demo's containers and network (.demo/ stays)
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

NETWORK=demo-iotsec
BROKER=demo-broker
CONTAINERS=("$BROKER:localhost/iotsec-tls-test:bookworm"
            "demo-device1:localhost/iotsec-tls-test:bookworm"
            "demo-device2:localhost/iotsec-tls-test:trixie")
IDENTITY=/etc/iotsec-tls/identity
# The subscriber in the broker container: options file (with the password), pid and output.
MONITOR_CONFIG=/etc/demo-monitor
MONITOR_PID=/run/demo-monitor.pid
MONITOR_OUT=/run/demo-monitor.out
BROKER_LOG=/var/log/mosquitto/mosquitto.log

log() { printf '[demo] %s\n' "$*" >&2; }
step() { printf '\n== %s\n' "$*"; }
fail() { printf '[demo] FAILED: %s\n' "$*" >&2; exit 1; }

down() {
    local c
    for c in "${CONTAINERS[@]}"; do
        podman rm -f "${c%%:*}" >/dev/null 2>&1 || true
    done
    podman network rm "$NETWORK" >/dev/null 2>&1 || true
    log "demo containers and network removed (.demo/ kept: the CA, its ledger, the passphrases)"
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

# --- state: the CA directory, a random CA passphrase and the subscriber's password (root only) ---
export IOTSEC_TLS_DEMO_DIR="$REPO/.demo"
LOGS="$IOTSEC_TLS_DEMO_DIR/logs"
mkdir -p "$IOTSEC_TLS_DEMO_DIR" "$LOGS"
chmod 0700 "$IOTSEC_TLS_DEMO_DIR"
for secret in ca-passphrase monitor-password; do
    if [ ! -s "$IOTSEC_TLS_DEMO_DIR/$secret" ]; then
        (umask 077 && openssl rand -hex 24 >"$IOTSEC_TLS_DEMO_DIR/$secret")
    fi
done
IOTSEC_TLS_CA_PASSPHRASE="$(cat "$IOTSEC_TLS_DEMO_DIR/ca-passphrase")"
export IOTSEC_TLS_CA_PASSPHRASE
MONITOR_PASSWORD="$(cat "$IOTSEC_TLS_DEMO_DIR/monitor-password")"
export MONITOR_PASSWORD

# --- containers: systemd as PID 1, reachable by name on the demo network (started once, reused) ---
podman network exists "$NETWORK" || podman network create "$NETWORK" >/dev/null
for c in "${CONTAINERS[@]}"; do
    name="${c%%:*}" image="${c#*:}"
    if [ "$(podman container inspect --format '{{.State.Running}}' "$name" 2>/dev/null)" != true ]; then
        podman rm -f "$name" >/dev/null 2>&1 || true
        podman run -d --name "$name" --hostname "$name" --network "$NETWORK" \
            --systemd=always "$image" /sbin/init >/dev/null
        log "started $name ($image)"
    fi
done
for c in "${CONTAINERS[@]}"; do
    podman exec "${c%%:*}" systemctl is-system-running --wait >/dev/null 2>&1 || true
done

on() { local host="$1"; shift; podman exec "$host" sh -c "$*"; }

# The subscriber's login on the broker's loopback listener (mosquitto_password_file and
# mosquitto_acl_extra in inventories/demo/group_vars/mqtt_brokers.yml): written once.
podman exec -e MONITOR_PASSWORD -e MONITOR_CONFIG="$MONITOR_CONFIG" "$BROKER" sh -c '
    set -e
    f=/etc/mosquitto/demo-monitor.passwd
    if [ ! -s "$f" ]; then
        mosquitto_passwd -c -b "$f" monitor "$MONITOR_PASSWORD"
        chown mosquitto:mosquitto "$f" && chmod 0600 "$f"
    fi
    if [ ! -s "$MONITOR_CONFIG/mosquitto_sub" ]; then
        mkdir -p -m 0700 "$MONITOR_CONFIG"
        (umask 077 && printf -- "-h 127.0.0.1\n-p 1883\n-u monitor\n-P %s\n" "$MONITOR_PASSWORD" \
            >"$MONITOR_CONFIG/mosquitto_sub")
    fi'

# Run a playbook of the installed collection; its whole output goes to .demo/logs/NAME.log.
playbook() {
    local name="$1"; shift
    printf '  running iotsec.tls.%s (its output: %s)\n' "$name" "${LOGS#"$REPO"/}/$name.log"
    if ! ansible-playbook -i inventories/demo "iotsec.tls.$name" "$@" >"$LOGS/$name.log" 2>&1; then
        tail -n 40 "$LOGS/$name.log" >&2
        fail "iotsec.tls.$name failed; its output is in ${LOGS#"$REPO"/}/$name.log"
    fi
}
recap() { sed -n '/^PLAY RECAP/,$p' "$LOGS/$1.log" | sed '/^$/d; s/^/    /'; }
changes() { sed -n '/^PLAY RECAP/,$s/.* changed=\([0-9]*\) .*/\1/p' "$LOGS/$1.log" | awk '{ n += $1 } END { print n + 0 }'; }

# One line per host: its system, its OpenSSL, and the identity it holds (subject, serial, expiry).
identities() {
    local c host info
    for c in "${CONTAINERS[@]}"; do
        host="${c%%:*}"
        mapfile -t info < <(on "$host" ". /etc/os-release && echo \"\$PRETTY_NAME\" && openssl version \
            && openssl x509 -in $IDENTITY/cert.pem -noout -subject -serial -enddate -nameopt RFC2253 \
                -dateopt iso_8601")
        printf '    %-13s %-31s %-14s serial %.12s… until %s  %s\n' "$host" "${info[0]}" \
            "$(cut -d' ' -f1-2 <<<"${info[1]}")" "${info[3]#serial=}" "${info[4]#notAfter=}" "${info[2]#subject=}"
    done
}

# Show a command run on a host, its output and exit status (left in $out and $rc). Output lines
# matching $SKIP (an extended regular expression, no '/') are left out of what is shown.
show() {
    local host="$1"; shift
    printf '  %s$ %s\n' "$host" "$*"
    rc=0
    out="$(on "$host" "$*" 2>&1)" || rc=$?
    [ -z "$out" ] || printf '%s\n' "$out" | sed -E "${SKIP:+/$SKIP/d;}s/^/      /"
    printf '      (exit status %s)\n' "$rc"
}

# The subscriber: started in the broker container, stopped at the end of the run (by its pid).
monitor_stop() {
    on "$BROKER" "if [ -s $MONITOR_PID ]; then kill \"\$(cat $MONITOR_PID)\" 2>/dev/null || true; fi
        rm -f $MONITOR_PID"
}
monitor_start() {
    monitor_stop
    # where the broker's log stood when the subscriber connected: its connections are counted after it
    MONITOR_LOG_FROM="$(on "$BROKER" "wc -l <$BROKER_LOG")"
    podman exec -d "$BROKER" >/dev/null sh -c "echo \$\$ >$MONITOR_PID
        exec env XDG_CONFIG_HOME=$MONITOR_CONFIG stdbuf -oL mosquitto_sub -t 'devices/#' -F '%t %p' >$MONITOR_OUT 2>&1"
    local _
    for _ in $(seq 50); do
        [ "$(monitor_connections)" -ge 1 ] && return 0
        sleep 0.1
    done
    fail "the subscriber did not connect; see $BROKER:$MONITOR_OUT and $BROKER_LOG"
}
monitor_connections() {
    on "$BROKER" "tail -n +$((MONITOR_LOG_FROM + 1)) $BROKER_LOG | grep -c 'New client connected from 127.0.0.1:.* as monitor' || true"
}
# Wait up to 5 s for the subscriber to print "TOPIC PAYLOAD"; show what it received.
expect_received() {
    local line="$1" _
    for _ in $(seq 50); do
        if on "$BROKER" "grep -qxF '$line' $MONITOR_OUT"; then
            printf '  subscriber received: %s\n' "$line"
            return 0
        fi
        sleep 0.1
    done
    fail "the subscriber did not receive '$line'"
}
trap 'monitor_stop >/dev/null 2>&1 || true' EXIT

# --- 1. the fleet ---------------------------------------------------------------------------------
step "1. The fleet: CA on this machine, hardened broker, two devices (iotsec.tls.site)"
playbook site "$@"
recap site
if [ "$(changes site)" = 0 ]; then
    echo "  nothing changed: the fleet was already as the inventory says"
else
    echo "  $(changes site) changes (a second run makes none)"
fi
echo "  identities (keys born on each host; only CSRs and certificates travelled):"
identities
on "$BROKER" "printf '  broker: %s; listening on ' \"\$(mosquitto -h | head -n1)\"
    ss -Hltn | awk '{print \$4}' | grep -E ':(8883|1883)\$' | sort | tr '\n' ' '; echo
    grep -E '^(require_certificate|use_identity_as_username|tls_version|ciphers_tls1.3)' /etc/mosquitto/conf.d/iotsec-tls.conf | sed 's/^/    /'
    grep -E '^(MinProtocol|Groups)' /etc/mosquitto/iotsec-tls-openssl.cnf | sed 's/^/    /'"

# --- 2. mutual TLS ----------------------------------------------------------------------------------
step "2. Mutual TLS: devices publish to their own topics, a subscriber receives"
echo "  subscriber: user 'monitor' on the broker's loopback listener (127.0.0.1:1883, password), reads devices/#"
monitor_start
show demo-device1 mosquitto_pub -t devices/demo-device1/temperature -m 21.5
[ "$rc" = 0 ] || fail "demo-device1 could not publish to its own topic"
expect_received "devices/demo-device1/temperature 21.5"
echo "  (the device's options, written by iotsec.tls.device_tls: ~/.config/mosquitto_pub -> /etc/iotsec-tls/mqtt-options)"
show demo-device2 mosquitto_rr -t devices/demo-device2/echo -e devices/demo-device2/echo -m hello-from-debian-13 -W 5
[ "$rc" = 0 ] || fail "demo-device2 could not publish and read back on its own topic"
expect_received "devices/demo-device2/echo hello-from-debian-13"
echo "  the TLS that demo-device2 (Debian 13) and the broker agree on (a handshake, no MQTT):"
SKIP='^(Connecting to|CONNECTION ESTABLISHED|Requested Signature Algorithms|Hash used|DONE)' \
    show demo-device2 "openssl s_client -brief -connect $BROKER.dns.podman:8883 -CAfile /etc/iotsec-tls/fleet-ca.pem" \
    "-cert $IDENTITY/fullchain.pem -key $IDENTITY/key.pem </dev/null"
[ "$rc" = 0 ] || fail "demo-device2's TLS handshake with the broker failed"

# --- 3. refusals ------------------------------------------------------------------------------------
step "3. Refused: a client without a certificate, a device in another device's topic"
echo "  a client without a certificate (on demo-device2, without the device's options):"
log_from="$(on "$BROKER" "wc -l <$BROKER_LOG")"
show demo-device2 env HOME=/nonexistent XDG_CONFIG_HOME=/nonexistent mosquitto_pub \
    -h $BROKER.dns.podman -p 8883 --cafile /etc/iotsec-tls/fleet-ca.pem -t devices/demo-device2/x -m no-cert
[ "$rc" != 0 ] || fail "the broker accepted a client without a certificate"
echo "  the broker's log about it:"
on "$BROKER" "tail -n +$((log_from + 1)) $BROKER_LOG | grep -vE 'New connection from|as monitor' | sed 's/^/      /'"
echo "  demo-device1 publishing into demo-device2's topic (MQTT 5, QoS 1: the broker answers)"
show demo-device1 mosquitto_pub -V mqttv5 -q 1 -t devices/demo-device2/temperature -m 99.9
# mosquitto_pub exits 0 after a refused publish: the refusal is the broker's reason code it prints
grep -q 'Not authorized' <<<"$out" || fail "the broker did not refuse demo-device1 in demo-device2's topic"
sleep 1
if on "$BROKER" "grep -q '99.9' $MONITOR_OUT"; then
    fail "the subscriber received demo-device1's message in demo-device2's topic"
fi
echo "  subscriber received: nothing on devices/demo-device2/temperature"

# --- 4. forced rotation -----------------------------------------------------------------------------
step "4. Forced rotation of every identity, the subscriber connected (iotsec.tls.rotate)"
broker_pid="$(on "$BROKER" "systemctl show -p MainPID --value mosquitto")"
echo "  before:"
identities
playbook rotate -e device_identity_force=true "$@"
echo "  the rotation summary (the last task of iotsec.tls.rotate):"
sed -n '/TASK \[.*Show every identity, rotated/,/^PLAY RECAP/p' "$LOGS/rotate.log" \
    | sed '/^PLAY RECAP/d; /^$/d; s/^/    /'
recap rotate
echo "  after:"
identities
[ "$(on "$BROKER" "systemctl show -p MainPID --value mosquitto")" = "$broker_pid" ] \
    || fail "mosquitto was restarted by the rotation (it should reload)"
echo "  mosquitto reloaded, not restarted (main pid $broker_pid before and after)"
show demo-device1 mosquitto_pub -t devices/demo-device1/temperature -m 21.7
[ "$rc" = 0 ] || fail "demo-device1 could not publish with its new certificate"
expect_received "devices/demo-device1/temperature 21.7"
connections="$(monitor_connections)"
[ "$connections" = 1 ] || fail "the subscriber connected $connections times (it lost its connection)"
echo "  the subscriber connected once and stayed connected through the rotation"
echo "  the ledger (${IOTSEC_TLS_DEMO_DIR#"$REPO"/}/ca/ledger.sqlite3): every certificate issued, by status"
sqlite3 -readonly "$IOTSEC_TLS_DEMO_DIR/ca/ledger.sqlite3" \
    "SELECT count(*) || ' ' || status || coalesce(' (' || revocation_reason || ')', '') FROM certificates
     GROUP BY status, revocation_reason ORDER BY status DESC;
     SELECT 'CRL number ' || number || ', next update ' || next_update FROM crl" | sed 's/^/    /'
monitor_stop

step "Done"
log "CA and ledger in ${IOTSEC_TLS_DEMO_DIR#"$REPO"/}/ca, playbook output in ${LOGS#"$REPO"/}/"
log "run again: the fleet is not changed (site.yml changed=0), the story is shown again"
log "remove the containers with: scripts/demo.sh down"
