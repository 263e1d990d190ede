# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Hostile CSRs, one class per test, refused with the same check on every cryptography version.

scripts/test.sh runs this file twice: with the venv's cryptography and with Debian 12's
python3-cryptography 38 (the system python3), which loads some of these keys without a word.
Each hostile request goes in a batch with a good one: the refusal is that request's alone.
"""

import base64
import os

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, x25519
from cryptography.x509.oid import NameOID

from ansible_collections.iotsec.tls.plugins.module_utils import ca as ca_mod
from ansible_collections.iotsec.tls.plugins.module_utils import issue as issue_mod
from ansible_collections.iotsec.tls.plugins.module_utils import keycheck
from ansible_collections.iotsec.tls.plugins.module_utils.crypto import spki_sha256
from ansible_collections.iotsec.tls.plugins.module_utils.issue import issue_batch
from ansible_collections.iotsec.tls.plugins.module_utils.ledger import Ledger
from ansible_collections.iotsec.tls.plugins.module_utils.policy import der_element, der_element_end

# RFC 3526 group 15: a 3072-bit prime, a "modulus" that is no product of two primes.
MODP_3072 = int(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A0879"
    "8E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B"
    "0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA4836"
    "1C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804"
    "F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6"
    "955817183995497CEA956AE515D2261898FA051015728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64"
    "ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7ABF5AE8CDB0933D71E8C94E04A25619DCEE3D226"
    "1AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200CBBE117577A615D6C770988C0BAD946E2"
    "08E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF", 16)

RSA_ALGORITHM = bytes.fromhex("300d06092a864886f70d0101010500")
ED25519_ALGORITHM = bytes.fromhex("300506032b6570")
P256_ALGORITHM = bytes.fromhex("301306072a8648ce3d020106082a8648ce3d030107")

# The eight small-order points of Ed25519 (and non-canonical encodings of some).
ED25519_SMALL_ORDER = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    # non-canonical: y = p, p + 1 (0 and 1 again), x = 0 with the sign bit
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0100000000000000000000000000000000000000000000000000000000000080",
]


# --- DER, just enough to build the CSRs a library will not build ---------------------------

def _tlv(tag, content):
    length = len(content)
    if length < 0x80:
        head = bytes([length])
    else:
        size = (length.bit_length() + 7) // 8
        head = bytes([0x80 | size]) + length.to_bytes(size, "big")
    return bytes([tag]) + head + content


def _integer(value):
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def _elements(der):
    """The elements inside the outer SEQUENCE of der."""
    start, _end = der_element(der, 0)
    out, position = [], start
    while position < len(der):
        end = der_element_end(der, position)
        out.append(der[position:end])
        position = end
    return out


def _csr_with_spki(spki, signature_key=None):
    """A CSR made by cryptography, with its SubjectPublicKeyInfo replaced by spki. Its signature
    (by signature_key, an Ed25519 key by default) does not cover the new key: the checks that
    must refuse these run before the signature check."""
    key = signature_key or ed25519.Ed25519PrivateKey.generate()
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
           .sign(key, None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()))
    tbs, algorithm, signature = _elements(csr.public_bytes(serialization.Encoding.DER))
    version, subject, _spki, attributes = _elements(tbs)
    tbs = _tlv(0x30, version + subject + spki + attributes)
    return _pem(_tlv(0x30, tbs + algorithm + signature))


def _pem(der, label="CERTIFICATE REQUEST"):
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)


def _rsa_spki(n, e):
    return _tlv(0x30, RSA_ALGORITHM + _tlv(0x03, b"\x00" + _tlv(0x30, _integer(n) + _integer(e))))


def _ed25519_spki(raw):
    return _tlv(0x30, ED25519_ALGORITHM + _tlv(0x03, b"\x00" + raw))


def _p256_spki(point):
    return _tlv(0x30, P256_ALGORITHM + _tlv(0x03, b"\x00" + point))


# --- helpers ---------------------------------------------------------------------------------

def _good(pki, host="good1"):
    return pki.request(host, pki.new_key())


def _refused(results, host, check):
    result = results[host]
    assert result["ok"] is False and result["issued"] is False, result
    assert "certificate" not in result
    assert result["error"]["check"] == check, result["error"]
    assert host in result["msg"] and result["error"]["hint"]
    message = result["error"]["message"]
    # words, not library internals
    for internal in ("ParseError", "InvalidValue", "location:", "http", "Traceback", "_Reasons",
                     "unsupported", "Could not deserialize"):
        assert internal not in message, message
    return result


def _good_issued(results, ledger):
    assert results["good1"]["ok"] and results["good1"]["issued"], results["good1"]
    assert ledger.hosts_for_key(results["good1"]["public_key_sha256"]) == ["good1"]


def _batch(ca, ledger, pki, csr, host="bad1", **extra):
    request = dict({"host": host, "csr": csr}, **extra)
    return issue_batch(ca, ledger, [request, _good(pki)])


# --- 1. degenerate keys ----------------------------------------------------------------------

@pytest.mark.parametrize("point", ED25519_SMALL_ORDER)
def test_ed25519_small_order_or_non_canonical_point(ca, ledger, pki, point):
    results = _batch(ca, ledger, pki, _csr_with_spki(_ed25519_spki(bytes.fromhex(point))))
    _refused(results, "bad1", "key_unsound")
    _good_issued(results, ledger)


def test_ed25519_small_order_signature_that_verifies(ca, ledger, pki):
    """The identity point with R = identity, S = 0: a signature over anything, no private key.
    Refused as an unsound key whether or not the library's verification accepts it."""
    csr_pem = _csr_with_spki(_ed25519_spki(bytes.fromhex(ED25519_SMALL_ORDER[1])))
    der = base64.b64decode("".join(csr_pem.strip().splitlines()[1:-1]))
    tbs, algorithm, _signature = _elements(der)
    # R = the identity point, S = 0
    forged = _pem(_tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + bytes.fromhex("01" + "00" * 63))))
    results = _batch(ca, ledger, pki, forged)
    result = _refused(results, "bad1", "key_unsound")
    assert "small order" in result["error"]["message"]


