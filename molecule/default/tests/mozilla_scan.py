"""Scan the broker with sslyze and check it against a Mozilla TLS profile (sslyze's own checker).

The broker requires a client certificate, so the scan presents one. sslyze's SSL 2.0 probe cannot
load a client key (its legacy OpenSSL), so SSL 2.0 is scanned in a second request without one: an
SSL 2.0 ClientHello is refused before any client certificate is asked for. The two results are
merged and sslyze's Mozilla checker judges the whole.
"""

import dataclasses
from pathlib import Path

from sslyze import (
    CertificateInfoExtraArgument,
    ClientAuthenticationCredentials,
    ScanCommand,
    ScanCommandsExtraArguments,
    Scanner,
    ServerNetworkConfiguration,
    ServerNetworkLocation,
    ServerScanRequest,
)
from sslyze.mozilla_tls_profile.tls_config_checker import (
    SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER,
    MozillaTlsConfiguration,
    ServerNotCompliantWithTlsConfiguration,
    TlsConfigurationEnum,
    check_server_against_tls_configuration,
)


def scan(name, ip, port, cert, key, ca_file):
    """Return the merged ServerScanResult."""
    location = ServerNetworkLocation(hostname=name, port=port, ip_address=ip)
    with_client = ServerScanRequest(
        server_location=location,
        network_configuration=ServerNetworkConfiguration(
            tls_server_name_indication=name,
            tls_client_auth_credentials=ClientAuthenticationCredentials(
                certificate_chain_path=Path(cert), key_path=Path(key))),
        scan_commands=set(SCAN_COMMANDS_NEEDED_BY_MOZILLA_CHECKER) - {ScanCommand.SSL_2_0_CIPHER_SUITES},
        scan_commands_extra_arguments=ScanCommandsExtraArguments(
            certificate_info=CertificateInfoExtraArgument(custom_ca_file=Path(ca_file))))
    sslv2 = ServerScanRequest(server_location=location,
                              scan_commands={ScanCommand.SSL_2_0_CIPHER_SUITES})
    scanner = Scanner()
    scanner.queue_scans([with_client, sslv2])
    results = {}
    for result in scanner.get_results():
        key_name = "sslv2" if result.scan_result.ssl_2_0_cipher_suites.result is not None and \
            result.scan_result.tls_1_2_cipher_suites.result is None else "main"
        results[key_name] = result
    main = results["main"]
    merged = dataclasses.replace(main.scan_result,
                                 ssl_2_0_cipher_suites=results["sslv2"].scan_result.ssl_2_0_cipher_suites)
    return dataclasses.replace(main, scan_result=merged)


def check(result, profile):
    """Return a dict of issues (empty when compliant with the Mozilla profile)."""
    config = MozillaTlsConfiguration.get(TlsConfigurationEnum(profile))
    try:
        check_server_against_tls_configuration(result, config)
    except ServerNotCompliantWithTlsConfiguration as exc:
        return dict(exc.issues)
    return {}


def accepted(result, field):
    attempt = getattr(result.scan_result, field)
    assert attempt.result is not None, "%s did not run: %s" % (field, attempt.error_trace)
    return [suite.cipher_suite.name for suite in attempt.result.accepted_cipher_suites]


def groups(result):
    """Names of the key exchange groups the server accepted (sslyze's elliptic curves scan)."""
    attempt = result.scan_result.elliptic_curves
    assert attempt.result is not None, "elliptic_curves did not run: %s" % attempt.error_trace
    return {curve.name for curve in attempt.result.supported_curves or []}
