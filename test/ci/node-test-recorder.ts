// Stands in for `node:test` while test/ci/count.ts imports test files: `test` and `it` record a
// test, `describe` and `suite` run their body to find the tests in it, hooks do nothing.
let tests = 0;
const bodies: Promise<unknown>[] = [];

type Fn = (...args: unknown[]) => unknown;
const bodyOf = (args: unknown[]): Fn | undefined =>
  args.find((a): a is Fn => typeof a === 'function');

function recordTest(..._args: unknown[]): Promise<void> {
  tests++;
  return Promise.resolve();
}

function recordSuite(...args: unknown[]): Promise<void> {
  const body = bodyOf(args);
  const out = body?.({});
  if (out instanceof Promise) bodies.push(out);
  return Promise.resolve();
}

const nothing = (..._args: unknown[]): void => {};
const variants = <T extends (...args: unknown[]) => unknown>(fn: T) =>
  Object.assign(fn, { skip: fn, todo: fn, only: fn });

export const test = variants(recordTest);
export const it = test;
export const describe = variants(recordSuite);
export const suite = describe;
export const before = nothing;
export const after = nothing;
export const beforeEach = nothing;
export const afterEach = nothing;
export const mock = new Proxy({}, { get: () => nothing });
export default test;

/** The number of tests declared since the last call, once every async suite body has finished. */
export async function declared(): Promise<number> {
  while (bodies.length > 0) await bodies.shift();
  const n = tests;
  tests = 0;
  return n;
}
