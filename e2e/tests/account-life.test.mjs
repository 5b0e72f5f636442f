// The account page: change the password (other browsers are signed out, this one stays), sign out
// everywhere (this browser too), remember a browser, change the phone number (both numbers proven; a
// new number whose SIM just changed is refused). Phone and desktop, two browsers of the same person.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DESKTOP, PHONE, axeViolations, newContext, newPage, screenshot, useStacks } from '../lib/browser.mjs';
import {
  assertLines,
  changePhone,
  enterCode,
  fillRegistration,
  latestSms,
  meStatus,
  proveNewNumberBy,
  registerByApi,
  signIn,
  submitLogin,
  waitForCodePage,
} from '../lib/flows.mjs';
import { DEMO_PASSWORD, DEMO_PHONES, outbox, setProfile, smsOutbox } from '../lib/stack.mjs';

let stack;
let browser;

// Coverage off: sign-ins take the SIM check and a code (the silent sign-in is in reset-verified).
// Every browser here is 127.0.0.1 and every number shares a prefix: the per-address and per-prefix
// budgets are raised for this file's many sign-ins (their limits have tests of their own).
const BUDGETS = {
  SIMGUARD_LIMIT_SIM_CHECKS_PER_IP_HOUR: '100',
  SIMGUARD_LIMIT_SMS_PER_IP_HOUR: '100',
  SIMGUARD_LIMIT_SMS_PER_IP_BLOCK_HOUR: '100',
  SIMGUARD_LIMIT_SMS_PER_PREFIX_HOUR: '100',
};
useStacks([{ args: ['--no-coverage'], env: BUDGETS }], ([s], b) => {
  stack = s;
  browser = b;
});

const EMAIL = 'alice@example.com';
const NEW_PASSWORD = 'a new password for the account page';

/** A UK number as people type it: 07700 900124. */
const national = (e164) => `0${e164.slice(3, 7)} ${e164.slice(7)}`;

async function changePassword(page, current, fresh) {
  await page.getByLabel('Current password').fill(current);
  await page.getByLabel('New password', { exact: true }).fill(fresh);
  await page.getByLabel('New password again').fill(fresh);
  await page.getByRole('button', { name: 'Change password' }).click();
}

test('alice changes her password on her phone; her desktop is signed out; then she signs out everywhere', { timeout: 120_000 }, async () => {
  const phone = await newContext(browser, PHONE);
  const desktop = await newContext(browser, DESKTOP);
  const onPhone = await newPage(phone);
  const onDesktop = await newPage(desktop);
  await signIn(onPhone, stack, EMAIL, DEMO_PASSWORD);
  await signIn(onDesktop, stack, EMAIL, DEMO_PASSWORD);

  // A wrong current password: said so, tied to its field, nothing changed.
  await changePassword(onPhone, 'not my password at all', NEW_PASSWORD);
  await onPhone.locator('#password-error').filter({ hasText: 'Your current password is not correct.' }).waitFor();
  assert.equal(await onPhone.getByLabel('Current password').getAttribute('aria-invalid'), 'true');
  assert.match(await onPhone.getByLabel('Current password').getAttribute('aria-describedby'), /password-error/);
  assert.equal(await meStatus(onDesktop), 200);

  await changePassword(onPhone, DEMO_PASSWORD, NEW_PASSWORD);
  await onPhone.locator('#password-notice').filter({ hasText: 'Your password has been changed.' }).waitFor();
  await screenshot(onPhone, 'phone-account-password-changed');
  assert.equal(await meStatus(onPhone), 200, 'this browser stays signed in');
  assert.equal(await meStatus(onDesktop), 401, 'the other browser is signed out');
  await onDesktop.goto(`${stack.site}/account.html`);
  await onDesktop.waitForURL((url) => url.pathname === '/login.html');
  const mail = (await outbox(stack)).filter((m) => m.to === EMAIL).map((m) => m.kind);
  assert.ok(mail.includes('password_changed'), JSON.stringify(mail));

  // The old password is refused now.
  await submitLogin(onDesktop, EMAIL, DEMO_PASSWORD);
  await onDesktop.getByRole('alert').filter({ hasText: 'The email or password is not correct.' }).waitFor();

  // Sign out everywhere: this browser too, with a notice on the sign-in page.
  await onPhone.getByRole('button', { name: 'Sign out everywhere' }).click();
  await onPhone.waitForURL((url) => url.pathname === '/login.html' && url.search === '?m=signed_out_everywhere');
  await onPhone.getByText('You have signed out everywhere.').waitFor();
  assert.equal(await meStatus(onPhone), 401);
  assert.ok((await outbox(stack)).some((m) => m.to === EMAIL && m.kind === 'signed_out_everywhere'));
  assert.deepEqual(phone.problems, []);
  await phone.close();
  await desktop.close();
});

