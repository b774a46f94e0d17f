// The catalog's facts agree with one another: what a component needs before it is applied
// covers the backends its services use, and every endpoint is served by a process with a port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getCatalog, knownReleases } from '../../../src/catalog/index.ts';

for (const release of knownReleases()) {
  const catalog = getCatalog(release);

  test(`${release}: a service waits for the database and the queue it uses, and only those`, () => {
    for (const def of Object.values(catalog.services)) {
      const needs = catalog.needs[def.component];
      assert.equal(needs.includes('database'), def.databases.length > 0, def.component);
      assert.equal(needs.includes('messaging'), def.messaging, def.component);
    }
  });

  test(`${release}: every endpoint is served by a process of its service that has a port`, () => {
    for (const def of Object.values(catalog.services)) {
      for (const e of def.endpoints) {
        const proc = def.processes.find((p) => p.name === e.process);
        assert.ok(proc?.ports[0], `${def.component} endpoint ${e.name}: process ${e.process}`);
      }
    }
  });
}