def test_ed25519_point_with_small_order_component(ca, ledger, pki):
    """A real key plus a point of order 8: not in the prime-order subgroup."""
    real = ed25519.Ed25519PrivateKey.generate().public_key()
    raw = real.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    point = keycheck._ed_add(keycheck._ed_decode(raw),
                             keycheck._ed_decode(bytes.fromhex(ED25519_SMALL_ORDER[2])))
    results = _batch(ca, ledger, pki, _csr_with_spki(_ed25519_spki(_ed_encode(point))))
    result = _refused(results, "bad1", "key_unsound")
    assert "prime-order subgroup" in result["error"]["message"]


def _ed_encode(point):
    p = keycheck._ED_P
    x, y, z, _t = point
    inverse = pow(z, p - 2, p)
    x, y = x * inverse % p, y * inverse % p
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def _session_rsa(rsa3072_key):
    numbers = rsa3072_key.private_numbers()
    return numbers.p, numbers.q, numbers.public_numbers.n


@pytest.mark.parametrize("exponent", [1, 3, 17, 65535, 65538, 2 ** 256 + 1])
def test_rsa_weak_or_even_public_exponent(ca, ledger, pki, rsa3072_key, exponent):
    _p, _q, n = _session_rsa(rsa3072_key)
    results = _batch(ca, ledger, pki, _csr_with_spki(_rsa_spki(n, exponent)))
    result = _refused(results, "bad1", "key_unsound")
    assert "exponent" in result["error"]["message"]
    _good_issued(results, ledger)


def _no_small_factor(value):
    import math
    return value % 2 and math.gcd(value, keycheck._small_primes()) == 1


