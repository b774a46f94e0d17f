// Validation of an OpenStackCloud document: YAML → schema (with defaults) → semantic checks.
// Every problem is reported with the field path a person would look for, never a stack trace.
import { Value } from '@sinclair/typebox/value';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import type { TSchema } from '@sinclair/typebox';
import { parseAllDocuments } from 'yaml';
import {
  OpenStackCloud,
  labelKeyPattern,
  labelValuePattern,
  serviceNames,
  type LabelSelector,
  type ServiceName,
} from './spec.ts';
import { getCatalog, knownReleases } from '../../catalog/index.ts';
import { cloudNamespaceProblem } from '../../render/namespaces.ts';
import { tunnelBridge } from '../../render/openstack/ovn.ts';

export interface Problem {
  /** Dotted field path, e.g. `spec.services.nova.replicas`; empty for the document itself. */
  readonly path: string;
  readonly message: string;
}

export type Validated =
  | { readonly ok: true; readonly cloud: OpenStackCloud }
  | { readonly ok: false; readonly problems: Problem[] };

export class ValidationError extends Error {
  readonly problems: Problem[];
  constructor(source: string, problems: Problem[]) {
    super(
      `${source} is not a valid OpenStackCloud:\n` +
        problems.map((p) => `  - ${p.path || '(document)'}: ${p.message}`).join('\n'),
    );
    this.name = 'ValidationError';
    this.problems = problems;
  }
}

/** Parses YAML text holding exactly one OpenStackCloud and validates it. */
export function validateText(text: string): Validated {
  if (text.trim() === '') {
    return fail('', 'the file is empty; expected one OpenStackCloud document');
  }
  const docs = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(docs)) return fail('', 'could not parse the YAML');
  const problems: Problem[] = [];
  for (const doc of docs) {
    for (const e of doc.errors) {
      const where = e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : '';
      problems.push({
        path: '',
        message: `YAML ${where ? `at ${where}` : ''}: ${firstLine(e.message)}`,
      });
    }
  }
  if (problems.length > 0) return { ok: false, problems };
  const nonEmpty = docs.filter((d) => d.contents !== null);
  if (nonEmpty.length !== 1) {
    return fail('', `expected exactly one YAML document, found ${nonEmpty.length}`);
  }
  return validateObject(nonEmpty[0]!.toJS({ maxAliasCount: 100 }));
}

/**
 * Validates a cloud as read from the cluster: its status and the metadata the API server adds
 * (uid, generation, managedFields, …) are not the user's and are left out.
 */
export function validateLive(cloud: {
  metadata: { name: string; namespace?: string };
  status?: unknown;
}): Validated {
  const { metadata, status: _status, ...doc } = cloud;
  return validateObject({
    ...doc,
    metadata: { name: metadata.name, namespace: metadata.namespace },
  });
}

/** Validates a parsed document; on success returns it with every default filled in. */
export function validateObject(input: unknown): Validated {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return fail(
      '',
      `expected a mapping (apiVersion, kind, metadata, spec), got ${describe(input)}`,
    );
  }
  const doc = structuredClone(input) as Record<string, unknown>;
  const head: Problem[] = [];
  if (doc.apiVersion !== OpenStackCloud.properties.apiVersion.const) {
    head.push({
      path: 'apiVersion',
      message: `must be ${OpenStackCloud.properties.apiVersion.const} (got ${describe(doc.apiVersion)})`,
    });
  }
  if (doc.kind !== OpenStackCloud.properties.kind.const) {
    head.push({
      path: 'kind',
      message: `must be ${OpenStackCloud.properties.kind.const} (got ${describe(doc.kind)})`,
    });
  }
  if (head.length > 0) return { ok: false, problems: head };

  const withDefaults = Value.Default(OpenStackCloud, doc);
  const problems = schemaProblems(OpenStackCloud, withDefaults);
  if (problems.length > 0) return { ok: false, problems };
  const cloud = withDefaults as OpenStackCloud;
  const semantic = semanticProblems(cloud);
  if (semantic.length > 0) return { ok: false, problems: semantic };
  return { ok: true, cloud };
}

/** Like validateText, but throws a ValidationError naming `source`. */
export function parseCloud(text: string, source: string): OpenStackCloud {
  const r = validateText(text);
  if (!r.ok) throw new ValidationError(source, r.problems);
  return r.cloud;
}

