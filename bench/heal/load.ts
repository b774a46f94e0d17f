// bench/heal/load: the load generator of bench/heal, run as a child process so that its timers
// and sockets do not compete with the parent's polling. Sends POST /v3/auth/tokens to a Keystone
// URL at a fixed rate (open loop: a slow answer does not delay the next request; every request
// opens its own connection, as Keystone answers `Connection: close`) and prints one JSON line per
// second of sending, once every request sent in that second has been answered or has failed:
//   {"t":<epoch ms of the second>,"sent":20,"ok":19,"failed":1,"errors":{"ECONNREFUSED":1},
//    "p50Ms":130,"maxMs":480}
// and at the end (stdin closed, "stop" on stdin, or SIGTERM/SIGINT): {"done":true,...totals}.
// The request body comes from the environment (HEAL_TOKEN_BODY), not the command line, because it
// holds a password or a token. Usage (normally started by bench/heal/keystone-2.ts):
//   HEAL_TOKEN_BODY='{"auth":...}' node bench/heal/load.ts --url http://10.96.0.10:5000 --rate 20
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    rate: { type: 'string', default: '20' },
    'timeout-ms': { type: 'string', default: '10000' },
  },
});
const body = process.env.HEAL_TOKEN_BODY;
if (!values.url || !body) {
  console.error(
    'usage: HEAL_TOKEN_BODY=<json> node bench/heal/load.ts --url <keystone> [--rate 20]',
  );
  process.exit(2);
}
const target = new URL('/v3/auth/tokens', values.url);
const rate = Number(values.rate);
const timeoutMs = Number(values['timeout-ms']);
const intervalMs = 1000 / rate;

interface Bucket {
  t: number;
  sent: number;
  settled: number;
  ok: number;
  failed: number;
  errors: Record<string, number>;
  latencies: number[];
}

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
    b = { t: started + i * 1000, sent: 0, settled: 0, ok: 0, failed: 0, errors: {}, latencies: [] };
    buckets.set(i, b);
  }
  return b;
}

/** One token request; resolves to null on 201, else a short reason (HTTP status or error code). */
function issue(): Promise<string | null> {
  return new Promise((resolve) => {
    const req = http.request(target, {
      method: 'POST',
      agent: false,
      headers: {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body!),
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
        resolve(res.statusCode === 201 ? null : `HTTP ${res.statusCode}`);
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
    req.end(body);
  });
}

function send(): void {
  const at = Date.now();
  const b = bucket(Math.floor((at - started) / 1000));
  b.sent++;
  sent++;
  totals.sent++;
  inFlight++;
  void issue().then((err) => {
    inFlight--;
    b.settled++;
    b.latencies.push(Date.now() - at);
    if (err === null) {
      b.ok++;
      totals.ok++;
    } else {
      b.failed++;
      totals.failed++;
      b.errors[err] = (b.errors[err] ?? 0) + 1;
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
    const lat = [...b.latencies].sort((x, y) => x - y);
    const line = {
      t: b.t,
      sent: b.sent,
      ok: b.ok,
      failed: b.failed,
      errors: b.errors,
      p50Ms: lat[Math.floor(lat.length / 2)] ?? 0,
      maxMs: lat.at(-1) ?? 0,
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
