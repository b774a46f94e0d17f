// Horizon in a real browser: Debian's chromium (test/e2e/chromium.sh installs it), headless,
// driven by playwright-core. The login page loads at the Service URL with its form, the admin
// logs in with the password from the Secret keystone-admin and lands on the dashboard, and a
// wrong password is refused with Horizon's error. Times are printed, never asserted.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { adminCredentials, issueToken, serviceUrl, skip, tokenRequest, until } from './helpers.ts';

const executablePath = '/usr/bin/chromium';
/** The machine has 2 cores and the cloud may be busy healing: be patient. */
const navigationTimeoutMs = 180_000;
const actionTimeoutMs = 60_000;
const loginPath = '/auth/login/';

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

interface Opened {
  context: BrowserContext;
  page: Page;
  /** HTTP errors and failed requests the page made (its CSS, JS, …). */
  problems: string[];
  loadMs: number;
}

/** A fresh browser context (no cookies) with the login page loaded. */
async function openLoginPage(browser: Browser, base: string): Promise<Opened> {
  const context = await browser.newContext({ baseURL: base });
  context.setDefaultTimeout(actionTimeoutMs);
  context.setDefaultNavigationTimeout(navigationTimeoutMs);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`);
  });
  page.on('requestfailed', (r) =>
    problems.push(`${r.failure()?.errorText ?? 'failed'} ${r.url()}`),
  );
  const t0 = performance.now();
  const response = await page.goto(loginPath, { waitUntil: 'load' });
  const loadMs = performance.now() - t0;
  assert.equal(response?.status(), 200, `GET ${loginPath} answers 200`);
  return { context, page, problems, loadMs };
}

/** Horizon's message when Keystone could not be asked (not a wrong password). */
const transientError = /An error occurred authenticating/i;

/**
 * Fills the form and signs in; resolves once the browser has left the login page (error
 * undefined), shown an error on it, or been sent back to it without one (the login was accepted
 * but the session did not hold), with how long that took (click to loaded page).
 */
async function submitLogin(
  page: Page,
  username: string,
  password: string,
): Promise<{ ms: number; error: string | undefined }> {
  await page.locator('#id_username').fill(username);
  await page.locator('#id_password').fill(password);
  const t0 = performance.now();
  await page.locator('#loginBtn').click();
  const end = Date.now() + navigationTimeoutMs;
  // Before the answer arrives the page is the one the form was on: /auth/login/, no alert.
  for (;;) {
    const url = new URL(page.url());
    if (!url.pathname.startsWith(loginPath)) {
      await page.waitForLoadState('load');
      return { ms: performance.now() - t0, error: undefined };
    }
    if (url.searchParams.has('next')) {
      await page.waitForLoadState('load');
      return {
        ms: performance.now() - t0,
        error: `sent back to ${url.pathname}${url.search} without an error: the session did not hold`,
      };
    }
    try {
      const alert = page.locator('form .alert-danger');
      if ((await alert.count()) > 0) {
        const error = (await alert.first().innerText()).trim();
        return { ms: performance.now() - t0, error };
      }
    } catch {
      // The page is navigating: look again.
    }
    if (Date.now() > end) {
      throw new Error(
        `no answer to the login within ${navigationTimeoutMs / 1000} s (${page.url()})`,
      );
    }
    await sleep(250);
  }
}

void test(
  'Horizon: the login page loads and the admin logs in (headless Chromium)',
  { skip, timeout: 1_200_000 },
  async (t) => {
    assert.ok(
      existsSync(executablePath),
      `${executablePath} is missing: run test/e2e/chromium.sh (installs Debian's chromium)`,
    );
    const base = await serviceUrl('horizon-server');
    const keystone = await serviceUrl('keystone-api');
    const admin = await adminCredentials();
    console.log(`# Horizon at ${base}, Keystone at ${keystone}`);

    // The cloud may be healing from other work: wait for Keystone and Horizon to answer.
    await until(
      async () =>
        (await issueToken(keystone, tokenRequest(admin.username, admin.password), 15_000)) === 201,
      'Keystone to issue the admin a token',
      600_000,
      2000,
    );
    await until(
      async () => {
        const r = await fetch(`${base}${loginPath}`, { signal: AbortSignal.timeout(30_000) });
        await r.arrayBuffer();
        return r.status === 200;
      },
      `Horizon to answer ${loginPath} with 200`,
      600_000,
      2000,
    );

    const browser = await chromium.launch({
      executablePath,
      headless: true,
      timeout: navigationTimeoutMs,
      // root in a container-less host: no sandbox; /dev/shm may be small.
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    });
    t.after(() => browser.close());
    console.log(`# Chromium ${browser.version()}`);

    await t.test('the login page has the login form', async () => {
      const { context, page, problems, loadMs } = await openLoginPage(browser, base);
      try {
        console.log(`# login page loaded (load event) in ${seconds(loadMs)}`);
        assert.match(await page.title(), /log ?in/i, 'the title says Login');
        await page.locator('#id_username').waitFor({ state: 'visible' });
        await page.locator('#id_password').waitFor({ state: 'visible' });
        assert.equal(await page.locator('#id_password').getAttribute('type'), 'password');
        assert.ok(await page.locator('#loginBtn').isVisible(), 'the Sign In button is shown');
        assert.ok(
          (await context.cookies()).some((c) => c.name === 'csrftoken'),
          'Django set its CSRF cookie',
        );
        assert.deepEqual(problems, [], 'every resource of the login page loaded');
      } finally {
        await context.close();
      }
    });

    await t.test('the admin logs in and sees the dashboard', async () => {
      // A Keystone restart in the middle shows Horizon's "error occurred" message: try again.
      let attempt = 0;
      for (;;) {
        attempt++;
        const { context, page, problems, loadMs } = await openLoginPage(browser, base);
        try {
          const { ms, error } = await submitLogin(page, admin.username, admin.password);
          if (error !== undefined && transientError.test(error) && attempt < 5) {
            console.log(`# attempt ${attempt}: Horizon said "${error}"; retrying`);
            await sleep(10_000);
            continue;
          }
          assert.equal(error, undefined, `the login is accepted (Horizon said: ${error})`);
          const url = new URL(page.url());
          console.log(
            `# login page loaded in ${seconds(loadMs)}; login (click to dashboard loaded) in ${seconds(ms)}, landed on ${url.pathname}`,
          );
          assert.ok(!url.pathname.startsWith('/auth/'), `left the login page (${url.pathname})`);
          assert.equal(url.origin, new URL(base).origin, 'stayed on the Horizon Service URL');
          // What the user sees: their name in the user menu, a Sign Out entry, the project's
          // overview page.
          const userName = page.locator('.user-menu .user-name');
          await userName.waitFor({ state: 'attached' });
          assert.equal((await userName.innerText()).trim(), admin.username);
          assert.ok(
            (await page.locator('a[href*="/auth/logout"]').count()) > 0,
            'a Sign Out link is there',
          );
          assert.equal(url.pathname, '/project/', 'the admin lands on the project dashboard');
          const heading = (await page.locator('.page-header h1, h1').first().innerText()).trim();
          assert.match(heading, /overview/i, 'the page heading is the project overview');
          assert.ok(
            (await context.cookies()).some((c) => c.name === 'sessionid'),
            'Django set the session cookie',
          );
          assert.deepEqual(
            problems.filter((p) => p.includes('/static/')),
            [],
            'every static file loaded',
          );
          // The session holds whichever uWSGI worker answers (it is in memcached, shared).
          for (let i = 1; i <= 4; i++) {
            const reload = await page.reload({ waitUntil: 'load' });
            assert.equal(reload?.status(), 200);
            assert.equal(
              new URL(page.url()).pathname,
              '/project/',
              `still logged in after reload ${i}`,
            );
          }
          break;
        } finally {
          await context.close();
        }
      }
    });

    await t.test('a wrong password does not log in', async () => {
      const { context, page } = await openLoginPage(browser, base);
      try {
        const wrong = `${admin.password}-wrong`;
        let result = await submitLogin(page, admin.username, wrong);
        for (let i = 1; i < 5 && result.error && transientError.test(result.error); i++) {
          console.log(`# attempt ${i}: Horizon said "${result.error}"; retrying`);
          await sleep(10_000);
          await page.goto(loginPath, { waitUntil: 'load' });
          result = await submitLogin(page, admin.username, wrong);
        }
        console.log(`# refused login answered in ${seconds(result.ms)}`);
        assert.ok(
          new URL(page.url()).pathname.startsWith('/auth/login'),
          `still on the login page (${page.url()})`,
        );
        assert.match(result.error ?? '', /Invalid credentials/i, 'Horizon shows the error');
        assert.equal(await page.locator('.user-menu').count(), 0, 'no user menu');
        assert.ok(await page.locator('#id_password').isVisible(), 'the login form is shown again');
        // And nothing behind the login is reachable with this browser's cookies.
        await page.goto('/project/', { waitUntil: 'load' });
        assert.ok(
          new URL(page.url()).pathname.startsWith('/auth/login'),
          `/project/ sends the browser back to the login page (${page.url()})`,
        );
      } finally {
        await context.close();
      }
    });
  },
);