for (const [viewport, label, email, number, registered] of [
  // Her SIM is unchanged: the SIM check passes.
  [DESKTOP, 'desktop', 'nina@example.com', DEMO_PHONES['nina@example.com'], false],
  [PHONE, 'phone', 'remy@example.com', '+447700900052', true],
]) {
  test(`a remembered browser (${label}) signs in after the SIM check alone, is blocked by a SIM change, until it is forgotten`, { timeout: 120_000 }, async () => {
    const context = await newContext(browser, viewport);
    const page = await newPage(context);
    if (registered) {
      // A new account, confirmed by its first sign-in's code.
      await page.goto(`${stack.site}/register.html`);
      await fillRegistration(page, { email, phone: national(number), password: DEMO_PASSWORD });
      await page.waitForURL((url) => url.pathname === '/login.html' && url.search === '?m=registered');
    } else {
      await page.goto(`${stack.site}/login.html`);
    }
    await submitLogin(page, email, DEMO_PASSWORD);
    await waitForCodePage(page, 'login');
    await page.getByLabel('Remember this browser for 30 days').check();
    await enterCode(page, (await latestSms(stack, number)).code);
    await page.waitForURL((url) => url.pathname === '/account.html');
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/login.html');

    // Again: the password, the SIM check, and straight to the account — no code page, no SMS.
    const before = (await smsOutbox(stack, number)).length;
    await submitLogin(page, email, DEMO_PASSWORD);
    await page.waitForURL((url) => url.pathname === '/account.html');
    assert.equal((await smsOutbox(stack, number)).length, before, 'no text message');
    const remembered = page.locator('#devices li');
    await remembered.filter({ hasText: '(this browser)' }).waitFor();
    await screenshot(page, `${label}-account-remembered-browser`);

    // Her SIM changes: the remembered browser skips the code, never the SIM check — blocked.
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/login.html');
    await setProfile(stack, number, { match: true, no_sim_change: false, sim_change_within: 60 });
    await submitLogin(page, email, DEMO_PASSWORD);
    await page.waitForURL((url) => url.pathname === '/blocked.html');
    assert.equal(await meStatus(page), 401, 'not signed in');
    assert.equal((await smsOutbox(stack, number)).length, before, 'no text message either');
    // The SIM settles (the window passed, as far as the operator is concerned): signed in again.
    await setProfile(stack, number, { match: true, no_sim_change: true, sim_change_within: null });
    await page.goto(`${stack.site}/login.html`);
    await submitLogin(page, email, DEMO_PASSWORD);
    await page.waitForURL((url) => url.pathname === '/account.html');

    // Forgotten: the next sign-in asks for a code again.
    await page.getByRole('button', { name: 'Forget this browser' }).click();
    await page.getByText('No browser is remembered.').waitFor();
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/login.html');
    await submitLogin(page, email, DEMO_PASSWORD);
    await waitForCodePage(page, 'login');
    assert.deepEqual(context.problems, []);
    await context.close();
  });
}

