// 2. sam's SIM changed recently, 3. nina's phone is not the account's, and erin's operator fails the
//    check: each is refused with its own message, never reaches the new-password page, and keeps
//    the old password. erin may then ask for a code instead, but her network gives no SIM answer, so
//    no code is sent.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mainText, newContext, newPage, PHONE, screenshot, useStacks } from '../lib/browser.mjs';
import {
  TEXT,
  assertLines,
  meStatus,
  enterCode,
  latestSms,
  waitForCodePage,
  recordNavigations,
  resetUntilLanded,
  submitLogin,
} from '../lib/flows.mjs';
import { DEMO_PASSWORD, DEMO_PHONES, outbox, smsOutbox, truidRequests } from '../lib/stack.mjs';

let stack;
let browser;

useStacks([{}], ([s], b) => {
  stack = s;
  browser = b;
});

/**
 * Resets `email` until the result page, checks the refusal, runs `onResult(page)` there, then shows
 * that the password was not changed.
 */
async function refused({ email, code, text, shot, onResult = async () => {} }) {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  const navigations = recordNavigations(page);

  const landed = await resetUntilLanded(page, stack.site, email);
  assert.equal(landed.pathname, '/reset/result.html');
  assert.equal(landed.searchParams.get('r'), code);
  assert.ok((await mainText(page)).includes(text), `${code} message shown`);
  await screenshot(page, shot);

  // Never on the new-password page, and no reset cookie was issued.
  assert.ok(!navigations.some((u) => u.includes('/reset/new-password.html')), navigations.join('\n'));
  const cookies = await context.cookies();
  assert.ok(!cookies.some((c) => c.name === '__Host-simguard-reset'), JSON.stringify(cookies));
  await onResult(page);

  // Going to the new-password page anyway gets nowhere: the server refuses the change.
  await page.goto(`${stack.site}/reset/new-password.html`);
  const status = await page.evaluate(async () => {
    const r = await fetch('/api/reset/password', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ password: 'an attacker chosen passphrase' }),
    });
    return r.status;
  });
  assert.ok(status === 403 || status === 409, `reset-password refused (${status})`);

  // The old password is still the password: it passes the first factor of a sign-in, whose silent
  // check then ends where the reset's did (or falls back to a code).
  await page.goto(`${stack.site}/login.html`);
  await submitLogin(page, email, DEMO_PASSWORD);
  await page.waitForURL((url) => ['/blocked.html', '/verify-code.html', '/account.html'].includes(url.pathname));
  const after = new URL(page.url());

  assert.deepEqual(context.problems, []);
  return { context, page, after };
}

/** The result page dropped the flow's token and offers no code. */
async function flowDropped(page) {
  assert.equal(await page.evaluate(() => sessionStorage.getItem('simguard.reset.csrf')), null);
  assert.equal(await page.getByRole('button', { name: 'Send me a code instead' }).isVisible(), false);
}

test('sam: the SIM changed recently, so the reset is refused and sam is emailed', { timeout: 60_000 }, async () => {
  const email = 'sam@example.com';
  const { context, page, after } = await refused({
    email,
    code: 'sim_changed',
    text: TEXT.simChanged,
    shot: 'phone-result-sim-changed',
    onResult: async (page) => {
      await flowDropped(page);
      const mail = (await outbox(stack)).filter((m) => m.to === email);
      assert.deepEqual(
        mail.map((m) => m.kind),
        ['sim_change_blocked'],
        JSON.stringify(mail),
      );
      assert.ok(mail[0].body.includes('/help/not-me.html'));
    },
  });
  // Signing in meets the same SIM-swap gate.
  assert.equal(after.pathname, '/blocked.html');
  assert.equal(after.searchParams.get('r'), 'sim_changed');
  assert.equal(await meStatus(page), 401);
  assert.deepEqual(await smsOutbox(stack, DEMO_PHONES[email]), []);
  await context.close();
});

test('nina: the phone on this connection is not the account phone', { timeout: 60_000 }, async () => {
  const email = 'nina@example.com';
  const { context, page, after } = await refused({
    email,
    code: 'no_match',
    text: TEXT.noMatch,
    shot: 'phone-result-no-match',
    onResult: flowDropped,
  });
  // nina's SIM did not change: after her old password, a texted code signs her in.
  assert.equal(after.pathname, '/verify-code.html');
  await enterCode(page, (await latestSms(stack, DEMO_PHONES[email])).code);
  await page.waitForURL((url) => url.pathname === '/account.html');
  await page.locator('#me-email').filter({ hasText: email }).waitFor();
  const mail = (await outbox(stack)).filter((m) => m.to === email);
  assert.ok(!mail.some((m) => m.kind === 'password_reset'), JSON.stringify(mail));
  await context.close();
});

test('erin: the operator check fails; a code is offered, but no SIM answer means no code is sent', { timeout: 60_000 }, async () => {
  const email = 'erin@example.com';
  const { context, page, after } = await refused({
    email,
    code: 'silent_failed',
    text: TEXT.silentFailed,
    shot: 'phone-result-silent-failed',
    onResult: async (page) => {
      // This flow may go on by text message: the token is kept and the button offered.
      assert.equal(typeof (await page.evaluate(() => sessionStorage.getItem('simguard.reset.csrf'))), 'string');
      await page.getByRole('button', { name: 'Send me a code instead' }).click();
      // The reset path does not say why: the code page, as for anyone, and no code arrives.
      await waitForCodePage(page, 'reset');
      await enterCode(page, '123456');
      await page.getByRole('alert').filter({ hasText: TEXT.codeInvalid }).waitFor();
      assert.deepEqual(await smsOutbox(stack, DEMO_PHONES[email]), [], 'no text message to erin');
    },
  });
  // Signing in (the password proven), the refusal is shown.
  assert.equal(after.pathname, '/blocked.html');
  assert.equal(after.searchParams.get('r'), 'sim_unavailable');
  await assertLines(page, TEXT.blockedSimUnavailable, 'sim_unavailable');
  assert.deepEqual(await smsOutbox(stack, DEMO_PHONES[email]), [], 'no text message to erin');
  await context.close();
});

test('each refused check was completed once with tru.ID, and nobody got a password_reset email', { timeout: 30_000 }, async () => {
  const patches = (await truidRequests(stack)).filter(
    (r) => r.method === 'PATCH' && r.path.startsWith('/subscriber_check/v0.2/checks/'),
  );
  // Three resets, and the three sign-ins after them: each check completed once.
  assert.equal(patches.length, 6, JSON.stringify(patches));
  assert.ok(!(await outbox(stack)).some((m) => m.kind === 'password_reset'));
});