function schemaProblems(schema: TSchema, value: unknown): Problem[] {
  const seen = new Set<string>();
  const out: Problem[] = [];
  for (const e of Value.Errors(schema, value)) {
    const path = pointerToPath(e.path);
    // A bad value inside a union reports once for the union and again per branch: keep one.
    if ([...seen].some((p) => p === path || path.startsWith(`${p}.`))) continue;
    seen.add(path);
    out.push({ path, message: explain(e) });
    if (out.length >= 20) break;
  }
  return out;
}

function explain(e: ValueError): string {
  const s = e.schema as Record<string, unknown>;
  const got = describe(e.value);
  switch (e.type) {
    case ValueErrorType.ObjectAdditionalProperties:
      return `unknown field; allowed here: ${Object.keys((s.properties as object | undefined) ?? {}).join(', ') || '(none)'}`;
    case ValueErrorType.ObjectRequiredProperty:
      return 'required field is missing';
    case ValueErrorType.Union: {
      const literals = ((s.anyOf as Record<string, unknown>[] | undefined) ?? [])
        .map((b) => b.const)
        .filter((c) => c !== undefined);
      if (literals.length > 0) {
        return `must be one of ${literals.map((l) => JSON.stringify(l)).join(', ')} (got ${got})`;
      }
      if (s[`x-kubernetes-int-or-string`]) {
        return `must be a quantity such as 500m, 2 or 1Gi (got ${got})`;
      }
      return `must be a string, number, boolean or list of strings on one line (got ${got})`;
    }
    case ValueErrorType.Literal:
      return `must be ${JSON.stringify(s.const)} (got ${got})`;
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.NumberMinimum:
      return `must be at least ${String(s.minimum)} (got ${got})`;
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.NumberMaximum:
      return `must be at most ${String(s.maximum)} (got ${got})`;
    case ValueErrorType.Integer:
      return `must be a whole number (got ${got})`;
    case ValueErrorType.StringPattern:
      return `has an invalid format (got ${got}); ${patternHint(e.path)}`;
    case ValueErrorType.StringMinLength:
      return `must not be empty`;
    case ValueErrorType.StringMaxLength:
      return `must be at most ${String(s.maxLength)} characters (got ${String(e.value).length})`;
    case ValueErrorType.String:
      return `must be a string (got ${got})`;
    case ValueErrorType.Boolean:
      return `must be true or false (got ${got})`;
    case ValueErrorType.Object:
      return `must be a mapping (got ${got})`;
    case ValueErrorType.Array:
      return `must be a list (got ${got})`;
    default:
      return `${e.message} (got ${got})`;
  }
}

function patternHint(pointer: string): string {
  if (/matchLabels|matchExpressions|labels/.test(pointer)) {
    return 'label keys are [prefix/]name and values at most 63 of A-Z a-z 0-9 - _ . starting and ending alphanumeric';
  }
  if (/\/config\//.test(pointer)) {
    return 'config sections and keys may not contain [ ] = or line breaks; values may not contain line breaks';
  }
  if (/size/.test(pointer)) return 'expected a size such as 10Gi';
  if (/images/.test(pointer))
    return 'expected an image tag such as 2025.1 or a digest sha256:<64 hex>';
  if (/[iI]nterface$/.test(pointer)) {
    return 'expected a Linux interface name: 1 to 15 of A-Z a-z 0-9 _ . -';
  }
  if (/\/url$/.test(pointer)) return 'expected http(s)://host[:port][/path]';
  if (/metadata\/name|namespace/.test(pointer)) {
    return 'expected a DNS label: lower-case letters, digits and -';
  }
  return 'see `stackanetes crd` for the schema';
}

/** Checks the schema cannot express, one function per rule, in the order they are reported. */
const semanticRules: readonly ((spec: OpenStackCloud['spec']) => Problem[])[] = [
  releaseProblems,
  galeraProblems,
  nodeRoleProblems,
  dependencyProblems,
  configProblems,
  horizonProblems,
  imageOverrideProblems,
  tunnelProblems,
  fencingProblems,
];

