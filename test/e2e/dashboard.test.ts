// The operator's dashboard in a real browser (Debian's chromium, headless, driven by
// playwright-core), reached the way a user reaches it: `stackanetes dashboard` (a port-forward to
// an operator pod, or the host operator's own port), the token read from its Secret and typed into
// the page. The page shows every component of the deployed cloud; deleting a Horizon pod makes a
// "pod replaced" entry appear on the open page without a reload; the API refuses a request without
// the token. Screenshots go to test/e2e/screenshots/ (the README shows one).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import {
  client,
  cloudName,
  liveCloud,
  cloudReady,
  dataPlaneNamespace,
  isReady,
  namespace,
  pods,
  skip,
  until,
} from './helpers.ts';

const executablePath = '/usr/bin/chromium';
const screenshots = 'test/e2e/screenshots';
const operatorNamespace = process.env.STACKANETES_OPERATOR_NAMESPACE ?? 'stackanetes-system';
const cloudKey = `${namespace}/${cloudName}`;

let forward: ChildProcess | undefined;
let url = '';
let token = '';
let browser: Browser;

/** Starts `stackanetes dashboard` and resolves with the URL it prints. */
function openDashboard(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['bin/stackanetes.js', 'dashboard', '-n', operatorNamespace, '--port', String(port)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    forward = child;
    let out = '';
    const take = (d: string) => {
      out += d;
      const m = /^dashboard: (\S+)$/m.exec(out);
      if (m) resolve(m[1]!);
    };
    child.stdout.setEncoding('utf8').on('data', take);
    child.stderr.setEncoding('utf8').on('data', take);
    child.on('error', reject);
    child.on('exit', (code) =>
      reject(new Error(`stackanetes dashboard exited (${code}):\n${out}`)),
    );
  });
}

async function readToken(): Promise<string> {
  const c = await client();
  const s = await c.get('v1', 'Secret', 'stackanetes-dashboard', operatorNamespace);
  return Buffer.from((s.data as Record<string, string>).token!, 'base64')
    .toString('utf8')
    .trim();
}

/**
 * What the cloud's status lists as components: every `<Component>Ready` condition but the
 * summarising Ready. Conditions written by others (Remediation, NodesHealthy) are not components.
 */
async function componentNames(): Promise<string[]> {
  const cloud = await liveCloud();
  const conds = (cloud.status as { conditions: { type: string }[] }).conditions;
  return conds
    .filter((x) => x.type !== 'Ready' && x.type.endsWith('Ready'))
    .map((x) => x.type.replace(/Ready$/, '').toLowerCase());
}

async function signIn(page: Page): Promise<void> {
  await page.goto(url, { waitUntil: 'load' });
  await page.locator('#token').fill(token);
  await page.locator('#login button[type=submit]').click();
  await page.locator(`[data-cloud="${cloudKey}"]`).waitFor({ state: 'visible', timeout: 60_000 });
}