def test_rsa_degenerate_moduli(ca, ledger, pki, rsa3072_key):
    p, q, n = _session_rsa(rsa3072_key)
    small_factor = 3 * (n // 3 | 1)
    while small_factor.bit_length() != 3072:
        small_factor += 6
    # (a - b)(a + b) with both factors free of small primes: Fermat's method finds b at once
    partner = p + 2
    while not _no_small_factor(partner) or not _no_small_factor(p * partner) \
            or (p * partner).bit_length() != 3072:
        partner += 2
    cases = {
        "prime": (MODP_3072, "is a prime"),
        "square": (p * p if (p * p).bit_length() == 3072 else q * q, "square"),
        "small-factor": (small_factor, "below 65536"),
        "fermat": (p * partner, "Fermat"),
        "short": (n >> 1 | 1, "rsa-3071"),
        "long": (n << 1 | 1, "rsa-3073"),
        "even": (n + 1, "below 65536"),
    }
    requests = [{"host": host, "csr": _csr_with_spki(_rsa_spki(modulus, 65537))}
                for host, (modulus, _words) in cases.items()]
    results = issue_batch(ca, ledger, requests + [_good(pki)])
    for host, (_modulus, words) in cases.items():
        result = _refused(results, host, "key_policy" if host in ("short", "long") else "key_unsound")
        assert words in result["error"]["message"], (host, result["error"])
    _good_issued(results, ledger)


def test_a_sound_rsa_key_passes_the_same_checks(rsa3072_key):
    keycheck.check_public_key(rsa3072_key.public_key(), {3072})


def test_ec_point_off_curve_or_identity(ca, ledger, pki):
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    off_curve = point[:-1] + bytes([point[-1] ^ 1])
    field = (2 ** 256 - 2 ** 224 + 2 ** 192 + 2 ** 96 - 1).to_bytes(32, "big")
    cases = {
        "off-curve": _p256_spki(off_curve),
        "identity": _p256_spki(b"\x00"),
        "x-is-p": _p256_spki(b"\x04" + field + point[33:]),
        "short-point": _p256_spki(point[:-1]),
        # a sound point in the hybrid form: its encoding, not the point, is refused
        "hybrid": _p256_spki(bytes([0x06 | (point[-1] & 1)]) + point[1:]),
    }
    requests = [{"host": host, "csr": _csr_with_spki(spki)} for host, spki in cases.items()]
    results = issue_batch(ca, ledger, requests + [_good(pki)])
    for host in cases:
        _refused(results, host, "key_encoding" if host == "hybrid" else "key_unsound")
    _good_issued(results, ledger)


def test_compressed_point_of_a_ledgered_key_is_not_a_new_key(ca, ledger, pki):
    """On cryptography 38 a compressed re-encoding once hashed differently and the key was issued
    to a second host. It is refused for its encoding, and compares equal to the uncompressed key."""
    key = pki.new_key()
    first = issue_batch(ca, ledger, [pki.request("dev1", key)])
    assert first["dev1"]["issued"]
    compressed = key.public_key().public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.CompressedPoint)
    reloaded = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), compressed)
    assert spki_sha256(reloaded) == spki_sha256(key.public_key())
    results = issue_batch(ca, ledger, [{"host": "dev2", "csr": _csr_with_spki(_p256_spki(compressed), key)},
                                       _good(pki)])
    _refused(results, "dev2", "key_encoding")
    assert ledger.hosts_for_key(spki_sha256(key.public_key())) == ["dev1"]


def test_rsa_key_without_null_parameters_is_not_canonical(ca, ledger, pki, rsa3072_key):
    numbers = rsa3072_key.public_key().public_numbers()
    algorithm = bytes.fromhex("300b06092a864886f70d010101")  # no NULL
    spki = _tlv(0x30, algorithm + _tlv(0x03, b"\x00" + _tlv(0x30, _integer(numbers.n) + _integer(numbers.e))))
    results = _batch(ca, ledger, pki, _csr_with_spki(spki, rsa3072_key))
    _refused(results, "bad1", "key_encoding")