function semanticProblems(cloud: OpenStackCloud): Problem[] {
  return [...namespaceProblems(cloud), ...semanticRules.flatMap((rule) => rule(cloud.spec))];
}

/** The namespace can hold a cloud beside its data plane's (namespaces.ts). */
function namespaceProblems(cloud: OpenStackCloud): Problem[] {
  const ns = cloud.metadata.namespace;
  const problem = ns === undefined ? undefined : cloudNamespaceProblem(ns);
  return problem ? [{ path: 'metadata.namespace', message: problem }] : [];
}

/** The release is one the catalog knows. */
function releaseProblems(s: OpenStackCloud['spec']): Problem[] {
  const releases = knownReleases();
  if (releases.includes(s.release)) return [];
  return [
    {
      path: 'spec.release',
      message: `unknown release ${JSON.stringify(s.release)}; known releases: ${releases.join(', ')}`,
    },
  ];
}

/** A Galera cluster has an odd number of members. */
function galeraProblems(s: OpenStackCloud['spec']): Problem[] {
  const db = s.infrastructure.database.replicas;
  if (db <= 1 || db % 2 === 1) return [];
  return [
    {
      path: 'spec.infrastructure.database.replicas',
      message: `a Galera cluster needs an odd number of members to keep quorum (got ${db}); use 1, 3 or 5`,
    },
  ];
}

/** Each node role selects some nodes, with valid labels and expressions. */
function nodeRoleProblems(s: OpenStackCloud['spec']): Problem[] {
  return (['controlPlane', 'compute', 'network'] as const).flatMap((role) =>
    selectorProblems(`spec.nodeRoles.${role}`, s.nodeRoles[role]),
  );
}

/** What each enabled service needs (the release's catalog) is enabled too. */
function dependencyProblems(s: OpenStackCloud['spec']): Problem[] {
  if (!knownReleases().includes(s.release)) return [];
  const needs = getCatalog(s.release).needs;
  const isService = (c: string): c is ServiceName => (serviceNames as string[]).includes(c);
  const out: Problem[] = [];
  for (const svc of serviceNames) {
    if (!s.services[svc].enabled) continue;
    for (const d of needs[svc].filter(isService)) {
      if (!s.services[d].enabled) {
        out.push({
          path: `spec.services.${d}.enabled`,
          message: `${svc} is enabled and needs ${d}; enable ${d} or disable ${svc}`,
        });
      }
    }
  }
  return out;
}

/** Config overrides have section and key names an INI file can hold, and no empty sections. */
function configProblems(s: OpenStackCloud['spec']): Problem[] {
  const out: Problem[] = [];
  for (const svc of serviceNames) {
    const cfg = s.services[svc].config;
    for (const [section, keys] of Object.entries(cfg)) {
      const at = `spec.services.${svc}.config`;
      if (!configName.test(section) || section.length > 128) {
        out.push({
          path: `${at}[${JSON.stringify(section)}]`,
          message: 'invalid section name: it may not contain [ ] or line breaks',
        });
        continue;
      }
      for (const key of Object.keys(keys)) {
        if (!configKey.test(key) || key.length > 256) {
          out.push({
            path: `${at}.${section}[${JSON.stringify(key)}]`,
            message: 'invalid key: it may not contain = [ ] or line breaks',
          });
        }
      }
      if (Object.keys(keys).length === 0) {
        out.push({
          path: `spec.services.${svc}.config.${section}`,
          message: 'section has no keys; remove it or add key: value pairs',
        });
      }
    }
  }
  return out;
}

/** Horizon's local_settings.py is Python, not INI: one section, `settings`, of Python names. */
function horizonProblems(s: OpenStackCloud['spec']): Problem[] {
  const out: Problem[] = [];
  for (const [section, keys] of Object.entries(s.services.horizon.config)) {
    const at = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(section)
      ? `spec.services.horizon.config.${section}`
      : `spec.services.horizon.config[${JSON.stringify(section)}]`;
    if (section !== 'settings') {
      out.push({
        path: at,
        message:
          'Horizon takes overrides only in the section "settings" (Django settings, e.g. settings: {SESSION_TIMEOUT: 3600})',
      });
      continue;
    }
    for (const key of Object.keys(keys)) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
        out.push({
          path: `${at}[${JSON.stringify(key)}]`,
          message: 'a setting name must be a Python identifier such as SESSION_TIMEOUT',
        });
      } else if (key === 'SECRET_KEY') {
        out.push({
          path: `${at}.${key}`,
          message: "SECRET_KEY comes from the cloud's generated secrets; remove it here",
        });
      }
    }
  }
  return out;
}

