// The reset's SMS path. With no silent check possible (the stack's --no-coverage), alice gets a code
// by text message, sets a new password and signs in with it (password and code); the old password
// is refused. And when the silent check fails (the operator's redirect reports an error), the result
// page offers "Send me a code instead", which continues the same flow.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mainText, newContext, newPage, PHONE, screenshot, useStacks } from '../lib/browser.mjs';
import {
  TEXT,
  assertLoginRefused,
  enterCode,
  latestSms,
  meStatus,
  recordNavigations,
  signIn,
  startReset,
  waitForCodePage,
} from '../lib/flows.mjs';
import { DEMO_PASSWORD, DEMO_PHONES, outbox, smsOutbox, truidRequests } from '../lib/stack.mjs';

const EMAIL = 'alice@example.com';
const NUMBER = DEMO_PHONES[EMAIL];

let uncovered;
let covered;
let browser;

useStacks([{ args: ['--no-coverage'] }, {}], ([first, second], b) => {
  [uncovered, covered] = [first, second];
  browser = b;
});

/** On the new-password page: sets `password` and waits for the sign-in page saying so. */
async function setNewPassword(page, password) {
  await page.waitForURL((url) => url.pathname === '/reset/new-password.html');
  assert.match(await mainText(page), /Choose a new password/);
  await page.getByLabel('New password', { exact: true }).fill(password);
  await page.getByLabel('New password again').fill(password);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.waitForURL((url) => url.pathname === '/login.html' && url.search === '?m=reset_ok');
  await page.getByRole('status').filter({ hasText: TEXT.resetOk }).waitFor();
}

test('alice resets her password with a texted code, then signs in with the new one', { timeout: 90_000 }, async () => {
  const stack = uncovered;
  const newPassword = 'texted codes and new words';
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  const navigations = recordNavigations(page);

  // Hold the code's sending, so that the progress state can be seen.
  let release;
  const held = new Promise((res) => {
    release = res;
  });
  await page.route(`${stack.site}/api/otp/start`, async (route) => {
    await held;
    await route.continue();
  });
  try {
    await startReset(page, stack.site, EMAIL);
    await page.getByRole('status').filter({ hasText: TEXT.sendingCode }).waitFor();
    assert.equal(await page.locator('#progress .spinner').isVisible(), true);
    assert.equal(await page.getByRole('button', { name: 'Continue' }).isDisabled(), true);
    await screenshot(page, 'phone-forgot-sending-code');
  } finally {
    release();
  }
  await waitForCodePage(page, 'reset');
  await page.unroute(`${stack.site}/api/otp/start`);
  assert.ok((await mainText(page)).includes(TEXT.codeSent));
  assert.equal(await page.getByRole('link', { name: 'Start again' }).getAttribute('href'), '/forgot.html');
  await screenshot(page, 'phone-verify-code-reset');

  const sms = await latestSms(stack, NUMBER);
  assert.equal(sms.provider, 'vonage-v2');
  await enterCode(page, sms.code);
  await setNewPassword(page, newPassword);
  assert.equal(await meStatus(page), 401, 'no sign-in after a reset');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('simguard.reset.csrf')), null);

  // Never left our site (no operator check), and no SubscriberCheck was created.
  assert.ok(navigations.every((u) => u.startsWith(`${stack.site}/`)), navigations.join('\n'));
  assert.ok(
    !(await truidRequests(stack)).some((r) => r.method === 'POST' && r.path === '/subscriber_check/v0.2/checks'),
  );

  // The old password is refused; the new one, with a new code, signs in.
  await assertLoginRefused(page, stack.site, EMAIL, DEMO_PASSWORD);
  const second = await signIn(page, stack, EMAIL, newPassword);
  assert.notEqual(second.code, sms.code);
  assert.ok((await mainText(page)).includes(EMAIL));
  assert.equal((await smsOutbox(stack, NUMBER)).length, 2, 'one code for the reset, one for the sign-in');

  const mail = (await outbox(stack)).filter((m) => m.to === EMAIL);
  assert.deepEqual(
    mail.map((m) => m.kind),
    ['password_reset'],
  );
  assert.ok(!mail[0].body.includes(newPassword));
  assert.ok(!mail[0].body.includes(sms.code), 'the code is not in the email');
  assert.deepEqual(context.problems, []);
  await context.close();
});

test('after a failed silent check, "Send me a code instead" continues the same reset', { timeout: 90_000 }, async () => {
  const stack = covered;
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);

  // The operator answers the check_url with a redirect reporting an error, as a network that cannot
  // do the silent check would.
  await page.route(`${stack.sandbox}/**`, async (route) => {
    const checkId = new URL(route.request().url()).pathname.split('/').at(-2);
    await route.fulfill({
      status: 302,
      headers: { Location: `${stack.site}/api/reset/callback?check_id=${checkId}&error=mno_redirect_unsupported` },
    });
  });
  await startReset(page, stack.site, EMAIL);
  await page.waitForURL((url) => url.pathname === '/reset/result.html');
  assert.equal(new URL(page.url()).searchParams.get('r'), 'silent_failed');
  assert.ok((await mainText(page)).includes(TEXT.silentFailed));
  const button = page.getByRole('button', { name: 'Send me a code instead' });
  await button.waitFor();
  assert.equal(await page.getByRole('link', { name: 'Try again' }).getAttribute('href'), '/forgot.html');
  await screenshot(page, 'phone-result-silent-failed-sms');
  await page.unroute(`${stack.sandbox}/**`);

  // The same page in a tab without the flow's token offers no such button.
  const other = await newContext(browser, PHONE);
  const otherPage = await newPage(other);
  await otherPage.goto(`${stack.site}/reset/result.html?r=silent_failed`);
  await otherPage.getByRole('link', { name: 'Try again' }).waitFor();
  assert.equal(await otherPage.getByRole('button', { name: 'Send me a code instead' }).isVisible(), false);
  await other.close();

  await button.click();
  await waitForCodePage(page, 'reset');
  const sms = await latestSms(stack, NUMBER);
  await enterCode(page, sms.code);
  await setNewPassword(page, 'after the silent check failed');

  // One SubscriberCheck was created and never completed; the SMS path took over.
  const log = await truidRequests(stack);
  assert.equal(log.filter((r) => r.method === 'POST' && r.path === '/subscriber_check/v0.2/checks').length, 1);
  assert.equal(log.filter((r) => r.method === 'PATCH').length, 0);
  assert.deepEqual(
    (await outbox(stack)).filter((m) => m.to === EMAIL).map((m) => m.kind),
    ['password_reset'],
  );
  assert.deepEqual(context.problems, []);
  await context.close();
});
