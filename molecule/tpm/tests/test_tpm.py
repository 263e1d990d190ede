"""TPM keys on a real (software) TPM: the device's key is made in its swtpm and never exists
outside it, its certificate is issued and on the ledger, mosquitto_pub publishes over mutual TLS
with it to a broker whose own key is in its TPM, the blob is useless with another TPM, no PEM
private key exists on either host, rotate.yml gives both a new TPM key (the broker reloads with
it), and the tpm role refuses a host without a TPM. Runs once per scenario run (no `host`
fixture); test order matters."""

import os
import re
import sqlite3
import time

import scenario_tools
import testinfra

EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
SCENARIO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CA_DIR = os.path.join(EPHEMERAL, "ca")
INVENTORY = os.path.join(EPHEMERAL, "inventory")
DEVICE = "tpm-device1"
BROKER = "tpm-broker"
NO_TPM = "tpm-notpm"
IDENTITY = "/etc/iotsec-tls/identity"
PROVIDERS = "-provider tpm2 -provider default -propquery '?provider=tpm2,tpm2.digest!=yes'"
# the environment the tpm role writes for programs that use the key
TPM_ENV = "set -a; . /etc/iotsec-tls/tpm.env; set +a; "


def _host(name):
    return testinfra.get_host("podman://" + name)


def _device_run(command, expect=(0,), on=DEVICE):
    result = _host(on).run("bash -c %s" % _quote(command))
    if expect is not None:
        assert result.rc in expect, "%s\nrc=%s\n%s\n%s" % (command, result.rc, result.stdout, result.stderr)
    return result


