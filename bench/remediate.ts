// Security remediation under load, on the deployed cloud (bench for issue 13):
//   1. Keystone built without Debian's updates is rolled on (gated), with N replicas (--replicas).
//   2. Under --rate requests/s to Keystone (a token-authenticated GET, which every API call
//      behind it makes too), `stackanetes remediate` (policy automatic): the time from the scan to
//      every Keystone pod on the fixed image, and the failed requests meanwhile.
//   3. Under the same load, `stackanetes rollout` of a Keystone image that cannot issue tokens:
//      the time until it is stopped and the cloud is as before, and the failed requests.
// Saves bench/results/remediate-<time>.json. Needs root (image builds) and a deployed cloud.
//   sudo node bench/remediate.ts [--rate 20] [--replicas 2]
import { parseArgs } from 'node:util';
import {
  cloudName,
  cloudReady,
  isReady,
  keystoneAdmin,
  namespace,
  newToken,
  pods,
  startLoad,
  summariseLoad,
  until,
} from '../test/e2e/helpers.ts';
import {
  backToRelease,
  brokenKeystone,
  byDigest,
  keystoneImages,
  patchCloud,
  stackanetes as cli,
} from '../test/e2e/remediation.ts';
import { findRecord } from '../src/images/build.ts';
import { deriveImage } from '../src/images/fix.ts';
import { cachePaths } from '../src/images/paths.ts';
import { progressLog, requireKubeconfig } from './progress.ts';
import { saveResult } from './results.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '20' },
    replicas: { type: 'string', default: '2' },
  },
});
const rate = Number(values.rate);
const replicas = Number(values.replicas);
requireKubeconfig();
const log = progressLog();

async function underLoad<T>(what: string, body: () => Promise<T>) {
  const admin = await keystoneAdmin();
  const token = await newToken(admin.url, admin.body);
  const load = startLoad(
    [
      {
        kind: 'keystone',
        method: 'GET',
        url: `${admin.url}/v3/auth/projects`,
        headers: { 'x-auth-token': token, accept: 'application/json' },
        expect: 200,
      },
    ],
    rate,
    10_000,
  );
  log(`${what} under ${rate} requests/s to Keystone`);
  const result = await body();
  const totals = await load.stop();
  return { result, totals, kinds: summariseLoad(load.lines) };
}

const cache = cachePaths();
const start = (await keystoneImages()).images;
const release = await findRecord(cache, start[0]!);
if (!release) throw new Error(`the running Keystone image ${start[0]} was not built here`);
await patchCloud({ spec: { services: { keystone: { replicas } } } });
await until(
  async () =>
    (await pods('keystone-api')).filter(isReady).length === replicas && (await cloudReady()),
  `${replicas} Keystone replicas Ready`,
  600_000,
);

log('keystone without updates');
const build = await cli(['images', 'build', '--only', 'keystone', '--without-updates']);
if (build.code !== 0) throw new Error(build.stderr.slice(-2000));
const unpatched = await findRecord(
  cache,
  'localhost:5001/stackanetes/keystone:2025.1-without-updates',
);
if (!unpatched) throw new Error('no record of the build without updates');
const onto = await cli([
  'rollout',
  cloudName,
  '-n',
  namespace,
  '--image',
  `keystone=${byDigest(unpatched)}`,
]);
if (onto.code !== 0) throw new Error(onto.stderr.slice(-2000));

await patchCloud({ spec: { remediation: { policy: 'automatic' } } });
const remediate = await underLoad('remediate', async () => {
  const r = await cli(['remediate', cloudName, '-n', namespace]);
  const { images } = await keystoneImages();
  return { ...r, images };
});
if (remediate.result.code !== 0) throw new Error(remediate.result.stderr.slice(-3000));
log(
  `remediate ${remediate.result.seconds.toFixed(0)} s; failed ${remediate.totals.failed}/${remediate.totals.sent}`,
);

const base = (await findRecord(cache, remediate.result.images[0]!))!;
const broken = await deriveImage(base, brokenKeystone.token);
const rollback = await underLoad('a keystone that cannot issue tokens', () =>
  cli(['rollout', cloudName, '-n', namespace, '--image', `keystone=${byDigest(broken)}`]),
);
log(
  `bad image stopped in ${rollback.result.seconds.toFixed(0)} s (exit ${rollback.result.code}); failed ${rollback.totals.failed}/${rollback.totals.sent}`,
);

// Back as it was: the release's image (no override), policy report, one replica.
await backToRelease(release, { services: { keystone: { replicas: 1 } } });

const file = saveResult('remediate', {
  rate,
  replicas,
  remediate: {
    seconds: remediate.result.seconds,
    exit: remediate.result.code,
    totals: remediate.totals,
    kinds: remediate.kinds,
  },
  badImage: {
    seconds: rollback.result.seconds,
    exit: rollback.result.code,
    totals: rollback.totals,
    kinds: rollback.kinds,
  },
});
log(`saved ${file}`);
