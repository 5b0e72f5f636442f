// The silent reset, and the silent sign-in, through CAMARA Number Verification
// (SIMGUARD_SILENT_PROVIDERS=camara): the page opens the operator's authorization endpoint as a
// top-level navigation, the sandbox's operator recognises the device and redirects back with a code,
// and the callback verifies the number (then the SIM-swap sources) before the new-password page.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PHONE, newContext, newPage, screenshot, useStacks } from '../lib/browser.mjs';
import { TEXT, startReset, submitLogin } from '../lib/flows.mjs';
import { DEMO_PASSWORD, smsOutbox } from '../lib/stack.mjs';

let stack;
let browser;

useStacks([{ env: { SIMGUARD_SILENT_PROVIDERS: 'camara' } }], ([s], b) => {
  stack = s;
  browser = b;
});

test('alice resets her password through CAMARA Number Verification, then signs in the same way', { timeout: 60_000 }, async () => {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  await startReset(page, stack.site, 'alice@example.com');
  await page.waitForURL((url) => url.pathname === '/reset/new-password.html', { timeout: 15_000 });
  // The device went through the operator's authorization, and the callback asked Number Verification.
  const asked = (await (await fetch(`${stack.sandbox}/_sandbox/requests`)).json()).map((r) => `${r.method} ${r.path}`);
  for (const call of ['GET /camara/authorize', 'POST /camara/oauth2/token', 'POST /number-verification/v2/verify']) {
    assert.ok(asked.includes(call), `${call}: ${asked.join(', ')}`);
  }
  await page.getByLabel('New password', { exact: true }).fill('a password set through camara');
  await page.getByLabel('New password again').fill('a password set through camara');
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.waitForURL((url) => url.pathname === '/login.html' && url.search === '?m=reset_ok');
  await page.getByRole('status').filter({ hasText: TEXT.resetOk }).waitFor();

  // The sign-in's second factor is the same silent proof: no code.
  await submitLogin(page, 'alice@example.com', 'a password set through camara');
  await page.waitForURL((url) => url.pathname === '/account.html');
  await page.locator('#me-email').filter({ hasText: 'alice@example.com' }).waitFor();
  assert.deepEqual(await smsOutbox(stack), [], 'no text message at all');
  await screenshot(page, 'phone-account-after-camara');
  assert.deepEqual(context.problems, []);
  await context.close();
});

test('nina: the connection is not her number, so CAMARA says no match', { timeout: 60_000 }, async () => {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  await startReset(page, stack.site, 'nina@example.com');
  await page.waitForURL((url) => url.pathname === '/reset/result.html', { timeout: 15_000 });
  assert.equal(new URL(page.url()).searchParams.get('r'), 'no_match');
  await page.getByText(TEXT.noMatch).waitFor();
  assert.deepEqual(context.problems, []);
  await context.close();
});
