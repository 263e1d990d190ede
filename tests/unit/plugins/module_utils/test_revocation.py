# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Revocation on the ledger and the CRL: reasons, numbers, freshness, refusals, pkilint."""

import datetime
import os

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.iotsec.tls.plugins.module_utils.crypto import isoformat
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import PKIError
from ansible_collections.iotsec.tls.plugins.module_utils.ledger import Ledger
from ansible_collections.iotsec.tls.plugins.module_utils.revocation import (
    check_reason,
    common_names,
    crl_due,
    publish,
    select_serials,
)

DAY = 86400


@pytest.fixture
def fleet(ca, ledger, pki):
    """Three hosts issued; dev1 twice (its first certificate superseded)."""
    out = {}
    for host in ("dev1", "dev2", "dev3"):
        res = pki.issue(ca, ledger, [pki.request(host, pki.new_key(), dns_names=[host])])
        out[host] = res[host]["serial"]
    res = pki.issue(ca, ledger, [pki.request("dev1", pki.new_key(), dns_names=["dev1"])])
    out["dev1-old"], out["dev1"] = out["dev1"], res["dev1"]["serial"]
    return out


def _crl(pem):
    return x509.load_pem_x509_crl(pem.encode("ascii"))


def _lint_crl(pem):
    from pkilint import loader, pkix
    from pkilint.pkix import crl, extension, name
    from pkilint.validation import ValidationFindingSeverity

    validator = crl.create_pkix_crl_validator_container(
        [pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
         pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS)],
        [crl.create_issuer_validator_container([]), crl.create_validity_validator_container([]),
         crl.create_extensions_validator_container([])])
    der = _crl(pem).public_bytes(serialization.Encoding.DER)
    doc = loader.RFC5280CertificateListDocumentLoader().load_der_document(der, "crl")
    return [(fd.finding.code, fd.message) for result in validator.validate(doc.root)
            for fd in result.finding_descriptions
            if fd.finding.severity <= ValidationFindingSeverity.ERROR]


def test_revoke_host_takes_every_unexpired_certificate(fleet, ledger, pki):
    serials = select_serials(ledger, hosts=["dev1"])
    assert serials == sorted([fleet["dev1"], fleet["dev1-old"]])
    now = isoformat(pki.utcnow())
    assert sorted(ledger.revoke(serials, "keyCompromise", now)) == serials
    rows = ledger.entries(host="dev1")
    assert {r["status"] for r in rows} == {"revoked"}
    assert {r["revocation_reason"] for r in rows} == {"keyCompromise"}
    assert {r["revoked_at"] for r in rows} == {now}
    assert ledger.revoke(serials, "keyCompromise", now) == []  # twice: nothing changes
    assert select_serials(ledger, hosts=["dev1"]) == []


def test_common_names_are_the_identities_brokers_must_disconnect(fleet, ca, ledger, pki):
    assert common_names(ledger, [fleet["dev1"], fleet["dev1-old"], fleet["dev3"]]) == ["dev1", "dev3"]
    assert common_names(ledger, []) == []
    # the CN, not the ledger's host name, when a request named its own common_name
    res = pki.issue(ca, ledger, [pki.request("dev4", pki.new_key(), common_name="sensor-4")])
    assert common_names(ledger, [res["dev4"]["serial"]]) == ["sensor-4"]


def test_revoke_by_serial_accepts_colons_and_case(fleet, ledger):
    serial = fleet["dev2"]
    spelled = ":".join(serial[i:i + 2] for i in range(0, len(serial), 2)).lower()
    assert select_serials(ledger, serials=[spelled]) == [serial]


def test_unknown_host_or_serial_changes_nothing(fleet, ledger):
    before = ledger.entries()
    with pytest.raises(PKIError) as err:
        select_serials(ledger, hosts=["dev1", "nosuchhost"])
    assert err.value.check == "unknown_host"
    with pytest.raises(PKIError) as err:
        select_serials(ledger, serials=[fleet["dev2"], "DEADBEEF"])
    assert err.value.check == "unknown_serial"
    assert ledger.entries() == before


def test_serial_of_another_ca_is_unknown(fleet, ledger, other_ca, pki, tmp_path):
    from ansible_collections.iotsec.tls.plugins.module_utils.ledger import Ledger
    with Ledger(str(tmp_path / "other.sqlite3")) as other_ledger:
        res = pki.issue(other_ca, other_ledger, [pki.request("dev1", pki.new_key(), dns_names=["dev1"])])
    with pytest.raises(PKIError) as err:
        select_serials(ledger, serials=[res["dev1"]["serial"]])
    assert err.value.check == "unknown_serial"


def test_reason_must_be_rfc5280(fleet):
    assert check_reason("cessationOfOperation") == "cessationOfOperation"
    with pytest.raises(PKIError):
        check_reason("lost")