describe('the operator dashboard', { skip, timeout: 1_800_000 }, () => {
  before(async () => {
    assert.ok(
      existsSync(executablePath),
      `${executablePath} is missing: run test/e2e/chromium.sh (installs Debian's chromium)`,
    );
    mkdirSync(screenshots, { recursive: true });
    await until(() => cloudReady(), 'the OpenStackCloud to be Ready', 15 * 60_000, 2000);
    token = await until(() => readToken(), 'the dashboard token Secret', 120_000, 2000);
    url = await openDashboard(randomInt(20_000, 30_000));
    console.log(`# dashboard at ${url}`);
    browser = await chromium.launch({
      executablePath,
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    });
  });

  after(async () => {
    await browser?.close();
    forward?.kill();
  });

  test('the API refuses a request without the token (401) and answers one with it', async () => {
    const none = await fetch(new URL('api/clouds', url));
    assert.equal(none.status, 401);
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    await none.arrayBuffer();
    const wrong = await fetch(new URL('api/clouds', url), {
      headers: { authorization: `Bearer ${token}-wrong` },
    });
    assert.equal(wrong.status, 401);
    await wrong.arrayBuffer();
    const stream = await fetch(new URL('api/stream', url));
    assert.equal(stream.status, 401, 'the live stream too');
    await stream.arrayBuffer();
    const ok = await fetch(new URL('api/clouds', url), {
      headers: { authorization: `Bearer ${token}` },
    });
    assert.equal(ok.status, 200);
    const body = (await ok.json()) as { clouds: { namespace: string; name: string }[] };
    assert.ok(body.clouds.some((c) => `${c.namespace}/${c.name}` === cloudKey));
  });

  test('the page shows every component of the cloud, Ready, with its pods and a Horizon link', async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    try {
      const page = await context.newPage();
      await signIn(page);
      const cloud = page.locator(`[data-cloud="${cloudKey}"]`);
      const names = await componentNames();
      assert.ok(names.length >= 9, `the cloud lists its components (${names.join(', ')})`);
      for (const name of names) {
        const row = cloud.locator(`.component[data-component="${name}"]`);
        await row.waitFor({ state: 'visible' });
        assert.equal(await row.getAttribute('data-status'), 'True', `${name} is shown Ready`);
      }
      assert.equal(
        await cloud.locator('.component').count(),
        names.length,
        'no component the cloud does not have',
      );
      assert.equal(await cloud.locator('.cloud-head .badge').innerText(), 'Ready');
      const horizon = await cloud.locator('a.horizon').getAttribute('href');
      assert.match(horizon ?? '', /^https?:\/\/.*horizon/, 'a link to Horizon');
      // The control plane's pods and the data plane's (nova-compute, in its own namespace).
      const keystonePods = (await pods('keystone-api')).filter(isReady);
      const computePods = (await pods('nova-compute')).filter(isReady);
      assert.ok(keystonePods.length > 0, 'a Ready keystone-api pod');
      assert.ok(computePods.length > 0, `a Ready nova-compute pod in ${dataPlaneNamespace}`);
      for (const p of [...keystonePods, ...computePods]) {
        const node = (p.spec as { nodeName: string }).nodeName;
        assert.equal(
          await cloud
            .locator(`.node[data-node="${node}"] .pod[data-pod="${p.metadata.name}"]`)
            .count(),
          1,
          `${p.metadata.name} is listed under its node ${node}`,
        );
      }
      assert.equal(await page.locator('#live').getAttribute('data-state'), 'live');
      await page.screenshot({ path: `${screenshots}/dashboard.png`, fullPage: false });
    } finally {
      await context.close();
    }
  });

  // A Horizon pod, not Keystone's: vm.test.ts boots guests beside this file, and every service
  // it uses checks tokens with Keystone, of which the one-node cloud has one replica. Nothing
  // running beside uses Horizon, and horizon.test.ts, after this file, finds it Ready again.
  test('deleting a Horizon pod shows "pod replaced" on the open page, without a reload', async () => {
    const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
    try {
      const page = await context.newPage();
      await signIn(page);
      // Anything that reloads the page loses this.
      await page.evaluate(() => ((globalThis as Record<string, unknown>).stillTheSamePage = true));
      const victim = await until(
        async () => (await pods('horizon-server')).find(isReady),
        'a Ready Horizon pod',
        300_000,
      );
      const name = victim.metadata.name;
      await (await client()).delete('v1', 'Pod', name, namespace);
      console.log(`# deleted ${name}`);
      const replaced = page.locator('.entry[data-kind="pod-replaced"]', { hasText: name });
      await replaced.waitFor({ state: 'visible', timeout: 180_000 });
      const text = await replaced.innerText();
      assert.match(text, /pod replaced/);
      assert.match(text, new RegExp(`${name}.* was deleted`));
      assert.equal(
        await page.evaluate(() => (globalThis as Record<string, unknown>).stillTheSamePage),
        true,
        'the page was not reloaded',
      );
      await page.screenshot({ path: `${screenshots}/dashboard-pod-replaced.png` });
      // And once the new pod is Ready, the page says how long it took.
      const recovered = page.locator('.entry[data-kind="pod-recovered"]', {
        hasText: `after ${name}`,
      });
      await recovered.waitFor({ state: 'visible', timeout: 300_000 });
      console.log(`# ${(await recovered.locator('.msg').innerText()).trim()}`);
    } finally {
      await context.close();
    }
  });

  test('on a phone the page fits the screen: one column, nothing wider than the viewport', async () => {
    const context = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    try {
      const page = await context.newPage();
      await signIn(page);
      // (a string: this file is type-checked without the DOM library)
      const overflow = await page.evaluate(
        'document.documentElement.scrollWidth - document.documentElement.clientWidth',
      );
      assert.equal(overflow, 0, 'no horizontal scrolling');
      const cloudBox = await page.locator(`[data-cloud="${cloudKey}"]`).boundingBox();
      const timelineBox = await page.locator('.timeline-panel').boundingBox();
      assert.ok(cloudBox && timelineBox);
      assert.ok(timelineBox.y >= cloudBox.y + cloudBox.height, 'the timeline comes below');
      await page.screenshot({ path: `${screenshots}/dashboard-phone.png`, fullPage: false });
    } finally {
      await context.close();
    }
  });
});
