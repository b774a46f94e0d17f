// Kubernetes Events on the OpenStackCloud for every step, as `kubectl describe` shows them.
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../render/kube.ts';
import type { EventRecorder } from './cloud.ts';

export class EventsRecorder implements EventRecorder {
  readonly #client: KubeClient;
  readonly #component: string;

  constructor(client: KubeClient, component = 'stackanetes-operator') {
    this.#client = client;
    this.#component = component;
  }

  async record(
    cloud: KubeObject,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    const now = new Date().toISOString();
    await this.#client.create({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: {
        generateName: `${cloud.metadata.name}.`,
        namespace: cloud.metadata.namespace,
        name: '',
      },
      involvedObject: {
        apiVersion: cloud.apiVersion,
        kind: cloud.kind,
        name: cloud.metadata.name,
        namespace: cloud.metadata.namespace,
        uid: cloud.metadata.uid,
      },
      reason,
      message: message.slice(0, 1024),
      type,
      source: { component: this.#component },
      reportingComponent: this.#component,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    });
  }
}