/** An image override names a tag or a digest, not both. */
function imageOverrideProblems(s: OpenStackCloud['spec']): Problem[] {
  const out: Problem[] = [];
  const tag = s.images.overrides;
  for (const [name, o] of Object.entries(tag ?? {})) {
    if (o?.tag && o.digest) {
      out.push({
        path: `spec.images.overrides.${name}`,
        message: 'set either tag or digest, not both',
      });
    }
  }
  return out;
}

const labelKey = new RegExp(labelKeyPattern);
const labelValue = new RegExp(labelValuePattern);
const configName = /^[^[\]\r\n]+$/;
const configKey = /^[^=[\]\r\n]+$/;

function selectorProblems(path: string, sel: LabelSelector): Problem[] {
  const out: Problem[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    if (!labelKey.test(k) || k.length > 316) {
      out.push({
        path: `${path}.matchLabels[${JSON.stringify(k)}]`,
        message:
          'invalid label key: expected [prefix/]name of A-Z a-z 0-9 - _ . (name at most 63 characters)',
      });
    } else if (!labelValue.test(v)) {
      out.push({
        path: `${path}.matchLabels.${k}`,
        message: `invalid label value ${JSON.stringify(v)}: at most 63 of A-Z a-z 0-9 - _ . starting and ending alphanumeric`,
      });
    }
  }
  const labels = Object.keys(sel.matchLabels ?? {}).length;
  const exprs = sel.matchExpressions ?? [];
  if (labels === 0 && exprs.length === 0) {
    out.push({ path, message: 'selects every node; give matchLabels or matchExpressions' });
  }
  exprs.forEach((e, i) => {
    const p = `${path}.matchExpressions[${i}]`;
    const n = e.values?.length ?? 0;
    if ((e.operator === 'In' || e.operator === 'NotIn') && n === 0) {
      out.push({ path: `${p}.values`, message: `operator ${e.operator} needs at least one value` });
    }
    if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && n > 0) {
      out.push({ path: `${p}.values`, message: `operator ${e.operator} takes no values` });
    }
  });
  return out;
}

function pointerToPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return typeof v;
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

function fail(path: string, message: string): Validated {
  return { ok: false, problems: [{ path, message }] };
}

/**
 * The tunnel interface goes onto br-phy: it cannot also be the external network's uplink (on
 * br-ex), nor carry the name of a bridge Open vSwitch makes on the node.
 */
function tunnelProblems(s: OpenStackCloud['spec']): Problem[] {
  const { tunnelInterface, provider } = s.services.neutron;
  if (tunnelInterface === undefined) return [];
  const path = 'spec.services.neutron.tunnelInterface';
  if (tunnelInterface === provider.interface)
    return [
      {
        path,
        message: `${tunnelInterface} is also spec.services.neutron.provider.interface (the external network's uplink on ${provider.bridge}); tunnels need an interface of their own`,
      },
    ];
  const bridges = ['br-int', tunnelBridge, provider.bridge];
  if (bridges.includes(tunnelInterface))
    return [
      {
        path,
        message: `${tunnelInterface} is the name of a bridge Open vSwitch makes on each node (${bridges.join(', ')}); name the node's interface that carries tunnels`,
      },
    ];
  return [];
}

/** Fencing by Redfish needs its settings; settings for a method not chosen would be ignored. */
function fencingProblems(s: OpenStackCloud['spec']): Problem[] {
  const { method, redfish } = s.healing.fencing;
  const path = 'spec.healing.fencing.redfish';
  if (method === 'redfish' && !redfish)
    return [
      {
        path,
        message:
          'method is redfish: give url, secretName (a Secret with username and password) and optionally systemId',
      },
    ];
  if (method !== 'redfish' && redfish)
    return [
      {
        path,
        message: `method is ${method}, so these settings would be ignored: set spec.healing.fencing.method: redfish, or remove them`,
      },
    ];
  return [];
}