def _quote(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _playbook(playbook, *extra, expect_rc=0):
    return scenario_tools.run_playbook(INVENTORY, playbook, *extra, expect_rc=expect_rc)


def _ledger(host):
    db = sqlite3.connect(os.path.join(CA_DIR, "ledger.sqlite3"))
    return db.execute("SELECT serial, status, public_key_sha256 FROM certificates WHERE host = ? "
                      "ORDER BY issued_at", (host,)).fetchall()


def _cert_serial(on=DEVICE):
    out = _device_run("openssl x509 -in %s/cert.pem -noout -serial" % IDENTITY, on=on).stdout
    return out.strip().split("=", 1)[1].upper()


def _cert_pubkey(on=DEVICE):
    return _device_run("openssl x509 -in %s/cert.pem -noout -pubkey" % IDENTITY, on=on).stdout


def _tpm_pubkey(tcti_env=TPM_ENV, key="%s/key.pem" % IDENTITY, expect=(0,), on=DEVICE):
    return _device_run("%sopenssl pkey %s -in %s -pubout" % (tcti_env, PROVIDERS, key), expect, on=on)


def _served_pubkey():
    """The public key of the certificate the broker serves, as the device sees it."""
    out = _device_run("sleep 1 | " + TPM_ENV + "openssl s_client %s -connect %s:8883 -servername %s "
                      "-CAfile /etc/iotsec-tls/fleet-ca.pem -verify_return_error -cert %s/fullchain.pem "
                      "-key %s/key.pem 2>/dev/null | openssl x509 -noout -pubkey"
                      % (PROVIDERS, BROKER, BROKER, IDENTITY, IDENTITY)).stdout
    return out


def _publish_received(payload):
    """The device subscribes to its own topic and publishes there with its TPM key, on its one
    connection (the broker keeps one per identity): mosquitto_rr with the ready options."""
    env = "set -a; . /etc/iotsec-tls/mqtt.env; set +a; "
    result = _device_run("%s mosquitto_rr -t devices/%s/t -e devices/%s/t -m %s -W 8 -v"
                         % (env, DEVICE, DEVICE, payload), expect=None)
    return result.rc, result.stderr, result.stdout


def test_1_key_is_made_in_the_tpm():
    blob = _device_run("cat %s/key.pem" % IDENTITY).stdout
    assert blob.startswith("-----BEGIN TSS2 PRIVATE KEY-----\n")
    assert blob.rstrip().endswith("-----END TSS2 PRIVATE KEY-----")
    assert _device_run("stat -c %%a %s/current/key.pem" % IDENTITY).stdout.strip() == "600"
    # the TPM derives the public key from the blob, and it is the certificate's
    assert _tpm_pubkey().stdout == _cert_pubkey()
    # the blob cannot be read without the tpm2 provider: it is no ordinary key
    assert _device_run("openssl pkey -in %s/key.pem -noout" % IDENTITY, expect=None).rc != 0
    # the resource manager the tpm role chose (no /dev/tpmrm0 in a container): tpm2-abrmd on swtpm
    assert _device_run("systemctl is-active tpm2-abrmd iotsec-swtpm").stdout.split() == ["active", "active"]
    assert "TPM2OPENSSL_TCTI=tabrmd:bus_type=system" in _device_run("cat /etc/iotsec-tls/tpm.env").stdout


def test_2_certificate_issued_and_on_the_ledger():
    text = _device_run("openssl x509 -in %s/cert.pem -noout -text" % IDENTITY).stdout
    assert re.search(r"Subject: .*CN = %s$" % DEVICE, text, re.M)
    assert "TLS Web Client Authentication" in text and "prime256v1" in text
    rows = _ledger(DEVICE)
    assert rows[-1][:2] == (_cert_serial(), "valid")
    assert {status for _serial, status, _spki in rows[:-1]} <= {"superseded", "revoked"}
    _device_run("openssl verify -CAfile %s/chain.pem %s/cert.pem" % (IDENTITY, IDENTITY))


def test_3_publish_over_mutual_tls_with_the_tpm_key():
    rc, err, got = _publish_received("from-the-tpm")
    assert rc == 0, err
    assert "devices/%s/t from-the-tpm" % DEVICE in got
    # the device was pushed onto TLS 1.3 (modern), and says why
    options = _device_run("cat /etc/iotsec-tls/mosquitto-client.conf").stdout
    assert "--tls-version tlsv1.3" in options and "--ciphers" not in options
    assert "MinProtocol = TLSv1.3" in _device_run("cat /etc/iotsec-tls/openssl-policy.cnf").stdout


def test_4_tls12_cannot_sign_with_the_tpm_key_tls13_can():
    """Why TPM devices are modern-only: the broker accepts TLS 1.2 (intermediate), but the
    provider cannot sign a TLS 1.2 handshake with the TPM key. No system policy in the way."""
    base = ("TPM2OPENSSL_TCTI=tabrmd:bus_type=system OPENSSL_CONF=/dev/null openssl s_client %s "
            "-connect tpm-broker:8883 -servername tpm-broker -CAfile /etc/iotsec-tls/fleet-ca.pem "
            "-verify_return_error -cert %s/fullchain.pem -key %s/key.pem " % (PROVIDERS, IDENTITY, IDENTITY))
    tls13 = _device_run("sleep 2 | " + base + "-tls1_3", expect=None)
    assert tls13.rc == 0 and "New, TLSv1.3" in tls13.stdout, tls13.stderr
    tls12 = _device_run("sleep 2 | " + base + "-tls1_2", expect=None)
    assert tls12.rc != 0 and "Cipher is (NONE)" in tls12.stdout, tls12.stdout[-500:]


def test_5_the_blob_is_useless_with_another_tpm():
    """A second, fresh swtpm: it works (it makes and loads its own key), but refuses the
    device's blob, for reading the public key and for signing."""
    _device_run("rm -rf /tmp/tpm2nd && mkdir /tmp/tpm2nd && swtpm socket --tpm2 --tpmstate dir=/tmp/tpm2nd "
                "--server type=tcp,port=2331,bindaddr=127.0.0.1 --ctrl type=tcp,port=2332,bindaddr=127.0.0.1 "
                "--flags not-need-init,startup-clear --daemon --pid file=/tmp/tpm2nd/pid")
    other = "TPM2OPENSSL_TCTI=swtpm:host=127.0.0.1,port=2331 "
    try:
        time.sleep(0.5)
        # control: the other TPM answers and makes and uses keys of its own
        _device_run("%sopenssl genpkey %s -algorithm EC -pkeyopt group:P-256 -out /tmp/tpm2nd/own.pem" % (other, PROVIDERS))
        _tpm_pubkey(other, "/tmp/tpm2nd/own.pem")
        _device_run("echo data > /tmp/tpm2nd/data")
        # the device's blob: refused by the other TPM
        load = _tpm_pubkey(other, expect=None)
        assert load.rc != 0 and "Esys_Load" in load.stderr, load.stderr
        sign = _device_run("%sopenssl dgst -sha256 %s -sign %s/key.pem -out /tmp/tpm2nd/sig /tmp/tpm2nd/data"
                           % (other, PROVIDERS, IDENTITY), expect=None)
        assert sign.rc != 0 and "Esys_Load" in sign.stderr, sign.stderr
        # ... and signs with its own TPM; the signature verifies with the certificate's key
        _device_run("%sopenssl dgst -sha256 %s -sign %s/key.pem -out /tmp/tpm2nd/sig /tmp/tpm2nd/data"
                    % (TPM_ENV, PROVIDERS, IDENTITY))
        _device_run("openssl x509 -in %s/cert.pem -noout -pubkey > /tmp/tpm2nd/pub.pem && openssl dgst -sha256 "
                    "-verify /tmp/tpm2nd/pub.pem -signature /tmp/tpm2nd/sig /tmp/tpm2nd/data" % IDENTITY)
    finally:
        _device_run("kill $(cat /tmp/tpm2nd/pid); rm -rf /tmp/tpm2nd", expect=None)


# Walks the device's filesystem for PEM private keys (a header followed by base64), raw or
# inside escaped text such as logs; prints "path: header" for each, TSS2 blobs excepted.
# Executables and shared libraries (ELF) are skipped: libgnutls carries the fixed test vectors of
# its self-tests as PEM keys.
SCAN = r"""
import os, re
pem = re.compile(rb"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----(?:\r?\n|\\n)[A-Za-z0-9+/=]{16}")
for top in ("/",):
    for root, dirs, files in os.walk(top):
        if root == "/":
            dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev", "run")]
        for name in files:
            path = os.path.join(root, name)
            try:
                if not os.path.isfile(path) or os.path.islink(path) or os.path.getsize(path) > 20000000:
                    continue
                with open(path, "rb") as handle:
                    data = handle.read()
            except OSError:
                continue
            if data.startswith(b"\x7fELF"):
                continue
            for match in pem.finditer(data):
                if match.group(1) != b"TSS2 ":
                    print("%s: %s" % (path, match.group(0)[:40]))
"""


def _private_keys_on_device(on=DEVICE):
    """Every PEM private key anywhere on the host's filesystem, TSS2 blobs excepted."""
    _host(on).run_expect([0], "cat > /tmp/scan-keys.py << 'EOF'\n%s\nEOF" % SCAN)
    out = _device_run("python3 /tmp/scan-keys.py", on=on).stdout
    return out.splitlines()


def test_6_no_pem_private_key_anywhere_on_the_device_or_the_broker():
    # control: the scan finds a PEM private key where there is one
    _device_run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out /var/tmp/control-key.pem")
    try:
        assert [line for line in _private_keys_on_device() if line.startswith("/var/tmp/control-key.pem: ")]
    finally:
        _device_run("rm -f /var/tmp/control-key.pem")
    assert _private_keys_on_device() == []
    assert _private_keys_on_device(on=BROKER) == []
    # and the TSS2 blobs are only in the identity directory
    blobs = _device_run("grep -rIl -- '-----BEGIN TSS2 PRIVATE KEY-----' / --exclude-dir=proc --exclude-dir=sys "
                        "--exclude-dir=dev --exclude-dir=run 2>/dev/null", expect=(0, 1, 2)).stdout.split()
    assert blobs and all(path.startswith(IDENTITY + "/") for path in blobs), blobs


def test_6b_broker_serves_with_its_tpm_key_tls13_only():
    blob = _device_run("cat %s/key.pem" % IDENTITY, on=BROKER).stdout
    assert blob.startswith("-----BEGIN TSS2 PRIVATE KEY-----\n")
    assert _device_run("stat -c %%a:%%G %s/current/key.pem" % IDENTITY, on=BROKER).stdout.strip() == "640:mosquitto"
    assert _tpm_pubkey(on=BROKER).stdout == _cert_pubkey(on=BROKER) == _served_pubkey()
    assert "tss" in _host(BROKER).user("mosquitto").groups
    conf = _device_run("cat /etc/mosquitto/conf.d/iotsec-tls.conf /etc/mosquitto/iotsec-tls-openssl.cnf "
                       "/etc/systemd/system/mosquitto.service.d/iotsec-tls.conf", on=BROKER).stdout
    assert "tls_version tlsv1.3" in conf and "tpm2 = tpm2_sect" in conf
    assert "Environment=TPM2OPENSSL_TCTI=tabrmd:bus_type=system" in conf
    # TLS 1.2 is refused by the broker (modern), whatever the client
    tls12 = _device_run("sleep 1 | OPENSSL_CONF=/dev/null openssl s_client -connect %s:8883 -tls1_2" % BROKER,
                        expect=None)
    assert tls12.rc != 0 and "protocol version" in tls12.stderr, tls12.stderr


def test_7_rotate_makes_new_tpm_keys_and_certificates():
    serial, pubkey = _cert_serial(), _cert_pubkey()
    broker_serial, broker_pubkey = _cert_serial(on=BROKER), _cert_pubkey(on=BROKER)
    out = _playbook("iotsec.tls.rotate", "device_identity_force=true")
    assert re.search(r"rotated \(2\): (%s, %s|%s, %s)" % (BROKER, DEVICE, DEVICE, BROKER), out), out[-3000:]
    assert "failed (0)" in out
    # the broker reloaded with its new TPM key and served its new certificate to its own probe
    assert re.search(r"ok: \[%s\] => \(item=%s:8883\)" % (BROKER, BROKER), out), out[-3000:]
    new_broker_pubkey = _cert_pubkey(on=BROKER)
    assert _cert_serial(on=BROKER) != broker_serial and new_broker_pubkey != broker_pubkey
    assert _tpm_pubkey(on=BROKER).stdout == new_broker_pubkey == _served_pubkey()
    # the handshake proof went through openssl s_client with the TPM key
    assert re.search(r"ok: \[%s\] => \(item=tpm-broker:8883\)" % DEVICE, out), out[-3000:]
    new_serial, new_pubkey = _cert_serial(), _cert_pubkey()
    assert new_serial != serial and new_pubkey != pubkey
    assert _tpm_pubkey().stdout == new_pubkey  # a new key, made in the TPM
    assert _device_run("head -1 %s/key.pem" % IDENTITY).stdout.strip() == "-----BEGIN TSS2 PRIVATE KEY-----"
    # the previous pair is kept for rollback, and its key is the old TPM key
    assert _tpm_pubkey(key="%s/previous/key.pem" % IDENTITY).stdout == pubkey
    assert [row[0] for row in _ledger(DEVICE)][-2:] == [serial, new_serial]
    rc, err, got = _publish_received("after-rotation")
    assert rc == 0 and "after-rotation" in got, err
    assert _private_keys_on_device() == []
    assert _private_keys_on_device(on=BROKER) == []


def test_8_settings_a_tpm_cannot_keep_are_refused_before_any_change():
    before = _ledger(DEVICE)
    out = _playbook("iotsec.tls.provision", "device_identity_lifetime=100d",
                    "iotsec_tls_identity_hosts=%s" % DEVICE, expect_rc=2)
    assert "check: tpm_profile" in out or "'check': 'tpm_profile'" in out or '"check": "tpm_profile"' in out, out[-3000:]
    assert "90 days" in out
    assert _ledger(DEVICE) == before


def test_9_tpm_role_fails_clearly_on_a_host_without_a_tpm():
    out = _playbook(os.path.join(SCENARIO, "no-tpm.yml"), "no_tpm_host=%s" % NO_TPM, expect_rc=2)
    assert "%s: no TPM 2.0 found (check: tpm_present)" % NO_TPM in out
    assert "/dev/tpmrm0 does not exist" in out and "Nothing was changed" in out
    assert "Fix:" in out
    host = _host(NO_TPM)
    assert not host.package("tpm2-tools").is_installed
    assert not host.file("/etc/iotsec-tls/openssl-tpm2.cnf").exists


def test_10_check_mode_changes_nothing():
    """On a prepared device a check run of the tpm role reports no change; on a host it has not
    prepared (told that a TPM answers where the broker's MQTT port is) it reports the changes and
    makes none."""
    out = _playbook(os.path.join(SCENARIO, "no-tpm.yml"), "--check", "no_tpm_host=%s" % DEVICE)
    recap = [line for line in out.splitlines() if line.startswith(DEVICE)][-1]
    assert "changed=0" in recap and "failed=0" in recap, recap
    out = _playbook(os.path.join(SCENARIO, "no-tpm.yml"), "--check", "no_tpm_host=%s" % NO_TPM,
                    "tpm_abrmd_tcti=swtpm:host=%s,port=8883" % BROKER)
    recap = [line for line in out.splitlines() if line.startswith(NO_TPM)][-1]
    assert "failed=0" in recap and "changed=0" not in recap, recap
    host = _host(NO_TPM)
    assert not host.package("tpm2-tools").is_installed
    assert not host.file("/etc/iotsec-tls/openssl-tpm2.cnf").exists
    assert not host.file("/etc/systemd/system/tpm2-abrmd.service").exists


def test_11_no_key_material_or_passphrase_in_ansible_output():
    """Everything Ansible printed in this scenario (ANSIBLE_LOG_PATH): no private key, not even a
    TSS2 blob, and not the CA passphrase."""
    with open(os.path.join(EPHEMERAL, "ansible.log")) as handle:
        log = handle.read()
    assert "tpm-device1" in log  # the log is the scenario's
    assert "PRIVATE KEY" not in log
    assert os.environ["IOTSEC_TLS_TEST_CA_PASSPHRASE"] not in log
