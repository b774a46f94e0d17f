// Wrapper modules repeat what `go install` refuses: every replace directive of the upstream go.mod.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { localReplaces, replaces } from '../../../src/cluster/gobuild.ts';

const goMod = `module github.com/traefik/traefik/v3

go 1.26.0

require github.com/gorilla/mux v1.8.1

// Sibling module, not published on its own.
replace github.com/traefik/traefik/dynamic/ext => ./pkg/config/dynamic/ext

replace (
	github.com/abbot/go-http-auth => github.com/containous/go-http-auth v0.4.1-0.20260804094822-b975dcaa8c48
	github.com/gorilla/mux v1.8.1 => github.com/containous/mux v0.0.0-20250523120546-41b6ec3aed59 // fork
)
`;

test('every replace directive is read: local paths and forks with their versions', () => {
  assert.deepEqual(replaces(goMod), [
    {
      module: 'github.com/abbot/go-http-auth',
      target: 'github.com/containous/go-http-auth',
      version: 'v0.4.1-0.20260804094822-b975dcaa8c48',
    },
    {
      module: 'github.com/gorilla/mux',
      target: 'github.com/containous/mux',
      version: 'v0.0.0-20250523120546-41b6ec3aed59',
    },
    { module: 'github.com/traefik/traefik/dynamic/ext', target: './pkg/config/dynamic/ext' },
  ]);
  assert.deepEqual(
    localReplaces(goMod).map((r) => r.module),
    ['github.com/traefik/traefik/dynamic/ext'],
  );
});
