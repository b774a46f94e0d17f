// A cloud's two namespaces. Pod Security is enforced per namespace, so the pods that need
// privileges and the node's network — the data plane: the DaemonSets on compute and network nodes
// (Open vSwitch, ovn-controller, the OVN metadata agent, nova-compute) — run apart from the control
// plane (databases, queue, cache, every API, the Jobs), which stays in the cloud's own namespace,
// labelled to enforce "restricted". The data plane's namespace, `<namespace>-dataplane`, allows
// "privileged". Owner references cannot cross namespaces: the data plane's objects name their
// cloud by labels (its name as `app.kubernetes.io/instance`, its namespace as cloudNamespaceLabel)
// and the operator deletes them itself when the cloud goes.

export const dataPlaneSuffix = '-dataplane';

/** The data plane's namespace of a cloud in `namespace`. */
export function dataPlaneNamespace(namespace: string): string {
  return `${namespace}${dataPlaneSuffix}`;
}

/** Kubernetes limits namespace names to 63 characters: the cloud's can have 63 minus the suffix. */
export const maxCloudNamespaceLength = 63 - dataPlaneSuffix.length;

/**
 * Why `namespace` cannot hold a cloud, or undefined when it can: it must leave room for the data
 * plane's, `<namespace>-dataplane`, in 63 characters, and must not itself be a data plane's (a
 * cloud there would share it with the cloud it belongs to). Validation, render and `apply -n` all
 * ask this.
 */
export function cloudNamespaceProblem(namespace: string): string | undefined {
  if (namespace.endsWith(dataPlaneSuffix))
    return `must not end in ${JSON.stringify(dataPlaneSuffix)}: ${JSON.stringify(namespace)} is where the data plane of a cloud in ${JSON.stringify(namespace.slice(0, -dataPlaneSuffix.length))} runs`;
  if (namespace.length > maxCloudNamespaceLength)
    return `must be at most ${maxCloudNamespaceLength} characters (got ${namespace.length}): the cloud's data plane runs in ${JSON.stringify(dataPlaneNamespace(namespace))}, and a namespace name has at most 63`;
  return undefined;
}

/** On the data plane's objects: the namespace of the cloud they belong to. */
export const cloudNamespaceLabel = 'stackanetes.io/cloud-namespace';

/**
 * The namespace of the cloud an object belongs to: the label's for the data plane's objects (in a
 * namespace of their own), else the object's own.
 */
export function cloudNamespaceOf(metadata: {
  namespace?: string;
  labels?: Record<string, string>;
}): string | undefined {
  return metadata.labels?.[cloudNamespaceLabel] ?? metadata.namespace;
}

/** Pod Security admission's label, and the levels the two namespaces enforce. */
export const podSecurityEnforceLabel = 'pod-security.kubernetes.io/enforce';
export const controlPlaneLevel = 'restricted';
export const dataPlaneLevel = 'privileged';
