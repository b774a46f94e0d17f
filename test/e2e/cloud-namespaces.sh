# Sourced by test/e2e/run.sh and test/integration/multinode/run.sh, from the repository's root
# with $node set and kubectl on the PATH: a cloud's two namespaces (src/render/namespaces.ts) —
# its own, and its data plane's, <namespace>-dataplane — and how a tier removes both.
# Owner references cannot cross namespaces: deleting the cloud's namespace deletes the
# OpenStackCloud, whose finalizer has the operator delete the data plane; without an operator the
# finalizer holds the cloud (and its namespace) until someone removes it, as README says.

# dataplane_of NAMESPACE: the data plane's namespace of a cloud in NAMESPACE.
dataplane_of() {
  "$node" -e "import('./src/render/namespaces.ts').then((m) => console.log(m.dataPlaneNamespace(process.argv[1])))" "$1"
}

namespace_exists() {
  kubectl get namespace "$1" >/dev/null 2>&1
}

# namespace_gone NAMESPACE TIMEOUT: deletes it unless it is already going, waits until it is gone.
namespace_gone() {
  local ns=$1 timeout=$2
  namespace_exists "$ns" || return 0
  # A namespace already terminating refuses a second delete (409 Conflict): it is waited for all
  # the same.
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  kubectl wait --for=delete "namespace/$ns" --timeout="$timeout" >/dev/null || ! namespace_exists "$ns"
}

# delete_cloud NAMESPACE: the cloud's namespace, then its data plane's, each gone within 10
# minutes (STACKANETES_DELETE_TIMEOUT). The operator deletes the data plane when the cloud goes;
# what it left, or all of it when no operator ran, is deleted here. When the cloud's namespace is
# still there after the wait because no operator removed its OpenStackClouds' finalizer, the
# finalizer is removed here (the data plane goes next) and the namespace waited for again.
delete_cloud() {
  local ns=$1 timeout=${STACKANETES_DELETE_TIMEOUT:-10m} dataplane clouds c t0
  t0=$(date +%s)
  dataplane=$(dataplane_of "$ns") || return
  if ! namespace_gone "$ns" "$timeout"; then
    clouds=$(kubectl -n "$ns" get openstackclouds -o name 2>/dev/null || true)
    if [ -z "$clouds" ]; then
      echo "delete_cloud: namespace $ns is still there after $timeout" >&2
      return 1
    fi
    echo "== namespace $ns still there after $timeout: no operator deleted the data plane of ${clouds//$'\n'/, }; removing their finalizers"
    for c in $clouds; do
      kubectl -n "$ns" patch "$c" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null || return
    done
    if ! namespace_gone "$ns" "$timeout"; then
      echo "delete_cloud: namespace $ns is still there after its clouds' finalizers were removed" >&2
      return 1
    fi
  fi
  if ! namespace_gone "$dataplane" "$timeout"; then
    echo "delete_cloud: namespace $dataplane is still there after $timeout" >&2
    return 1
  fi
  echo "== namespaces $ns and $dataplane deleted in $(($(date +%s) - t0)) s"
}
