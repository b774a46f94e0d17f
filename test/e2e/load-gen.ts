// A load generator for the cloud, run as a child process (startLoad in helpers.ts) so that its
// timers and sockets do not compete with the parent's polling. Sends the requests described in
// the environment (LOAD_REQUESTS: a JSON list of {kind, method, url, headers, body, expect}; it
// holds a password or a token, so it is not on the command line) at a fixed total rate, taking
// the kinds in turn (open loop: a slow answer does not delay the next request; every request
// opens its own connection). Prints one JSON line per second of sending, once every request
// sent in that second has been answered or has failed:
//   {"t":<epoch ms of the second>,"sent":5,"ok":5,"failed":0,"errors":{},"p50Ms":130,"maxMs":480,
//    "kinds":{"token":{"sent":2,"ok":2,"failed":0,"errors":{},"ms":[120,140]},...}}
// and at the end (stdin closed, "stop" on stdin, or SIGTERM/SIGINT): {"done":true,...totals}.
// Usage: LOAD_REQUESTS='[...]' node test/e2e/load-gen.ts --rate 5 [--timeout-ms 10000]
import http from 'node:http';
import { parseArgs } from 'node:util';

interface LoadRequest {
  kind: string;
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** The HTTP status of a success. */
  expect: number;
}

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '5' },
    'timeout-ms': { type: 'string', default: '10000' },
  },
});
const requests = JSON.parse(process.env.LOAD_REQUESTS ?? '[]') as LoadRequest[];
if (requests.length === 0) {
  console.error('usage: LOAD_REQUESTS=<json list> node test/e2e/load-gen.ts [--rate 5]');
  process.exit(2);
}
const rate = Number(values.rate);
const timeoutMs = Number(values['timeout-ms']);
const intervalMs = 1000 / rate;

interface Tally {
  sent: number;
  ok: number;
  failed: number;
  errors: Record<string, number>;
  ms: number[];
}
interface Bucket extends Tally {
  t: number;
  settled: number;
  kinds: Record<string, Tally>;
}

const tally = (): Tally => ({ sent: 0, ok: 0, failed: 0, errors: {}, ms: [] });
const started = Date.now();
const buckets = new Map<number, Bucket>();
let nextToEmit = 0;
let sent = 0;
let inFlight = 0;
let stopping = false;
const totals = { sent: 0, ok: 0, failed: 0, errors: {} as Record<string, number> };

function bucket(i: number): Bucket {
  let b = buckets.get(i);
  if (!b) {
    b = { t: started + i * 1000, settled: 0, kinds: {}, ...tally() };
    buckets.set(i, b);
  }
  return b;
}

/** One request; resolves to null on the expected status, else a short reason. */
function issue(r: LoadRequest): Promise<string | null> {
  return new Promise((resolve) => {
    const req = http.request(r.url, {
      method: r.method,
      agent: false,
      headers: {
        ...r.headers,
        ...(r.body !== undefined ? { 'content-length': Buffer.byteLength(r.body) } : {}),
      },
    });
    const timer = setTimeout(
      () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })),
      timeoutMs,
    );
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => {
        clearTimeout(timer);
        resolve(res.statusCode === r.expect ? null : `HTTP ${res.statusCode}`);
      });
      res.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve(`${err.code ?? err.message} (in response)`);
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? err.message);
    });
    req.end(r.body);
  });
}

function count(t: Tally, err: string | null, ms: number): void {
  t.ms.push(ms);
  if (err === null) t.ok++;
  else {
    t.failed++;
    t.errors[err] = (t.errors[err] ?? 0) + 1;
  }
}

function send(): void {
  const r = requests[sent % requests.length]!;
  const at = Date.now();
  const b = bucket(Math.floor((at - started) / 1000));
  const k = (b.kinds[r.kind] ??= tally());
  b.sent++;
  k.sent++;
  sent++;
  totals.sent++;
  inFlight++;
  void issue(r).then((err) => {
    const ms = Date.now() - at;
    inFlight--;
    b.settled++;
    count(b, err, ms);
    count(k, err, ms);
    if (err === null) totals.ok++;
    else {
      totals.failed++;
      totals.errors[err] = (totals.errors[err] ?? 0) + 1;
    }
    flush();
  });
}

/** Prints the buckets whose second is over and whose requests have all settled, in order. */
function flush(): void {
  const current = stopping
    ? Math.max(-1, ...buckets.keys()) + 1
    : Math.floor((Date.now() - started) / 1000);
  for (; nextToEmit < current; nextToEmit++) {
    const b = buckets.get(nextToEmit);
    if (!b) continue; // nothing was sent in that second (rates under 1/s)
    if (b.settled < b.sent) break;
    const lat = [...b.ms].sort((x, y) => x - y);
    const line = {
      t: b.t,
      sent: b.sent,
      ok: b.ok,
      failed: b.failed,
      errors: b.errors,
      p50Ms: lat[Math.floor(lat.length / 2)] ?? 0,
      maxMs: lat.at(-1) ?? 0,
      kinds: b.kinds,
    };
    process.stdout.write(JSON.stringify(line) + '\n');
    buckets.delete(nextToEmit);
  }
}

// Open loop: every tick sends the requests that are due, so timer lateness does not lower the rate.
const tick = setInterval(
  () => {
    if (stopping) return;
    const due = Math.floor((Date.now() - started) / intervalMs) + 1;
    while (sent < due) send();
    flush();
  },
  Math.max(5, Math.min(50, intervalMs / 2)),
);

function stop(): void {
  if (stopping) return;
  stopping = true;
  clearInterval(tick);
  const wait = setInterval(() => {
    if (inFlight > 0) return;
    clearInterval(wait);
    flush();
    process.stdout.write(JSON.stringify({ done: true, ...totals }) + '\n');
    process.exit(0);
  }, 50);
}

process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d: string) => {
  if (d.includes('stop')) stop();
});
process.stdin.on('end', stop);
