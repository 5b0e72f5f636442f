// The code page under pressure: wrong codes are refused in the page's words and the page stays;
// past the cap the flow is locked (the blocked page) and even the right code no longer signs in.
// An expired code offers "Send a new code", which works; too many sends hide it.
//
// The cap is the server's (5 attempts per flow, the 6th is refused) with Twilio Verify; Vonage
// Verify ends its own request after 3 wrong codes, so with Vonage the 3rd wrong code locks the flow.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newContext, newPage, PHONE, screenshot, useStacks } from '../lib/browser.mjs';
import {
  TEXT,
  assertLines,
  enterCode,
  latestSms,
  meStatus,
  submitLogin,
  waitForCodePage,
} from '../lib/flows.mjs';
import { DEMO_PASSWORD, DEMO_PHONES, advanceSandboxClock, outbox, smsOutbox } from '../lib/stack.mjs';

const EMAIL = 'alice@example.com';
const NUMBER = DEMO_PHONES[EMAIL];

let twilio;
let vonage;
let browser;

// Coverage off: sign-ins take the SIM check and a code (the silent sign-in is in reset-verified).
useStacks([{ args: ['--otp', 'twilio', '--no-coverage'] }, { args: ['--no-coverage'] }], ([first, second], b) => {
  [twilio, vonage] = [first, second];
  browser = b;
});

/** A code that is not `code`: the same length, last digit changed. */
const wrongFor = (code) => code.slice(0, -1) + String((Number(code.at(-1)) + 1) % 10);

/** Signs in with the password up to the code page; returns the flow's CSRF token and the SMS. */
async function untilCode(stack, page, email = EMAIL) {
  await page.goto(`${stack.site}/login.html`);
  await submitLogin(page, email, DEMO_PASSWORD);
  await waitForCodePage(page, 'login');
  const csrf = await page.evaluate(() => sessionStorage.getItem('simguard.login.csrf'));
  assert.equal(typeof csrf, 'string');
  return { csrf, sms: await latestSms(stack, DEMO_PHONES[email]) };
}

/** The tries the page says are left after a wrong code (the provider's own limit counted). */
const triesText = (n) => (n === 1 ? 'You have 1 try left before this attempt stops.' : `You have ${n} tries left.`);

/** Submits `code` on the code page; resolves to the HTTP status of /api/otp/verify. */
async function submitCode(stack, page, code) {
  const answered = page.waitForResponse((r) => r.url() === `${stack.site}/api/otp/verify`);
  await enterCode(page, code);
  return (await answered).status();
}

/** After a wrong code: the page's words, still the code page, an empty field marked invalid with focus. */
async function assertStillOnCodePage(page, label) {
  await page.getByRole('alert').filter({ hasText: TEXT.codeInvalid }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/verify-code.html', label);
  const input = page.getByLabel('Code from the text message');
  await input.waitFor();
  assert.equal(await input.inputValue(), '', `${label}: field emptied`);
  assert.equal(await input.getAttribute('aria-invalid'), 'true', `${label}: marked invalid`);
  assert.equal(await input.evaluate((el) => el === document.activeElement), true, `${label}: focused`);
}

/** Posts the code straight to the API with the flow's token, as a script on the page could. */
const postCode = (page, csrf, code) =>
  page.evaluate(
    async ([token, value]) =>
      (
        await fetch('/api/otp/verify', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': token },
          body: JSON.stringify({ code: value }),
        })
      ).status,
    [csrf, code],
  );

async function assertLockedOut(stack, page, csrf, rightCode) {
  await page.waitForURL((url) => url.pathname === '/blocked.html');
  const landed = new URL(page.url());
  assert.equal(landed.searchParams.get('r'), 'too_many_attempts');
  assert.equal(landed.searchParams.get('flow'), 'login');
  await assertLines(page, TEXT.blockedTooManyAttempts, 'too_many_attempts');
  assert.equal(await page.getByRole('link', { name: 'Back to sign in' }).getAttribute('href'), '/login.html');
  assert.equal(await meStatus(page), 401, 'not signed in');
  // The right code, even straight to the API with the flow's token, is refused now.
  assert.equal(await postCode(page, csrf, rightCode), 429);
  assert.equal(await meStatus(page), 401, 'still not signed in');
  // The owner is told that someone got past the password but not the code.
  assert.deepEqual(
    (await outbox(stack)).filter((m) => m.to === EMAIL).map((m) => m.kind),
    ['second_factor_failed'],
  );
}

