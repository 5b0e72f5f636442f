// Debian's Chromium through playwright-core (no downloaded browser builds), one context per test.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before } from 'node:test';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium } from 'playwright-core';
import { E2E_DIR, startStack } from './stack.mjs';

export const ARTIFACTS = resolve(E2E_DIR, 'artifacts');

export const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
export const DESKTOP = { viewport: { width: 1280, height: 800 } };

/** Serious or critical axe-core violations (WCAG 2.2 A/AA rules) on the page as it is now: "rule: what (where)". */
export async function axeViolations(page) {
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/**
 * A fresh context that records what a test should never see: uncaught page errors, CSP violations
 * and other console errors. An API answering 4xx (a refused sign-in, /api/me before sign-in) is part
 * of the flows and is not recorded.
 */
export async function newContext(browser, options = PHONE) {
  const context = await browser.newContext({ ...options, locale: 'en-GB' });
  const problems = [];
  context.on('page', (page) => watch(page, problems));
  context.problems = problems;
  return context;
}

function watch(page, problems) {
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (/^Failed to load resource: the server responded with a status of 4\d\d\b/.test(m.text())) return;
    problems.push(`console: ${m.text()}`);
  });
}

export async function newPage(context) {
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.setDefaultNavigationTimeout(15_000);
  return page;
}

/** Saves e2e/artifacts/<name>.png. A full-page shot cannot be taken while a navigation is pending. */
export async function screenshot(page, name, { fullPage = true } = {}) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: resolve(ARTIFACTS, `${name}.png`), fullPage });
}

/** The visible text of the page's <main>. */
export const mainText = (page) => page.locator('main').innerText();

/**
 * The hooks every browser test file needs: before its tests, start one local stack per entry of
 * `options` (each the options of `startStack`) and Chromium, and hand them to `assign`; after them,
 * stop everything. The returned `start(options)` starts one more stack inside a test, stopped with
 * the others.
 */
export function useStacks(options, assign) {
  const started = [];
  let browser;
  before(async () => {
    started.push(...(await Promise.all(options.map((o) => startStack(o)))));
    browser = await launch();
    assign(started, browser);
  });
  after(async () => {
    await browser?.close();
    await Promise.all(started.map((s) => s.stop()));
  });
  return {
    async start(opts) {
      const stack = await startStack(opts);
      started.push(stack);
      return stack;
    },
  };
}