for (const [viewport, label, who, current, fresh, swapped] of [
  [PHONE, 'phone', 'pat', '+447700900002', '+447700900124', '+447700900125'],
  [DESKTOP, 'desktop', 'quinn', '+447700900032', '+447700900134', '+447700900135'],
]) {
  test(`${who} moves to a new number (${label}): the current one, then the new one; a new SIM is refused`, { timeout: 120_000 }, async () => {
    const email = `${who}@example.com`;
    const context = await newContext(browser, viewport);
    const page = await newPage(context);
    assert.equal(await registerByApi(page, stack, { email, phone: current, password: DEMO_PASSWORD }), 201);
    await signIn(page, stack, email, DEMO_PASSWORD, { phone: current });

    // Refused before any text message: a wrong password, the number the account already has.
    await changePhone(page, 'not my password at all', national(fresh));
    await page.locator('#phone-error').filter({ hasText: 'Your password is not correct.' }).waitFor();
    assert.equal(await page.locator('#phone-password').getAttribute('aria-invalid'), 'true');
    await changePhone(page, DEMO_PASSWORD, national(current));
    await page.locator('#phone-error').filter({ hasText: 'That is already the number on your account.' }).waitFor();
    assert.equal(await page.getByLabel('New mobile number').getAttribute('aria-invalid'), 'true');
    assert.deepEqual(await axeViolations(page), [], 'the account page, showing an error');

    // A new number whose SIM just changed: the current number is proven, then the new one is refused.
    await changePhone(page, DEMO_PASSWORD, national(swapped));
    await waitForCodePage(page, 'phone');
    await page.getByText(`We sent a code by text message to your mobile number ending in ${current.slice(-2)}.`).waitFor();
    await enterCode(page, (await latestSms(stack, current)).code);
    // The account page asks how to prove the new number.
    await page.waitForURL((url) => url.searchParams.get('r') === 'current_proven');
    await page.getByText('Your current number is confirmed.').waitFor();
    assert.deepEqual(await axeViolations(page), [], 'the account page, offering the new number step');
    await proveNewNumberBy(page, 'Text a code instead');
    await page.waitForURL((url) => url.pathname === '/blocked.html' && url.searchParams.get('n') === 'new');
    await assertLines(page, ["We can't accept this new number yet", 'Your account keeps its current number.'], 'blocked');
    await page.getByText('this works again 7 days after the change').waitFor();
    await screenshot(page, `${label}-change-phone-new-sim-refused`);
    assert.equal((await smsOutbox(stack, swapped)).length, 0, 'nothing was texted to it');
    await page.getByRole('link', { name: 'Back to your account' }).click();
    await page.waitForURL((url) => url.pathname === '/account.html');

    // The happy path: a code to each number, then the account has the new one.
    await page.getByLabel('New mobile number').fill(national(fresh));
    const international = `+44 ${fresh.slice(3, 7)} ${fresh.slice(7)}`;
    await page.locator('#new-phone-echo').filter({ hasText: `We will text ${international} after your current number.` }).waitFor();
    await changePhone(page, DEMO_PASSWORD, national(fresh));
    await waitForCodePage(page, 'phone');
    await enterCode(page, (await latestSms(stack, current)).code);
    // Here the network cannot tell (no coverage): asked to, it falls back to a code all the same.
    await proveNewNumberBy(page, 'Confirm with my mobile network');
    await page.waitForURL((url) => url.pathname === '/verify-code.html' && url.searchParams.get('n') === 'new');
    await page.getByText(`We sent a code by text message to your new mobile number ending in ${fresh.slice(-2)}.`).waitFor();
    await screenshot(page, `${label}-change-phone-new-number-code`);
    await enterCode(page, (await latestSms(stack, fresh)).code);
    await page.waitForURL((url) => url.pathname === '/account.html' && url.search === '?m=phone_changed');
    await page.getByText('Your phone number has been changed. Every other browser has been signed out.').waitFor();
    await page.locator('#me-phone').filter({ hasText: fresh.slice(-2) }).waitFor();
    assert.equal(await meStatus(page), 200, 'this browser stays signed in');
    assert.ok((await outbox(stack)).some((m) => m.to === email && m.kind === 'phone_changed'), 'the owner is told');
    // The outbox names each text message's kind and flow.
    const texts = (await (await fetch(`${stack.site}/dev/outbox.json`)).json()).sms;
    const flows = (to) => texts.filter((m) => m.to === to).map((m) => `${m.kind} ${m.flow}`);
    assert.deepEqual(flows(current), ['code login', 'code phone_change', 'code phone_change'], JSON.stringify(texts));
    assert.deepEqual(flows(fresh), ['code phone_change']);
    assert.ok(texts.every((m) => typeof m.at === 'string' && m.at.endsWith('Z')), 'each message has its time');
    // And so does its page, which refreshes itself.
    const outboxPage = await newPage(context);
    await outboxPage.goto(`${stack.site}/dev/outbox`);
    assert.equal(await outboxPage.locator('meta[http-equiv="refresh"]').getAttribute('content'), '5');
    const newest = outboxPage.locator('#sms li').first();
    assert.match(await newest.innerText(), /^\d{4}-\d\d-\d\dT[\d:.]+Z · code · flow: phone_change · /);
    assert.match(await outboxPage.locator('#mail li').first().innerText(), /^\d{4}-\d\d-\d\dT[\d:.]+Z · phone_changed/);
    await outboxPage.close();
    assert.deepEqual(context.problems, []);
    await context.close();
  });
}
