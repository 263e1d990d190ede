# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issued certificates validate with cryptography's X.509 path validation (RFC 5280 + web PKI
profile) for the role they were issued for, and only for it.

x509.verification exists only in the controller's cryptography (not on Debian 12 targets),
so the collection itself does not use it; the tests do, as an independent verifier.
"""

import datetime
import ipaddress

import pytest

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError


def _issue(pki, ca, ledger, key, **request):
    result = pki.issue(ca, ledger, [pki.request(key=key, **request)])[request["host"]]
    assert result["ok"], result
    return pki.load(result["certificate"])


def _policy(ca, now=None):
    return PolicyBuilder().store(Store([ca.root])).time(now or datetime.datetime.now(
        datetime.timezone.utc))


def test_device_certificate_validates_as_client(ca, ledger, pki):
    cert = _issue(pki, ca, ledger, pki.new_key(), host="dev1", dns_names=["dev1.example"])
    verified = _policy(ca).build_client_verifier().verify(cert, [ca.cert])
    assert verified.chain[0] == cert
    assert verified.chain[1] == ca.cert
    assert verified.chain[-1] == ca.root
    assert x509.DNSName("dev1.example") in verified.subjects


def test_broker_certificate_validates_as_server(ca, ledger, pki):
    cert = _issue(pki, ca, ledger, pki.new_key(), host="broker1", profile="broker",
                  dns_names=["broker1.example"], ip_addresses=["192.0.2.1"])
    chain = _policy(ca).build_server_verifier(x509.DNSName("broker1.example")).verify(
        cert, [ca.cert])
    assert chain == [cert, ca.cert, ca.root]
    chain = _policy(ca).build_server_verifier(
        x509.IPAddress(ipaddress.ip_address("192.0.2.1"))).verify(cert, [ca.cert])
    assert chain[0] == cert
    with pytest.raises(VerificationError):
        _policy(ca).build_server_verifier(x509.DNSName("other.example")).verify(cert, [ca.cert])


def test_device_certificate_is_not_a_server_certificate(ca, ledger, pki):
    cert = _issue(pki, ca, ledger, pki.new_key(), host="dev1", dns_names=["dev1.example"])
    with pytest.raises(VerificationError) as err:
        _policy(ca).build_server_verifier(x509.DNSName("dev1.example")).verify(cert, [ca.cert])
    assert "extended key usage" in str(err.value).lower() or "eku" in str(err.value).lower()


def test_broker_certificate_is_not_a_client_certificate(ca, ledger, pki):
    cert = _issue(pki, ca, ledger, pki.new_key(), host="broker1", profile="broker",
                  dns_names=["broker1.example"])
    with pytest.raises(VerificationError):
        _policy(ca).build_client_verifier().verify(cert, [ca.cert])


def test_issuing_ca_is_needed_and_other_roots_are_not_trusted(ca, other_ca, ledger, pki):
    cert = _issue(pki, ca, ledger, pki.new_key(), host="dev1", dns_names=["dev1.example"])
    with pytest.raises(VerificationError):
        _policy(ca).build_client_verifier().verify(cert, [])
    with pytest.raises(VerificationError):
        _policy(other_ca).build_client_verifier().verify(cert, [ca.cert])


def test_short_lived_certificate_expires(ca, ledger, pki):
    cert = _issue(pki, ca, ledger, pki.new_key(), host="dev1", dns_names=["dev1.example"],
                  lifetime="5m")
    later = cert.not_valid_after_utc + datetime.timedelta(seconds=1)
    with pytest.raises(VerificationError):
        _policy(ca, later).build_client_verifier().verify(cert, [ca.cert])
    _policy(ca, cert.not_valid_after_utc - datetime.timedelta(seconds=1)) \
        .build_client_verifier().verify(cert, [ca.cert])
