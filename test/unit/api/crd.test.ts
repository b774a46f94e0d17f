// The CRD comes from the same definition as CLI validation: it must be a valid structural
// schema, and the committed file must be exactly what the code generates.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { crd, crdYaml } from '../../../src/api/v1alpha1/crd.ts';

const committed = 'deploy/crds/stackanetes.io_openstackclouds.yaml';

test('the committed CRD matches the definition (run `npm run crd:generate` after changing the spec)', () => {
  assert.equal(readFileSync(committed, 'utf8'), crdYaml());
});

test('the CRD passes the Kubernetes CustomResourceDefinition schema', () => {
  const doc = parse(readFileSync(committed, 'utf8')) as object;
  new CustomResourceDefinition(doc as never).validate();
});

type Node = Record<string, unknown>;

function walk(node: Node, path: string, visit: (n: Node, p: string) => void): void {
  visit(node, path);
  for (const [k, v] of Object.entries((node.properties as Record<string, Node>) ?? {})) {
    walk(v, `${path}.${k}`, visit);
  }
  if (node.items) walk(node.items as Node, `${path}[]`, visit);
  if (node.additionalProperties && typeof node.additionalProperties === 'object') {
    walk(node.additionalProperties as Node, `${path}{}`, visit);
  }
}

test('the schema is structural: every node has a type or an allowed extension', () => {
  const root: Node = { ...crd().spec.versions[0]!.schema!.openAPIV3Schema! };
  const problems: string[] = [];
  walk(root, '', (n, p) => {
    const typed =
      typeof n.type === 'string' ||
      n['x-kubernetes-int-or-string'] === true ||
      n['x-kubernetes-preserve-unknown-fields'] === true;
    if (!typed) problems.push(`${p}: no type`);
    if (n.properties && n.additionalProperties)
      problems.push(`${p}: properties and additionalProperties`);
    if (n.additionalProperties === false) problems.push(`${p}: additionalProperties false`);
    if (n.anyOf && !n['x-kubernetes-int-or-string'])
      problems.push(`${p}: anyOf outside int-or-string`);
    if ('const' in n || 'patternProperties' in n || '$id' in n)
      problems.push(`${p}: non-structural keyword`);
  });
  assert.deepEqual(problems, []);
});

test('defaults in the CRD are the schema defaults (API server defaulting = CLI defaulting)', () => {
  const text = crdYaml();
  const doc = parse(text) as { spec: { versions: { schema: { openAPIV3Schema: Node } }[] } };
  const spec = (doc.spec.versions[0]!.schema.openAPIV3Schema.properties as Record<string, Node>)
    .spec!;
  const props = spec.properties as Record<string, Node>;
  assert.equal(props.region!.default, 'RegionOne');
  const images = props.images!.properties as Record<string, Node>;
  assert.equal(images.pullPolicy!.default, 'IfNotPresent');
  assert.deepEqual(images.pullPolicy!.enum, ['IfNotPresent', 'Always', 'Never']);
});