test('Twilio: five wrong codes are refused, then the flow is locked and the right code fails', { timeout: 60_000 }, async () => {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  const { csrf, sms } = await untilCode(twilio, page);
  assert.equal(sms.provider, 'twilio');
  // A sign-in's code page says where the code went: the password is proven.
  await page.getByText(`your mobile number ending in ${NUMBER.slice(-2)}`).waitFor();

  // Checked in the page first (nothing sent): empty, and not digits.
  await page.getByRole('button', { name: 'Verify code' }).click();
  await page.getByRole('alert').filter({ hasText: 'Enter the code from the text message.' }).waitFor();
  await enterCode(page, 'one two');
  await page.getByRole('alert').filter({ hasText: 'Enter the code as it is in the text message: digits only.' }).waitFor();

  const wrong = wrongFor(sms.code);
  for (let i = 1; i <= 5; i++) {
    assert.equal(await submitCode(twilio, page, wrong), 400, `wrong code ${i}`);
    await assertStillOnCodePage(page, `wrong code ${i}`);
    if (i < 5) await page.getByRole('alert').filter({ hasText: triesText(5 - i) }).waitFor();
    if (i === 1) await screenshot(page, 'phone-verify-code-invalid');
  }
  assert.equal(await meStatus(page), 401);

  // The sixth attempt, with the right code, is past the cap: locked.
  assert.equal(await submitCode(twilio, page, sms.code), 429);
  await assertLockedOut(twilio, page, csrf, sms.code);
  await screenshot(page, 'phone-blocked-too-many-attempts');
  assert.deepEqual(context.problems, []);
  await context.close();
});

test('Vonage: its own limit ends the request at the third wrong code, and the flow is locked', { timeout: 60_000 }, async () => {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  const { csrf, sms } = await untilCode(vonage, page);
  assert.equal(sms.provider, 'vonage-v2');
  const wrong = wrongFor(sms.code);
  for (let i = 1; i <= 2; i++) {
    assert.equal(await submitCode(vonage, page, wrong), 400, `wrong code ${i}`);
    await assertStillOnCodePage(page, `wrong code ${i}`);
    // Vonage's three, not simguard's five: the page counts the provider's limit.
    await page.getByRole('alert').filter({ hasText: triesText(3 - i) }).waitFor();
  }
  assert.equal(await submitCode(vonage, page, wrong), 429, 'wrong code 3');
  await assertLockedOut(vonage, page, csrf, sms.code);
  assert.deepEqual(context.problems, []);
  await context.close();
});

test('"Send a new code" is refused after three sends; the code already sent still works', { timeout: 60_000 }, async () => {
  const email = 'nina@example.com';
  const context = await newContext(browser, PHONE);
  // The page waits 30 s before each new send: the test moves the page's clock on instead.
  await context.clock.install();
  const page = await newPage(context);
  const { sms } = await untilCode(vonage, page, email);
  const resend = page.getByRole('button', { name: 'Send a new code' });
  assert.equal(await resend.isDisabled(), true, 'no new code at once');
  await page.getByText('You can ask for a new code in').waitFor();
  await page.clock.runFor(31_000);
  // Sends 2 and 3 of this flow. Vonage refuses a second request while the first is still running
  // for this number, so no new message arrives, the page says so, and the first code stays valid.
  for (let i = 2; i <= 3; i++) {
    await resend.click();
    await page.getByRole('status').filter({ hasText: TEXT.codeNotResent }).waitFor();
    assert.equal(await resend.isDisabled(), true, 'the wait starts again');
    await page.clock.runFor(31_000);
    await page.getByRole('button', { name: 'Send a new code' }).and(page.locator(':enabled')).waitFor();
  }
  await resend.click();
  await page.getByRole('alert').filter({ hasText: TEXT.resendLimited }).waitFor();
  assert.equal(await resend.isVisible(), false, 'no more "Send a new code"');
  assert.equal(
    await page.getByLabel('Code from the text message').evaluate((el) => el === document.activeElement),
    true,
  );
  await screenshot(page, 'phone-verify-code-resend-limited');

  const newest = await latestSms(vonage, DEMO_PHONES[email]);
  assert.equal(newest.code, sms.code);
  await enterCode(page, newest.code);
  await page.waitForURL((url) => url.pathname === '/account.html');
  await page.locator('#me-email').filter({ hasText: email }).waitFor();
  assert.deepEqual(context.problems, []);
  await context.close();
});

// Last on this stack: it moves the sandbox's clock.
test('an expired code offers "Send a new code", and the new code signs in', { timeout: 60_000 }, async () => {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  const { sms } = await untilCode(vonage, page);
  const before = (await smsOutbox(vonage, NUMBER)).length;

  // The provider's code expires (the app's flow, on the real clock, is still alive).
  await advanceSandboxClock(vonage, 1900);
  assert.equal(await submitCode(vonage, page, sms.code), 409);
  await page.getByRole('alert').filter({ hasText: TEXT.codeExpired }).waitFor();
  const resend = page.getByRole('button', { name: 'Send a new code' });
  assert.equal(await resend.evaluate((el) => el === document.activeElement), true, '"Send a new code" has focus');
  assert.equal(await meStatus(page), 401);
  await screenshot(page, 'phone-verify-code-expired');

  await resend.click();
  await page.getByRole('status').filter({ hasText: TEXT.codeResent }).waitFor();
  assert.equal(await page.getByRole('alert').textContent(), '', 'the error is gone');
  const sent = await smsOutbox(vonage, NUMBER);
  assert.equal(sent.length, before + 1, 'a new text message');
  const fresh = sent.at(-1);
  assert.notEqual(fresh.code, sms.code);

  await enterCode(page, fresh.code);
  await page.waitForURL((url) => url.pathname === '/account.html');
  await page.locator('#me-email').filter({ hasText: EMAIL }).waitFor();
  assert.deepEqual(context.problems, []);
  await context.close();
});