def test_x25519_key_is_not_a_signing_key(ca, ledger, pki):
    raw = x25519.X25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    spki = _tlv(0x30, bytes.fromhex("300506032b656e") + _tlv(0x03, b"\x00" + raw))
    _refused(_batch(ca, ledger, pki, _csr_with_spki(spki)), "bad1", "key_policy")


# --- 2. the CA's own keys --------------------------------------------------------------------

def test_csr_with_a_fleet_ca_key_is_refused(ca, ca_dir, ledger, pki, passphrase):
    root_key = ca_mod.load_private_key(open(os.path.join(ca_dir, "root.key"), "rb").read(),
                                       passphrase, "root")
    results = issue_batch(ca, ledger, [
        {"host": "issuing", "csr": pki.csr_pem(ca.key)},  # signed with the CA key: it verifies
        {"host": "root", "csr": pki.csr_pem(root_key)},
        _good(pki),
    ])
    _refused(results, "issuing", "ca_public_key")
    _refused(results, "root", "ca_public_key")
    _good_issued(results, ledger)


# --- 3. exactly one CSR ---------------------------------------------------------------------

def test_anything_but_one_pem_csr_is_refused(ca, ledger, pki):
    one = pki.csr_pem(pki.new_key())
    der = base64.b64decode("".join(one.strip().splitlines()[1:-1]))
    cases = {
        "two": one + pki.csr_pem(pki.new_key()),
        "two-same": one + one,
        "trailing": one + "garbage\n",
        "leading": "hello\n" + one,
        "label-new": one.replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"),
        "label-cert": one.replace("CERTIFICATE REQUEST", "CERTIFICATE"),
        "label-mixed": one.replace("END CERTIFICATE REQUEST", "END CERTIFICATE"),
        "der-tail": _pem(der + b"\x00\x00"),
        "bad-base64": one.replace(one.splitlines()[2][:4], "!!!!", 1),
        "no-end": one.replace("-----END CERTIFICATE REQUEST-----", ""),
        "empty": "",
        "non-utf8": one[:-40] + "\udcff" + one[-40:],
        "nul": one[:-40] + "\x00" + one[-40:],
        "latin": one[:-40] + "é" + one[-40:],
    }
    requests = [{"host": host, "csr": csr} for host, csr in cases.items()]
    results = issue_batch(ca, ledger, requests + [_good(pki)])
    for host in cases:
        _refused(results, host, "csr_parse")
    assert "2 PEM blocks" in results["two"]["error"]["message"]
    assert "0xff" in results["non-utf8"]["error"]["message"]
    _good_issued(results, ledger)


def test_library_text_goes_to_detail(ca, ledger, pki):
    results = _batch(ca, ledger, pki, _pem(b"\x30\x03\x02\x01\x00"))
    result = _refused(results, "bad1", "csr_parse")
    assert result["error"]["detail"]
    assert "PKCS#10" in result["error"]["message"]


# --- 4. names --------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["../../../etc/passwd", "dev1/x", "dev 1", "dev1\n", ".hidden",
                                  "-rf", "d" * 65, "dév1", "dev1;reboot", "", "$(id)"])
def test_host_name_is_checked_when_common_name_is_given(ca, ledger, pki, host):
    request = {"host": host, "common_name": "dev1", "csr": pki.csr_pem(pki.new_key())}
    results = issue_batch(ca, ledger, [request, _good(pki)])
    label = host or "<no host>"
    check = "request" if not host else "name"
    _refused(results, label, check)
    _good_issued(results, ledger)
    assert [row["host"] for row in ledger.entries()] == ["good1"]


# --- 5. the signature hash -------------------------------------------------------------------

def _signed_with(key, oid_hex, algorithm):
    """A CSR whose self-signature is really made with the given hash (one cryptography's builder
    may refuse to make): tbs from the builder, signed by hand, algorithm identifier oid_hex."""
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
    tbs = _elements(builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))[0]
    oid = _tlv(0x06, bytes.fromhex(oid_hex))
    if isinstance(key, rsa.RSAPrivateKey):
        identifier = _tlv(0x30, oid + b"\x05\x00")
        signature = key.sign(tbs, padding.PKCS1v15(), algorithm)
    else:
        identifier = _tlv(0x30, oid)
        signature = key.sign(tbs, ec.ECDSA(algorithm))
    return _pem(_tlv(0x30, tbs + identifier + _tlv(0x03, b"\x00" + signature)))


