#!/usr/bin/env bash
# Tempest, OpenStack's own test suite, against the cloud `stackanetes up` deployed: the smoke tests
# of identity, image, compute and network, and the scenarios test_server_basic_ops and
# test_network_basic_ops (servers booted from the project's guest image, reached on floating IPs).
#
# Tempest 43.0.0 (the release tagged for OpenStack 2025.1) and python-tempestconf from PyPI, in
# a virtualenv under ~/.cache/stackanetes/tempest. Tempest runs inside the external network's
# namespace (stackanetes-ext), where the floating IPs are; a veth pair joins that namespace to
# this host for the cloud's public endpoints only (a /32 route to the ingress address; the
# namespace forwards nothing, so guests still reach nothing beyond it). Removed at the end.
#
# Prints every skipped test with its reason, then `tempest: N passed, N failed, N skipped`.
# Exits non-zero when a test failed. Excluded tests (with the reason) are in tempest-exclude.txt.
# The end-to-end tier runs it through test/e2e/tempest.test.ts (one test in CI's counts).
#
# Needs root, KUBECONFIG (eval "$(npx stackanetes cluster env)"), and the cloud of
# examples/minimal.yaml (or STACKANETES_E2E_NAMESPACE).
set -euo pipefail
trap 'echo "tempest.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
cd "$(dirname "$0")/../.."
node=node_modules/.bin/node
ns_k8s=${STACKANETES_E2E_NAMESPACE:-openstack}
cloud=${STACKANETES_E2E_CLOUD:-minimal}
tempest_version=${STACKANETES_TEMPEST_VERSION:-43.0.0}
tempestconf_version=${STACKANETES_TEMPESTCONF_VERSION:-3.5.4}
cache=${STACKANETES_CACHE:-$HOME/.cache/stackanetes}/tempest
# The libraries under Tempest at the versions OpenStack 2025.1 was released and tested with (the
# stable/2025.1 upper constraints): pip's newest oslo.utils (10.x) no longer has the md5 that
# Tempest 43 imports, and its `run` command does not load at all.
pins=(oslo.utils==8.2.0 oslo.config==9.7.2 oslo.log==7.1.0 oslo.serialization==5.7.0
  oslo.concurrency==7.1.0 oslo.context==5.7.1 oslo.i18n==6.5.1 keystoneauth1==5.10.0
  openstacksdk==4.4.0 stestr==4.1.0 cliff==4.9.1 stevedore==5.4.1)
venv=$cache/venv-$tempest_version-$(echo "${pins[*]} $tempestconf_version" | sha256sum | cut -c1-8)
work=$cache/workspace
exclude=$PWD/test/e2e/tempest-exclude.txt
t0=$(date +%s)

extns=$(kubectl -n "$ns_k8s" get openstackcloud "$cloud" -o jsonpath='{.spec.services.neutron.provider.hostNamespace.name}')
if [ -z "$extns" ] || [ ! -e "/run/netns/$extns" ]; then
  echo "tempest: the cloud has no external network namespace on this node (spec.services.neutron.provider.hostNamespace)" >&2
  exit 2
fi

# 1. Tempest and python-tempestconf in a virtualenv (once).
if ! "$venv/bin/tempest" run --help >/dev/null 2>&1; then
  python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null ||
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-venv
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q "tempest==$tempest_version" "python-tempestconf==$tempestconf_version" "${pins[@]}"
fi
echo "== $("$venv/bin/tempest" --version 2>&1 | tail -n 1), python-tempestconf $tempestconf_version"

# 2. The admin credentials (public endpoints, through the ingress) and what `up` set up.
eval "$(kubectl -n "$ns_k8s" get secret keystone-admin -o go-template='{{range $k, $v := .data}}{{if ne $k "clouds.yaml"}}export {{$k}}={{$v | base64decode}}{{"\n"}}{{end}}{{end}}')"
export OS_INTERFACE=public
os() { kubectl -n "$ns_k8s" exec deploy/openstack-client -- openstack "$@"; }
public_net=$(os network show public -f value -c id)
guest_disk=$("$node" bin/stackanetes.js images guest 2>/dev/null)
keystone_host=$(echo "$OS_AUTH_URL" | sed -E 's#^[a-z]+://([^/:]+).*#\1#')
ingress=$(getent hosts "$keystone_host" | awk '{ print $1; exit }')
[ -n "$ingress" ] || { echo "tempest: $keystone_host does not resolve on this host" >&2; exit 2; }

