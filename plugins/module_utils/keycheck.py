# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Is a public key sound? Judged on its own numbers, not on what the library accepts.

The CA certifies a key only if it is a real key of its type: cryptography (38 on Debian 12,
43 on Debian 13, newer on controllers) loads some degenerate keys without complaint and
differs between versions in what it refuses, so every check here is arithmetic on the key's
numbers with the standard library, and gives the same answer on every version.

  RSA      public exponent odd, at least 65537 and below 2**256 (FIPS 186-5 A.1.1); modulus
           odd, of exactly the size the key type names, with no prime factor below 2**16, not
           itself prime, and not within reach of Fermat's method (its two primes close together)
  ECDSA    the point has coordinates in the field and lies on the curve (P-256, P-384: cofactor
           1, so any such point other than the identity has the group's prime order)
  Ed25519  the encoding is canonical (y below the field prime, no sign bit on x = 0), it decodes
           to a point of the curve, and that point is in the prime-order subgroup and not of
           small order (the eight small-order points let a "signature" verify with no private key)

Also the one canonical form in which keys are compared (SubjectPublicKeyInfo DER with an
uncompressed EC point): canonical_spki_der() and spki_sha256() in crypto.py.
"""

import functools
import math

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
except ImportError:  # pragma: no cover - reported by the module through crypto.CRYPTOGRAPHY_IMPORT_ERROR
    pass

# The DER of a SubjectPublicKeyInfo with a named curve and an uncompressed point, up to the
# point itself: SEQUENCE { SEQUENCE { id-ecPublicKey, curve OID }, BIT STRING 00 04 X Y }.
_EC_SPKI_PREFIX = {
    "secp256r1": bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200"),
    "secp384r1": bytes.fromhex("3076301006072a8648ce3d020106052b81040022036200"),
}

# Short Weierstrass curves y^2 = x^3 - 3x + b over GF(p) (SEC 2, FIPS 186-5).
_EC_CURVES = {
    "secp256r1": (
        0xffffffff00000001000000000000000000000000ffffffffffffffffffffffff,
        0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b,
    ),
    "secp384r1": (
        0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff,
        0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef,
    ),
}

# Ed25519 (RFC 8032 5.1): -x^2 + y^2 = 1 + d x^2 y^2 over GF(2**255 - 19), subgroup order L.
_ED_P = 2 ** 255 - 19
_ED_D = (-121665 * pow(121666, _ED_P - 2, _ED_P)) % _ED_P
_ED_L = 2 ** 252 + 27742317777372353535851937790883648493
_ED_SQRT_M1 = pow(2, (_ED_P - 1) // 4, _ED_P)

RSA_MIN_EXPONENT = 65537
RSA_EXPONENT_BOUND = 2 ** 256
SMALL_PRIME_BOUND = 2 ** 16
FERMAT_STEPS = 1000


class UnsoundKey(Exception):
    """The key is of an allowed type but is not a sound key of it; the message says why."""


def canonical_spki_der(public_key):
    """The key's SubjectPublicKeyInfo in the one form keys are compared in: DER, with an
    uncompressed point for EC keys (cryptography 38 re-encodes a key loaded from a compressed
    point as compressed, newer versions as uncompressed)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name in _EC_SPKI_PREFIX:
        return _EC_SPKI_PREFIX[public_key.curve.name] + public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def check_public_key(public_key, rsa_bits=None):
    """Raise UnsoundKey when the key is degenerate. rsa_bits: the modulus sizes allowed."""
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        _check_rsa(numbers.n, numbers.e, rsa_bits)
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        numbers = public_key.public_numbers()
        _check_ec(public_key.curve.name, numbers.x, numbers.y)
    elif isinstance(public_key, ed25519.Ed25519PublicKey):
        _check_ed25519(public_key.public_bytes(serialization.Encoding.Raw,
                                               serialization.PublicFormat.Raw))


def _check_rsa(n, e, rsa_bits):
    if e < RSA_MIN_EXPONENT or e % 2 == 0 or e >= RSA_EXPONENT_BOUND:
        shown = str(e) if e < 10 ** 12 else "a %d-bit number" % e.bit_length()
        raise UnsoundKey("its RSA public exponent is %s; it must be odd, at least 65537 and below 2**256"
                         % shown)
    bits = n.bit_length()
    if rsa_bits and bits not in rsa_bits:
        raise UnsoundKey("its RSA modulus has %d bits, not exactly %s"
                         % (bits, " or ".join(str(b) for b in sorted(rsa_bits))))
    if n % 2 == 0 or math.gcd(n, _small_primes()) != 1:
        raise UnsoundKey("its RSA modulus has a prime factor below %d" % SMALL_PRIME_BOUND)
    root = math.isqrt(n)
    if root * root == n:
        raise UnsoundKey("its RSA modulus is a square (its two primes are equal)")
    a = root + 1
    for _step in range(FERMAT_STEPS):
        b2 = a * a - n
        b = math.isqrt(b2)
        if b * b == b2:
            raise UnsoundKey("its RSA modulus factors at once by Fermat's method (its two primes are "
                             "too close together)")
        a += 1
    if _probably_prime(n):
        raise UnsoundKey("its RSA modulus is a prime, not a product of two primes")


@functools.lru_cache(maxsize=None)
def _small_primes():
    """The product of the primes below SMALL_PRIME_BOUND, made once per process."""
    sieve = bytearray([1]) * SMALL_PRIME_BOUND
    sieve[0:2] = b"\x00\x00"
    for i in range(2, math.isqrt(SMALL_PRIME_BOUND) + 1):
        if sieve[i]:
            sieve[i * i::i] = bytearray(len(range(i * i, SMALL_PRIME_BOUND, i)))
    return _product([i for i in range(SMALL_PRIME_BOUND) if sieve[i]])


def _product(values):
    while len(values) > 1:  # a product tree: far faster than a running product
        values = [values[i] * values[i + 1] if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
    return values[0]


def _probably_prime(n):
    """A strong probable-prime test to base 2 (n is odd, with no factor below 2**16). One base
    decides it: a product of two large primes fails at once, and a crafted composite that passes
    is refused all the same. It is the costly check (one modular exponentiation: ~0.1 s for a
    3072-bit modulus in pure Python), so the others run first."""
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    x = pow(2, d, n)
    if x in (1, n - 1):
        return True
    for _round in range(s - 1):
        x = x * x % n
        if x == n - 1:
            return True
    return False


def _check_ec(curve, x, y):
    if curve not in _EC_CURVES:
        return  # refused by type before this is asked
    p, b = _EC_CURVES[curve]
    if not (0 <= x < p and 0 <= y < p):
        raise UnsoundKey("its EC point has a coordinate outside the field of %s" % curve)
    if (y * y - (x * x * x - 3 * x + b)) % p != 0:
        raise UnsoundKey("its EC point is not on the curve %s" % curve)


def _check_ed25519(raw):
    point = _ed_decode(raw)
    if _ed_is_identity(_ed_multiply(point, 8)):
        raise UnsoundKey("its Ed25519 public key is a point of small order, for which a signature "
                         "verifies without any private key")
    if not _ed_is_identity(_ed_multiply(point, _ED_L)):
        raise UnsoundKey("its Ed25519 public key is not in the prime-order subgroup (it has a "
                         "small-order component no real key has)")


def _ed_decode(raw):
    """The point (extended coordinates) of a canonical 32-byte encoding (RFC 8032 5.1.3)."""
    if len(raw) != 32:
        raise UnsoundKey("its Ed25519 public key is %d bytes, not 32" % len(raw))
    value = int.from_bytes(raw, "little")
    sign, y = value >> 255, value & ((1 << 255) - 1)
    if y >= _ED_P:
        raise UnsoundKey("its Ed25519 point is not canonically encoded (y is not below the field prime)")
    x2 = (y * y - 1) * pow(_ED_D * y * y + 1, _ED_P - 2, _ED_P) % _ED_P
    x = pow(x2, (_ED_P + 3) // 8, _ED_P)
    if (x * x - x2) % _ED_P:
        x = x * _ED_SQRT_M1 % _ED_P
    if (x * x - x2) % _ED_P:
        raise UnsoundKey("its Ed25519 public key is not a point of the curve")
    if x == 0 and sign:
        raise UnsoundKey("its Ed25519 point is not canonically encoded (sign bit set on x = 0)")
    if x & 1 != sign:
        x = _ED_P - x
    return (x, y, 1, x * y % _ED_P)


def _ed_add(one, two):
    """Addition in extended coordinates (RFC 8032 5.1.4)."""
    x1, y1, z1, t1 = one
    x2, y2, z2, t2 = two
    p = _ED_P
    a = (y1 - x1) * (y2 - x2) % p
    b = (y1 + x1) * (y2 + x2) % p
    c = 2 * t1 * t2 * _ED_D % p
    d = 2 * z1 * z2 % p
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % p, g * h % p, f * g % p, e * h % p)


def _ed_multiply(point, scalar):
    result = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _ed_add(result, point)
        point = _ed_add(point, point)
        scalar >>= 1
    return result


def _ed_is_identity(point):
    x, y, z, _t = point
    return x % _ED_P == 0 and (y - z) % _ED_P == 0
