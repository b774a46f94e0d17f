// The CustomResourceDefinition, generated from the same TypeBox definitions the CLI validates
// with, turned into a structural OpenAPI v3 schema (as apiextensions.k8s.io/v1 requires).
import type { IValidationRule } from 'kubernetes-models/apiextensions.k8s.io/v1/ValidationRule';
import type { ICustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { stringify } from 'yaml';
import { knownReleases } from '../../catalog/index.ts';
import { allowedPairs } from '../../catalog/upgrades.ts';
import type { KubeObject } from '../../render/kube.ts';
import {
  OpenStackCloudMetadata,
  OpenStackCloudSpec,
  OpenStackCloudStatus,
  group,
  kind,
  plural,
  version,
} from './spec.ts';

type Json = Record<string, unknown>;

const dropped = new Set([
  '$id',
  'additionalProperties',
  'patternProperties',
  'anyOf',
  'const',
  'type',
  'properties',
  'items',
  'required',
]);

/** Converts one TypeBox/JSON Schema node to a structural schema node. */
export function structural(schema: Json): Json {
  const out: Json = {};
  if (schema['x-kubernetes-int-or-string']) {
    out['x-kubernetes-int-or-string'] = true;
    out.anyOf = [{ type: 'integer' }, { type: 'string' }];
    if (schema.description) out.description = schema.description;
    return out;
  }
  if (schema['x-kubernetes-preserve-unknown-fields']) {
    return { 'x-kubernetes-preserve-unknown-fields': true };
  }
  // A list of objects keyed by a field (conditions by type): several field managers may each own
  // their own entries, as Kubernetes declares its own condition lists.
  for (const k of ['x-kubernetes-list-type', 'x-kubernetes-list-map-keys']) {
    if (schema[k] !== undefined) out[k] = schema[k];
  }
  const anyOf = schema.anyOf as Json[] | undefined;
  if (anyOf) {
    const consts = anyOf.map((b) => b.const);
    if (consts.every((c) => typeof c === 'string')) {
      out.type = 'string';
      out.enum = consts;
    } else {
      throw new Error(`cannot express union ${JSON.stringify(schema)} structurally`);
    }
  } else if (schema.const !== undefined) {
    out.type = typeof schema.const;
    out.enum = [schema.const];
  } else if (schema.type) {
    out.type = schema.type;
  }
  for (const [k, v] of Object.entries(schema)) {
    if (dropped.has(k) || k.startsWith('x-')) continue;
    out[k] = v;
  }
  if (schema.type === 'object') {
    const props = schema.properties as Record<string, Json> | undefined;
    const pattern = schema.patternProperties as Record<string, Json> | undefined;
    if (props) {
      out.properties = Object.fromEntries(
        Object.entries(props).map(([k, v]) => [k, structural(v)]),
      );
      // A field with a default is filled in by the API server, so it is not required of the
      // user (and an object's own default, often {}, must validate without it).
      const required = (schema.required as string[] | undefined)?.filter(
        (k) => props[k]?.default === undefined,
      );
      if (required?.length) out.required = required;
    } else if (pattern) {
      const [inner] = Object.values(pattern);
      out.additionalProperties = structural(inner!);
    } else if (typeof schema.additionalProperties === 'object') {
      out.additionalProperties = structural(schema.additionalProperties as Json);
    }
  }
  if (schema.type === 'array' && schema.items) out.items = structural(schema.items as Json);
  return out;
}

function plain(schema: unknown): Json {
  // TypeBox keeps its bookkeeping under symbols; a JSON round trip leaves the schema alone.
  return JSON.parse(JSON.stringify(schema)) as Json;
}

/** The OpenStackCloud CRD: an object Stackanetes applies like any other. */
export type CustomResourceDefinition = ICustomResourceDefinition & KubeObject;

/**
 * Admission rules on updates (CEL transition rules, checked by the API server itself): spec.release
 * moves only along an upgrade path upstream supports to a release the catalog knows, and not at
 * all while an upgrade runs. `stackanetes apply` and the operator check the same before acting.
 */
export function releaseRules(): { spec: IValidationRule[]; root: IValidationRule[] } {
  const pairs = allowedPairs(knownReleases());
  const paths = pairs.map((p) => p.replace('>', ' → ')).join(', ');
  return {
    spec: [
      {
        rule: `self.release == oldSelf.release || (oldSelf.release + '>' + self.release) in ${JSON.stringify(pairs)}`,
        message: `spec.release may change only along an upgrade path upstream supports (the next release, or SLURP to the next SLURP) to a release Stackanetes knows: ${paths || 'none'}; downgrades are refused`,
        fieldPath: '.release',
        reason: 'FieldValueForbidden' as const,
      },
    ],
    root: [
      {
        rule: '!has(oldSelf.status) || !has(oldSelf.status.upgrade) || has(oldSelf.status.upgrade.finishedAt) || self.spec.release == oldSelf.spec.release',
        message:
          'spec.release cannot change while an upgrade is running (status.upgrade has not finished); wait until it has',
        fieldPath: '.spec.release',
        reason: 'FieldValueForbidden' as const,
      },
    ],
  };
}

export function crd(): CustomResourceDefinition {
  const rules = releaseRules();
  const spec = { ...structural(plain(OpenStackCloudSpec)), 'x-kubernetes-validations': rules.spec };
  const status = structural(plain(OpenStackCloudStatus));
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      names: {
        kind,
        listKind: `${kind}List`,
        plural,
        singular: kind.toLowerCase(),
        shortNames: ['osc', 'cloud'],
        categories: ['stackanetes'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Release', type: 'string', jsonPath: '.spec.release' },
            {
              name: 'Ready',
              type: 'string',
              jsonPath: ".status.conditions[?(@.type=='Ready')].status",
            },
            {
              name: 'Reason',
              type: 'string',
              jsonPath: ".status.conditions[?(@.type=='Ready')].reason",
            },
            // How long ago an operator last looked: a large value means none is running.
            { name: 'Reconciled', type: 'date', jsonPath: '.status.lastReconcileTime' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description:
                'OpenStackCloud is one OpenStack cloud deployed and kept running by Stackanetes.',
              required: ['spec'],
              'x-kubernetes-validations': rules.root,
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: {
                  type: 'object',
                  properties: {
                    name: structural(plain(OpenStackCloudMetadata.properties.name)),
                  },
                },
                spec,
                status,
              },
            },
          },
        },
      ],
    },
  };
}

export function crdYaml(): string {
  return stringify(crd(), { lineWidth: 0, aliasDuplicateObjects: false });
}
