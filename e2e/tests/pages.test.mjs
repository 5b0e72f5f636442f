// The pages as people meet them. axe-core (through @axe-core/playwright) over every page, on a phone and
// on a desktop: no serious or critical violation of the WCAG 2.2 A/AA rules it checks; pages that
// show one of several states are checked in the states a user meets (a refusal, a result, a form
// showing an error). Without JavaScript, the forms say so; a page reached by Back confirms nothing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DESKTOP, PHONE, axeViolations as violations, newContext, newPage, useStacks } from '../lib/browser.mjs';

let stack;
let browser;

useStacks([{ env: { SIMGUARD_SUPPORT_CONTACT: 'help@bank.example' } }], ([s], b) => {
  stack = s;
  browser = b;
});

const PAGES = [
  '/',
  '/login.html',
  '/login.html?m=reset_ok',
  '/register.html',
  '/forgot.html',
  '/verify-code.html?flow=login',
  '/verify-code.html?flow=phone&n=new',
  '/account.html',
  '/blocked.html?r=sim_changed&flow=login',
  '/blocked.html?r=sim_changed&flow=phone&n=new',
  '/blocked.html?r=too_many_attempts&flow=reset',
  '/reset/new-password.html',
  '/reset/result.html?r=sim_changed',
  '/reset/result.html?r=silent_failed',
  '/reset/result.html?r=link_invalid',
  '/help/not-me.html',
  '/verify/',
  '/no-such-page.html',
];

test('the check finds what it looks for', { timeout: 60_000 }, async () => {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  await page.setContent('<!doctype html><html lang="en"><title>t</title><main><img src="data:,"><button></button></main></html>');
  const found = await violations(page);
  assert.ok(found.some((v) => v.startsWith('image-alt')), found.join('\n'));
  assert.ok(found.some((v) => v.startsWith('button-name')), found.join('\n'));
  await context.close();
});

for (const [name, viewport] of [['phone', PHONE], ['desktop', DESKTOP]]) {
  test(`every page passes axe-core on a ${name}`, { timeout: 120_000 }, async () => {
    const context = await newContext(browser, viewport);
    const page = await newPage(context);
    const found = [];
    for (const path of PAGES) {
      await page.goto(`${stack.site}${path}`);
      await page.waitForLoadState('networkidle');
      found.push(...(await violations(page)).map((v) => `${path}: ${v}`));
    }
    // A form showing a field's error.
    await page.goto(`${stack.site}/register.html`);
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.locator('#error:not(:empty)').waitFor();
    found.push(...(await violations(page)).map((v) => `/register.html with an error: ${v}`));
    assert.deepEqual(found, [], found.join('\n'));
    await context.close();
  });
}

test('without JavaScript, the forms say what they need instead of failing on submit', { timeout: 60_000 }, async () => {
  const context = await newContext(browser, { ...PHONE, javaScriptEnabled: false });
  const page = await newPage(context);
  for (const path of ['/login.html', '/register.html', '/forgot.html', '/verify-code.html', '/reset/new-password.html', '/verify/']) {
    await page.goto(`${stack.site}${path}`);
    const text = await page.locator('noscript').first().evaluate((n) => n.textContent);
    assert.match(text, /This page needs JavaScript/, path);
    // (Playwright's text locators skip <noscript>: ask for the element itself.)
    assert.ok(await page.locator('noscript p.alert').isVisible(), path);
  }
  await context.close();
});

test('the new-password page confirms nothing when no reset is in progress (after Back, say)', { timeout: 60_000 }, async () => {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  await page.goto(`${stack.site}/reset/new-password.html`);
  await page.locator('#error:not(:empty)').waitFor();
  assert.equal(await page.locator('#confirmed').isVisible(), false);
  assert.ok(await page.getByRole('link', { name: 'Start again' }).isVisible());
  await context.close();
});
