#!/usr/bin/env bash
# THE test command of iotsec.tls (CI runs it through .ci/run). Stages, in order:
#   bootstrap   Debian packages, .venv, ansible-test's offline pip bootstrap (scripts/bootstrap.sh)
#   collection  collection copy, build and install into build/ (scripts/collection-install.sh)
#   unit        pytest tests/unit, importing ansible_collections.iotsec.tls from the copy; the
#               hostile-CSR tests again under the system python3's cryptography 38
#   sanity      ansible-test sanity --python 3.11, offline, empty ignore file
#   lint        ansible-lint, production profile
#   changelog   antsibull-changelog lint
#   docs        ansible-doc on every plugin of the installed collection
#   publish     what Galaxy and ansible-builder say (scripts/publish-check.sh, own venv): tarball
#               links, galaxy-importer with no error or warning, antsibull-docs lint, EE requirements
#   awx         the AWX example project run as AWX runs a job, with ansible-runner, on local
#               hosts (tests/awx: passphrase from a credential, idempotence, no leak, broken Python)
#   images      podman test images, built when missing or changed (scripts/build-images.sh)
#   molecule    molecule test --all (podman, systemd containers)
# A failed stage does not stop the others, except that stages that need its result are skipped.
# Prints a summary (result and duration per stage); exits non-zero if any stage failed.
#
# Usage: scripts/test.sh [--only STAGE[,STAGE...]] [--skip STAGE[,STAGE...]]
#        (bootstrap always runs; it takes seconds when nothing changed)
set -euo pipefail

REPO="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"

ALL_STAGES=(bootstrap collection unit sanity lint changelog docs publish awx images molecule)
only=""
skip=""
while [ "$#" -gt 0 ]; do
    case "$1" in
        --only) only="${2:?--only needs a stage list}"; shift 2 ;;
        --only=*) only="${1#--only=}"; shift ;;
        --skip) skip="${2:?--skip needs a stage list}"; shift 2 ;;
        --skip=*) skip="${1#--skip=}"; shift ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (stages: ${ALL_STAGES[*]})" >&2; exit 2 ;;
    esac
done
for s in ${only//,/ } ${skip//,/ }; do
    case " ${ALL_STAGES[*]} " in
        *" $s "*) ;;
        *) echo "unknown stage: $s (stages: ${ALL_STAGES[*]})" >&2; exit 2 ;;
    esac
done

declare -A RESULT=()
declare -A DURATION=()
T0=$SECONDS

banner() { printf '\n=== [%s] %s ===\n' "$(date -u +%H:%M:%S)" "$*"; }

wanted() {
    local stage="$1"
    [ "$stage" = bootstrap ] && return 0
    if [ -n "$only" ]; then
        case ",$only," in *",$stage,"*) ;; *) return 1 ;; esac
    fi
    case ",$skip," in *",$stage,"*) return 1 ;; esac
    return 0
}

# run_stage NAME NEEDS COMMAND...: runs COMMAND in a subshell with errexit on, unless the stage
# is not wanted or a stage in NEEDS (comma-separated) did not pass.
run_stage() {
    local name="$1" needs="$2" dep start rc
    shift 2
    if ! wanted "$name"; then
        RESULT[$name]="not run"
        return 0
    fi
    for dep in ${needs//,/ }; do
        case "${RESULT[$dep]:-}" in
            passed|"not run"|"skipped: "*) ;;
            *) RESULT[$name]="skipped ($dep ${RESULT[$dep]:-did not run})"; return 0 ;;
        esac
    done
    banner "$name"
    start=$SECONDS
    set +e
    (set -e; "$@")
    rc=$?
    set -e
    DURATION[$name]=$((SECONDS - start))
    case "$rc" in
        0) RESULT[$name]="passed" ;;
        77) RESULT[$name]="skipped: nothing to test" ;;
        *) RESULT[$name]="FAILED (exit $rc)" ;;
    esac
    banner "$name: ${RESULT[$name]} in ${DURATION[$name]} s"
}

# shellcheck disable=SC2317  # called indirectly, through run_stage
stage_unit() {
    if [ ! -d tests/unit ]; then
        echo "no tests/unit: nothing to run"
        return 77
    fi
    mkdir -p build/reports
    local rc=0
    # Run from the collection copy, so that tests import ansible_collections.iotsec.tls from
    # build/ansible_collections (as ansible-test units would).
    (cd build/ansible_collections/iotsec/tls \
        && PYTHONPATH="$REPO/build${PYTHONPATH:+:$PYTHONPATH}" \
            pytest -p no:cacheprovider -ra --junitxml="$REPO/build/reports/unit.xml" tests/unit) \
        || rc=$?
    # 5 = no tests collected: tests/unit exists, so that is a failure too.
    [ "$rc" != 5 ] || echo "pytest collected no tests in tests/unit"
    # The CA's refusals once more under Debian 12's python3-cryptography 38 (the system
    # python3, python3-pytest from bootstrap): they must not depend on the library version.
    local version
    version="$(/usr/bin/python3 -c 'import cryptography; print(cryptography.__version__)')" || version=none
    case "$version" in
        38.*) ;;
        *) echo "the system python3 has cryptography $version, not Debian 12's 38: the hostile-CSR" \
                "tests need it (apt-get install python3-cryptography on Debian 12)"; return 1 ;;
    esac
    echo "hostile-CSR tests under the system python3, cryptography $version:"
    (cd build/ansible_collections/iotsec/tls \
        && PYTHONPATH="$REPO/build" /usr/bin/python3 -m pytest -p no:cacheprovider -q \
            --junitxml="$REPO/build/reports/unit-cryptography38.xml" \
            tests/unit/plugins/module_utils/test_hostile_csr.py) || rc=1
    return "$rc"
}