def test_crl_lists_revoked_with_reason_and_verifies(fleet, ca, ledger, pki, tmp_path):
    path = str(tmp_path / "crl.pem")
    now = pki.utcnow()
    ledger.revoke([fleet["dev2"]], "keyCompromise", isoformat(now))
    changed, state = publish(ca, ledger, path, 2 * DAY, now=now)
    assert changed and os.path.exists(path)
    crl = _crl(state["crl"])
    assert crl.is_signature_valid(ca.cert.public_key())
    assert crl.issuer == ca.cert.subject
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
    assert crl.next_update_utc - crl.last_update_utc == datetime.timedelta(days=2)
    entry = crl.get_revoked_certificate_by_serial_number(int(fleet["dev2"], 16))
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == \
        x509.ReasonFlags.key_compromise
    assert crl.get_revoked_certificate_by_serial_number(int(fleet["dev3"], 16)) is None
    assert crl.get_revoked_certificate_by_serial_number(int(fleet["dev1-old"], 16)) is None
    assert _lint_crl(state["crl"]) == []


def test_empty_crl_is_valid(ca, ledger, tmp_path):
    changed, state = publish(ca, ledger, str(tmp_path / "crl.pem"), DAY)
    crl = _crl(state["crl"])
    assert changed and len(crl) == 0
    assert crl.is_signature_valid(ca.cert.public_key())
    assert _lint_crl(state["crl"]) == []


def test_superseded_listed_only_when_asked(fleet, ca, ledger, tmp_path):
    _changed, state = publish(ca, ledger, str(tmp_path / "crl.pem"), DAY, include_superseded=True)
    entry = _crl(state["crl"]).get_revoked_certificate_by_serial_number(int(fleet["dev1-old"], 16))
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == \
        x509.ReasonFlags.superseded


def test_fresh_crl_is_not_republished_until_half_its_validity(fleet, ca, ledger, pki, tmp_path):
    path = str(tmp_path / "crl.pem")
    now = pki.utcnow()
    _changed, first = publish(ca, ledger, path, 2 * DAY, now=now)
    changed, again = publish(ca, ledger, path, 2 * DAY, now=now + datetime.timedelta(hours=23))
    assert not changed and again["number"] == first["number"] and again["crl"] == first["crl"]
    changed, later = publish(ca, ledger, path, 2 * DAY, now=now + datetime.timedelta(hours=25))
    assert changed and later["number"] == first["number"] + 1
    ledger.revoke([fleet["dev3"]], "cessationOfOperation", isoformat(now))
    changed, revoked = publish(ca, ledger, path, 2 * DAY, now=now + datetime.timedelta(hours=25))
    assert changed and revoked["number"] == later["number"] + 1
    os.unlink(path)
    changed, restored = publish(ca, ledger, path, 2 * DAY, now=now + datetime.timedelta(hours=25))
    assert changed and restored["number"] == revoked["number"] + 1 and os.path.exists(path)


def test_crl_due_says_what_publish_does(fleet, ca, ledger, pki, tmp_path):
    """crl_due (read by fleet_ca_info, without the CA key) is true exactly when publish writes."""
    path = str(tmp_path / "crl.pem")
    now = pki.utcnow()
    assert crl_due(ledger, path, now=now)[0] is True  # no CRL yet
    publish(ca, ledger, path, 2 * DAY, now=now)
    reader = Ledger(ledger.path, read_only=True)  # what fleet_ca_info opens
    try:
        steps = [
            (now + datetime.timedelta(hours=23), None),
            (now + datetime.timedelta(hours=25), None),
            (now + datetime.timedelta(hours=26),
             lambda: ledger.revoke([fleet["dev3"]], "keyCompromise", isoformat(now))),
            (now + datetime.timedelta(hours=26), lambda: os.unlink(path)),
        ]
        outcomes = []
        for when, change in steps:
            if change:
                change()
            due = crl_due(reader, path, now=when)[0]
            changed, _state = publish(ca, ledger, path, 2 * DAY, now=when)
            outcomes.append((due, changed))
        assert outcomes == [(False, False), (True, True), (True, True), (True, True)]
        assert crl_due(reader, path, now=now + datetime.timedelta(hours=26))[0] is False
    finally:
        reader.close()


def test_expired_revoked_certificates_leave_the_crl(fleet, ca, ledger, pki, tmp_path):
    now = pki.utcnow()
    ledger.revoke([fleet["dev2"]], "keyCompromise", isoformat(now))
    _changed, state = publish(ca, ledger, str(tmp_path / "crl.pem"), DAY,
                              now=now + datetime.timedelta(days=8))  # past the 7-day lifetime
    assert len(_crl(state["crl"])) == 0


def test_check_mode_writes_nothing(fleet, ca, ledger, tmp_path):
    path = str(tmp_path / "crl.pem")
    changed, state = publish(ca, ledger, path, DAY, check_mode=True)
    assert changed and state["crl"] is None and not os.path.exists(path)
    assert ledger.crl_state() is None
