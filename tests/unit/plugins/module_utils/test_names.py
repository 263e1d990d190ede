# -*- coding: utf-8 -*-
# Copyright (c) 2026, iotsec.tls contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How hosts are named in their certificates (vocabulary.default_dns_names, the rule behind the
filter iotsec.tls.default_dns_names and the device_identity role's default SANs), and that what
the example inventory gets passes pkilint's RFC 5280 linter, with and without a fleet domain."""

import os

import pytest

from ansible.errors import AnsibleFilterError
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from cryptography import x509

from ansible_collections.iotsec.tls.plugins.filter.default_dns_names import FilterModule
from ansible_collections.iotsec.tls.plugins.module_utils.vocabulary import (
    PKIError,
    check_domain,
    default_dns_names,
    single_label_names,
)

FILTER = FilterModule().filters()["default_dns_names"]
EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "inventories", "example")


@pytest.mark.parametrize("identity, domain, profile, names", [
    ("sensor-0001", None, "device", []),  # the CN is the identity; no single-label dNSName
    ("sensor-0001", None, "broker", ["sensor-0001"]),  # what devices dial and verify
    ("sensor-0001", "fleet.example", "device", ["sensor-0001.fleet.example"]),
    ("broker1", "Fleet.Example.", "broker", ["broker1.fleet.example"]),
    ("Broker1.Example.NET", None, "broker", ["broker1.example.net"]),
    ("broker1.example.net", "fleet.example", "broker", ["broker1.example.net"]),  # an FQDN stays
    ("192.0.2.10", None, "device", ["192.0.2.10"]),
    ("2001:db8::10", "fleet.example", "broker", ["2001:db8::10"]),
    ("sensor_01", "fleet.example", "device", []),  # no DNS name holds '_'
    ("dev:1", None, "broker", []),
    ("dev1.", None, "device", []),  # one label, whatever the dot says
    ("-dev1", "fleet.example", "device", []),
    ("a" * 64, "fleet.example", "device", []),  # a label is at most 63
])
def test_default_dns_names(identity, domain, profile, names):
    assert default_dns_names(identity, domain, profile) == names
    assert FILTER(identity, domain or "", profile) == names


@pytest.mark.parametrize("domain", ["../etc", "fleet..example", "-fleet.example", "fleet_x.example",
                                    "fleet example", "fleet.example/x", "*.example", "",
                                    "a" * 250 + ".example", "a" * 60 + "." + "b" * 60 + "." + "c" * 60 + ".example",
                                    "fleet.\u0435xample"])
def test_a_domain_that_is_no_dns_name_is_refused(domain):
    with pytest.raises(PKIError) as info:
        check_domain(domain)
    assert info.value.check == "domain" and "iotsec_tls_domain" in info.value.hint


def test_the_filter_names_its_input_and_the_check():
    with pytest.raises(AnsibleFilterError, match=r"default_dns_names\(dev1\).*check: domain"):
        FILTER("dev1", "../etc")
    with pytest.raises(AnsibleFilterError, match="profile"):
        FILTER("dev1", "", "server")
    with pytest.raises(AnsibleFilterError, match="host name"):
        FILTER(None)


def test_single_label_names():
    assert single_label_names(["broker1", "broker1.example", "mqtt"]) == ["broker1", "mqtt"]


# --- the example inventory, issued as the role names it, linted --------------------------------

def _example_requests(pki, domain):
    """One request per host of inventories/example, named as the device_identity role names it
    (vars/main.yml: default_dns_names of the id, the host's extra names and IP addresses)."""
    inventory = InventoryManager(loader=DataLoader(), sources=[EXAMPLE])
    brokers = set(inventory.get_groups_dict().get("mqtt_brokers", []))
    requests = []
    for name in inventory.get_groups_dict()["iot_devices"] + sorted(brokers):
        hostvars = inventory.get_host(name).get_vars()
        profile = "broker" if name in brokers else "device"
        dns = default_dns_names(name, domain, profile) + hostvars.get("device_identity_extra_dns_names", [])
        requests.append(pki.request(name, pki.new_key(), profile=profile, dns_names=dns,
                                    ip_addresses=hostvars.get("device_identity_ip_addresses", [])))
    return requests


@pytest.mark.parametrize("domain", [None, "fleet.example"])
def test_the_example_inventory_lints_clean(ca, ledger, pki, pkix_lint, domain):
    requests = _example_requests(pki, domain)
    assert len(requests) == 3
    results = pki.issue(ca, ledger, requests)
    for request in requests:
        result = results[request["host"]]
        assert result["ok"] and result["warnings"] == [], result
        cert = pki.load(result["certificate"])
        assert pkix_lint(cert) == [], request["host"]
    device = pki.load(results["sensor-0001"]["certificate"])
    if domain:
        san = device.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.DNSName) == ["sensor-0001.fleet.example"]
    else:  # identified by its CN alone
        with pytest.raises(x509.ExtensionNotFound):
            device.extensions.get_extension_for_class(x509.SubjectAlternativeName)


def test_a_single_label_broker_is_issued_with_a_warning_and_the_one_finding(ca, ledger, pki, pkix_lint):
    request = pki.request("broker1", pki.new_key(), profile="broker",
                          dns_names=default_dns_names("broker1", None, "broker"))
    result = pki.issue(ca, ledger, [request])["broker1"]
    assert result["ok"]
    assert len(result["warnings"]) == 1 and "iotsec_tls_domain" in result["warnings"][0]
    codes = [code for _severity, code, _msg in pkix_lint(pki.load(result["certificate"]))]
    assert codes == ["pkix.invalid_domain_name_syntax"]


def test_a_bad_domain_is_refused_for_every_host_not_only_single_labels():
    for identity in ("broker1.example.net", "192.0.2.10", "sensor_01", "sensor-0001"):
        with pytest.raises(PKIError) as info:
            default_dns_names(identity, "../etc", "device")
        assert info.value.check == "domain"


def test_a_broker_with_no_verifiable_name_is_refused(ca, ledger, pki):
    request = pki.request("b_2", pki.new_key(), profile="broker",
                          dns_names=default_dns_names("b_2", None, "broker"))
    result = pki.issue(ca, ledger, [request])["b_2"]
    assert not result["ok"] and result["error"]["check"] == "name", result
    assert "device_identity_dns_names" in result["error"]["hint"]
    # a device needs none: its CN is its identity
    device = pki.issue(ca, ledger, [pki.request("d_2", pki.new_key())])["d_2"]
    assert device["ok"], device