# shellcheck disable=SC2317  # called indirectly, through run_stage
stage_changelog() {
    if [ ! -f changelogs/config.yaml ]; then
        echo "no changelogs/config.yaml: nothing to lint"
        return 77
    fi
    antsibull-changelog lint
}

# shellcheck disable=SC2317  # called indirectly, through run_stage
stage_docs() {
    local type names rc=0 any=0
    for type in module filter lookup test inventory callback connection become cache vars strategy; do
        names="$(ansible-doc -t "$type" -l iotsec.tls 2>/dev/null | awk '$1 ~ /^iotsec\.tls\./ {print $1}')"
        [ -n "$names" ] || continue
        any=1
        # shellcheck disable=SC2086  # one argument per plugin name
        echo "ansible-doc -t $type" $names
        # shellcheck disable=SC2086
        ansible-doc -t "$type" $names >/dev/null || rc=1
    done
    if [ "$any" = 0 ]; then
        echo "no plugins with documentation found in the installed collection"
        return 77
    fi
    return "$rc"
}

# shellcheck disable=SC2317  # called indirectly, through run_stage
stage_awx() {
    mkdir -p build/reports
    # ansible-runner jobs on local hosts, from the collection artifact in build/dist
    pytest -p no:cacheprovider -ra --junitxml="$REPO/build/reports/awx.xml" tests/awx
}

# shellcheck disable=SC2317  # called indirectly, through run_stage
stage_molecule() {
    if ! compgen -G "molecule/*/molecule.yml" >/dev/null; then
        echo "no molecule scenarios"
        return 77
    fi
    # A fresh CA passphrase per run, passed through the environment only: the scenarios then
    # check that it appears nowhere in Ansible's output (Molecule prints its own config).
    IOTSEC_TLS_TEST_CA_PASSPHRASE="$(openssl rand -hex 24)"
    export IOTSEC_TLS_TEST_CA_PASSPHRASE
    local scenario rc=0
    # The default scenario runs on Debian 12 and on Debian 13; the others on Debian 12.
    for suite in bookworm trixie; do
        echo "--- molecule default on $suite"
        IOTSEC_TEST_SUITE=$suite molecule test -s default || rc=1
    done
    for scenario in molecule/*/molecule.yml; do
        scenario="$(basename "$(dirname "$scenario")")"
        [ "$scenario" = default ] && continue
        echo "--- molecule $scenario"
        molecule test -s "$scenario" || rc=1
    done
    return "$rc"
}

# shellcheck source=scripts/env.sh
. "$REPO/scripts/env.sh"
# Plain output in CI logs (ansible-lint, molecule and pytest color otherwise).
if [ ! -t 1 ]; then
    export NO_COLOR=1 ANSIBLE_NOCOLOR=1 PY_COLORS=0
fi

run_stage bootstrap "" bash scripts/bootstrap.sh
run_stage collection bootstrap bash scripts/collection-install.sh
run_stage unit bootstrap,collection stage_unit
run_stage sanity bootstrap,collection bash scripts/sanity.sh --no-install --skip-lint
run_stage lint bootstrap,collection bash scripts/sanity.sh --no-install --skip-ansible-test
run_stage changelog bootstrap stage_changelog
run_stage docs bootstrap,collection stage_docs
run_stage publish bootstrap,collection bash scripts/publish-check.sh
run_stage awx bootstrap,collection stage_awx
run_stage images bootstrap bash scripts/build-images.sh
run_stage molecule bootstrap,collection,images stage_molecule

failed=0
printf '\n%-12s %-48s %8s\n' STAGE RESULT SECONDS
for s in "${ALL_STAGES[@]}"; do
    printf '%-12s %-48s %8s\n' "$s" "${RESULT[$s]:-not run}" "${DURATION[$s]:--}"
    case "${RESULT[$s]:-}" in FAILED*) failed=1 ;; esac
done
printf '%-12s %-48s %8s\n' total "$([ "$failed" = 0 ] && echo passed || echo FAILED)" "$((SECONDS - T0))"
exit "$failed"
