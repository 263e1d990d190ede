# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Batch issuance throughput, side by side with cryptography alone, in one process.

A fresh temporary CA (the collection's own create_ca) and, for every measured batch, a fresh
ledger. The same N CSRs (ECDSA P-256, the default key type) are signed two ways:
  library   cryptography alone: load the CSR, verify its signature, build the certificate with
            the same extensions the CA gives, sign it;
  issue     issue.issue_batch: every policy and key check, the ledger (one transaction), the
            returned facts.
Each round runs both, in alternating order; prints the certificates per second of each (median
over the rounds) and their ratio (issue / library: the median of the rounds' ratios, in wall time
and in CPU time, which other processes on the machine disturb less). A benchmark, not a test: it exits 0 when it
measured. From the repository root, after scripts/collection-install.sh:
    PYTHONPATH=build .venv/bin/python benchmarks/issuance.py [--csrs 1000] [--rounds 3]
    PYTHONPATH=build .venv/bin/python benchmarks/issuance.py --profile 20   # top 20 of cProfile
"""

import argparse
import cProfile
import datetime
import os
import pstats
import shutil
import statistics
import tempfile
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.iotsec.tls.plugins.module_utils import ca as ca_mod
from ansible_collections.iotsec.tls.plugins.module_utils.issue import issue_batch
from ansible_collections.iotsec.tls.plugins.module_utils.ledger import Ledger

PASSPHRASE = "benchmark passphrase, not a secret"


def make_requests(count):
    requests = []
    for index in range(count):
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dev%05d" % index)]))
               .sign(key, hashes.SHA256()))
        requests.append({"host": "dev%05d" % index,
                         "csr": csr.public_bytes(serialization.Encoding.PEM).decode("ascii"),
                         "dns_names": ["dev%05d.fleet.example" % index], "ip_addresses": [],
                         "profile": "device", "lifetime": "7d", "common_name": None})
    return requests


def library(ca, requests):
    """What cryptography alone does for each request: the floor."""
    now = datetime.datetime.now(datetime.timezone.utc)
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
        ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value)
    for request in requests:
        csr = x509.load_pem_x509_csr(request["csr"].encode("ascii"))
        if not csr.is_signature_valid:
            raise AssertionError("bad CSR")
        public_key = csr.public_key()
        (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "iotsec.tls fleet"),
                                  x509.NameAttribute(NameOID.COMMON_NAME, request["host"])]))
         .issuer_name(ca.cert.subject)
         .public_key(public_key)
         .serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(seconds=60))
         .not_valid_after(now + datetime.timedelta(days=7))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(
             digital_signature=True, content_commitment=False, key_encipherment=False,
             data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
             encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
         .add_extension(aki, critical=False)
         .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in request["dns_names"]]),
                        critical=False)
         .sign(ca.key, hashes.SHA256()))


def ours(ca, requests, ledger_path):
    """issue_batch over a fresh ledger; every request must be issued."""
    results = issue_batch(ca, lambda: Ledger(ledger_path), requests)
    refused = [h for h, r in results.items() if not r.get("issued")]
    if refused:
        raise AssertionError("refused: %s" % results[refused[0]])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--csrs", type=int, default=1000, help="CSRs per batch (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--profile", type=int, default=0, metavar="TOP",
                        help="instead, profile one issue_batch with cProfile and print the TOP entries")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="iotsec-issuance-")
    try:
        ca_dir = os.path.join(work, "ca")
        ca_mod.create_ca(ca_dir, PASSPHRASE, "Benchmark", "iotsec.tls fleet")
        ca = ca_mod.IssuingCA(ca_dir, PASSPHRASE)
        requests = make_requests(args.csrs)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            ours(ca, requests, os.path.join(work, "profile.sqlite3"))
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
            return 0
        library(ca, requests[:20])  # warm up both (the small-prime product, imports)
        ours(ca, requests[:20], os.path.join(work, "warm.sqlite3"))
        rates = {"library": [], "issue": []}
        cpu = {"library": [], "issue": []}
        for round_ in range(args.rounds):
            runs = [("library", lambda: library(ca, requests)),
                    ("issue", lambda: ours(ca, requests, os.path.join(work, "ledger%d.sqlite3" % round_)))]
            if round_ % 2:
                runs.reverse()
            for label, run in runs:
                start, start_cpu = time.perf_counter(), time.process_time()
                run()
                rates[label].append(args.csrs / (time.perf_counter() - start))
                cpu[label].append(args.csrs / (time.process_time() - start_cpu))
        ratios = [o / lib for o, lib in zip(rates["issue"], rates["library"])]
        cpu_ratios = [o / lib for o, lib in zip(cpu["issue"], cpu["library"])]
        print("CSRs per batch: %d, rounds: %d (ECDSA P-256 CSRs, issuing CA %s)"
              % (args.csrs, args.rounds, type(ca.key).__name__))
        print("library (cryptography alone): %7.0f certificates/s  (rounds: %s)"
              % (statistics.median(rates["library"]), ", ".join("%.0f" % r for r in rates["library"])))
        print("issue_batch:                  %7.0f certificates/s  (rounds: %s)"
              % (statistics.median(rates["issue"]), ", ".join("%.0f" % r for r in rates["issue"])))
        print("ratio issue_batch / library:  %7.2f x  (median of the rounds' ratios: %s; in CPU time %.2f x)"
              % (statistics.median(ratios), ", ".join("%.2f" % r for r in ratios), statistics.median(cpu_ratios)))
    finally:
        shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