@pytest.mark.parametrize("name", ["rsa-sha1", "rsa-sha224", "rsa-md5", "ecdsa-sha1", "ecdsa-sha224"])
def test_weak_signature_hash_is_refused_by_name(ca, ledger, pki, rsa3072_key, name):
    """Decided on the algorithm identifier: cryptography 46 will not verify SHA-1 at all, 38
    verifies it and issued. These signatures are real: only the hash is wrong."""
    cases = {
        "rsa-sha1": (rsa3072_key, "2a864886f70d010105", hashes.SHA1()),
        "rsa-sha224": (rsa3072_key, "2a864886f70d01010e", hashes.SHA224()),
        "rsa-md5": (rsa3072_key, "2a864886f70d010104", hashes.MD5()),
        "ecdsa-sha1": (pki.new_key(), "2a8648ce3d0401", hashes.SHA1()),
        "ecdsa-sha224": (pki.new_key(), "2a8648ce3d040301", hashes.SHA224()),
    }
    results = _batch(ca, ledger, pki, _signed_with(*cases[name]))
    result = _refused(results, "bad1", "csr_signature_hash")
    assert "SHA-256" in result["error"]["message"]
    _good_issued(results, ledger)


def test_hand_signed_sha256_csr_passes(ca, ledger, pki, rsa3072_key):
    """The same hand-made CSR with SHA-256 is issued: the refusals above are the hash's."""
    for host, key, oid in (("rsa", rsa3072_key, "2a864886f70d01010b"),
                           ("ec", pki.new_key(), "2a8648ce3d040302")):
        results = issue_batch(ca, ledger, [{"host": host, "csr": _signed_with(key, oid, hashes.SHA256())}])
        assert results[host]["issued"], results[host]


# --- 6. one bad request spoils only itself ----------------------------------------------------

def test_an_unexpected_error_is_the_requests_own(ca, ledger, pki, monkeypatch):
    real = issue_mod.check_csr_key

    def explode(csr, policy):
        if csr.subject.rfc4514_string() == "CN=explode":
            raise UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")
        return real(csr, policy)

    monkeypatch.setattr(issue_mod, "check_csr_key", explode)
    key = pki.new_key()
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "explode")]))
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    results = _batch(ca, ledger, pki, csr)
    result = _refused(results, "bad1", "request")
    assert "UnicodeDecodeError" in result["error"]["detail"]
    _good_issued(results, ledger)


# --- 7. a refusal changes nothing ------------------------------------------------------------

def test_a_batch_refused_entirely_leaves_the_ca_directory_unchanged(ca, ca_dir, pki):
    path = os.path.join(ca_dir, "ledger.sqlite3")
    assert not os.path.exists(path)
    before = pki.snapshot(ca_dir)
    opened = []

    def open_ledger():
        opened.append(True)
        return Ledger(path)

    results = issue_batch(ca, open_ledger, [
        {"host": "bad1", "csr": "garbage"},
        {"host": "bad2", "csr": _csr_with_spki(_ed25519_spki(bytes(32)))},
        {"host": "../x", "csr": pki.csr_pem(pki.new_key())},
    ])
    assert not any(r["ok"] for r in results.values()) and len(results) == 3
    assert opened == []
    assert pki.snapshot(ca_dir) == before
    assert not os.path.exists(path)


def test_check_mode_on_a_ca_without_ledger_creates_none(ca, ca_dir, pki):
    from ansible_collections.iotsec.tls.plugins.module_utils.ledger import NoLedger
    before = pki.snapshot(ca_dir)
    results = issue_batch(ca, NoLedger, [_good(pki)], check_mode=True)
    assert results["good1"]["would_issue"]
    assert pki.snapshot(ca_dir) == before