# 3. The namespace reaches the public endpoints (only them) through a veth pair to this host.
link_host=stkext-h link_ns=host0
cleanup() { ip link del "$link_host" 2>/dev/null || true; }
trap cleanup EXIT
if ! ip link show "$link_host" >/dev/null 2>&1; then
  ip link add "$link_host" type veth peer name "$link_ns" netns "$extns"
fi
ip addr replace 169.254.244.1/30 dev "$link_host"
ip link set "$link_host" up
ip netns exec "$extns" ip addr replace 169.254.244.2/30 dev "$link_ns"
ip netns exec "$extns" ip link set "$link_ns" up
ip netns exec "$extns" ip route replace "$ingress/32" via 169.254.244.1
inns() { ip netns exec "$extns" "$@"; }

# 4. tempest.conf from the cloud (python-tempestconf), with what this cloud's guests need.
# Tempest's option groups are hyphenated (`compute-feature-enabled`): `compute_feature_enabled.…`
# would write a section Tempest never reads (and its config drive check ran with the default, on).
rm -rf "$work"
mkdir -p "$work"
# A workspace registry of its own (the default, ~/.tempest/workspace.yaml, refuses a second
# `init` of the same directory, so the script ran once per machine).
rm -f "$cache/workspaces.yaml"
(cd "$work" && "$venv/bin/tempest" init --workspace-path "$cache/workspaces.yaml" --name stackanetes . >/dev/null)
(
  cd "$work"
  inns "$venv/bin/discover-tempest-config" --create --out etc/tempest.conf \
    --image "$guest_disk" --image-disk-format raw \
    --flavor-min-mem 128 --flavor-min-disk 1 \
    --network-id "$public_net" \
    auth.use_dynamic_credentials true \
    validation.run_validation true \
    validation.connect_method floating \
    validation.image_ssh_user root \
    validation.image_alt_ssh_user root \
    validation.ssh_timeout 600 \
    validation.connect_timeout 120 \
    validation.ping_timeout 300 \
    compute.build_timeout 900 \
    compute-feature-enabled.metadata_service true \
    compute-feature-enabled.config_drive false \
    compute-feature-enabled.console_output true \
    network.build_timeout 600 \
    scenario.dhcp_client udhcpc
)

# 5. The tests: smoke of four services, and the two scenarios.
regex='^tempest\.(api\.(identity|image|compute|network)\..*\[.*\bsmoke\b.*\]|scenario\.test_server_basic_ops\.|scenario\.test_network_basic_ops\.TestNetworkBasicOps\.test_network_basic_ops\b)'
log=$work/tempest-run.log
rc=0
(cd "$work" && inns "$venv/bin/tempest" run --regex "$regex" --exclude-list "$exclude" --concurrency 1) 2>&1 | tee "$log" || rc=$?

# 6. What was skipped, and the totals.
echo "== skipped tests (reason):"
grep -E '\.\.\. SKIPPED' "$log" | sed -E 's/^\{[0-9]+\} //' || echo '  none'
passed=$(awk '/ - Passed:/ { print $3 }' "$log" | tail -n 1)
failed=$(awk '/ - Failed:/ { print $3 }' "$log" | tail -n 1)
skipped=$(awk '/ - Skipped:/ { print $3 }' "$log" | tail -n 1)
echo "== tempest took $(( $(date +%s) - t0 )) s; log $log"
echo "tempest: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
if [ "$rc" -ne 0 ] || [ "${failed:-0}" != 0 ] || [ -z "$passed" ]; then exit 1; fi
