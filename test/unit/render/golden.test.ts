// Golden files: every change to rendered output shows up in review. Rendering is pure, so two
// renders of the same input are byte-identical. Regenerate with `npm run golden:update`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { toYaml } from '../../../src/cli/render.ts';
import { renderExample } from './fixtures.ts';

for (const name of ['minimal', 'ha', 'production'] as const) {
  test(`examples/${name}.yaml renders exactly as test/golden/${name}.yaml`, () => {
    const first = toYaml(renderExample(name));
    const second = toYaml(renderExample(name));
    assert.equal(first, second, 'two renders differ');
    const file = `test/golden/${name}.yaml`;
    if (process.env.UPDATE_GOLDEN) {
      mkdirSync('test/golden', { recursive: true });
      writeFileSync(file, first);
    }
    assert.ok(existsSync(file), `${file} is missing; run npm run golden:update`);
    assert.equal(
      first,
      readFileSync(file, 'utf8'),
      `${file} is out of date; review the diff and run npm run golden:update`,
    );
  });
}
