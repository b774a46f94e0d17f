// A package that cannot be installed fails the build with a message naming the image and the
// package, and points at the full log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { buildImages, ImageBuildError } from '../../../src/images/build.ts';
import { releaseRecipes, type ImageRecipe } from '../../../src/images/recipes.ts';
import { release } from './helpers.ts';

void test(
  'a missing package names the image and the package',
  { timeout: 30 * 60_000 },
  async () => {
    const real = releaseRecipes(release);
    const broken: ImageRecipe = {
      name: 'memcached',
      parent: 'base',
      packages: ['memcached', 'stackanetes-no-such-package'],
      user: 'memcached',
      description: 'memcached with a package Debian does not have',
    };
    const recipes = {
      ...real,
      recipes: [...real.recipes.filter((r) => r.name !== 'memcached'), broken],
    };
    let logFile = '';
    await assert.rejects(
      buildImages({
        release,
        only: ['memcached'],
        recipes,
        push: false,
        registry: 'localhost/stackanetes-test',
      }),
      (err: unknown) => {
        assert.ok(err instanceof ImageBuildError, String(err));
        assert.equal(err.image, 'memcached');
        assert.match(
          err.message,
          /^image memcached: installing package stackanetes-no-such-package: E: Unable to locate package stackanetes-no-such-package/,
        );
        logFile = err.logFile;
        return true;
      },
    );
    assert.match(
      await readFile(logFile, 'utf8'),
      /apt-get install memcached stackanetes-no-such-package/,
    );
  },
);
