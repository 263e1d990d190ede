# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the CA's CSR checks cost per request, side by side with the library's own checks.

For each key type, the same CSRs are judged in one run, interleaved, two ways:
  library   what the CA did before the hostile-input checks: parse the PEM, load the key,
            verify the self-signature (cryptography only);
  policy    what it does now: policy.load_csr + policy.check_csr (strict PEM, signature hash,
            key type, key soundness, canonical encoding, self-signature).
Prints the median microseconds per CSR of each and their ratio. A benchmark, not a test: it
exits 0 when it measured. Run it with the venv's python from the repository root, after
scripts/collection-install.sh:  PYTHONPATH=build .venv/bin/python benchmarks/csr_checks.py
"""

import argparse
import statistics
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from ansible_collections.iotsec.tls.plugins.module_utils import policy

KEYS = {
    "ecdsa-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ecdsa-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
    "rsa-3072": lambda: rsa.generate_private_key(65537, 3072),
}


def csr_pem(key):
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench")]))
           .sign(key, algorithm))
    return csr.public_bytes(serialization.Encoding.PEM)


def library(pem):
    csr = x509.load_pem_x509_csr(pem)
    csr.public_key()
    assert csr.is_signature_valid


def ours(pem, checked_policy):
    policy.check_csr(policy.load_csr(pem), checked_policy)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--csrs", type=int, default=20, help="CSRs per key type (default 20)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds over them (default 5)")
    args = parser.parse_args()
    checked = policy.check_policy({})
    print("%-11s %6s %12s %12s %7s" % ("key type", "CSRs", "library us", "policy us", "ratio"))
    for name, make in KEYS.items():
        csrs = [csr_pem(make()) for _csr in range(args.csrs if name != "rsa-3072" else min(args.csrs, 5))]
        ours(csrs[0], checked)  # the small-prime product is built once per process
        timings = {"library": [], "policy": []}
        for _round in range(args.rounds):
            for pem in csrs:
                for label, run in (("library", lambda: library(pem)), ("policy", lambda: ours(pem, checked))):
                    start = time.perf_counter()
                    run()
                    timings[label].append(time.perf_counter() - start)
        lib = statistics.median(timings["library"]) * 1e6
        pol = statistics.median(timings["policy"]) * 1e6
        print("%-11s %6d %12.0f %12.0f %6.1fx" % (name, len(csrs), lib, pol, pol / lib))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
