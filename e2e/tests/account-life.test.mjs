// The account page: change the password (other browsers are signed out, this one stays), and sign out
// everywhere (this browser too). Phone and desktop, two browsers of the same person.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DESKTOP, PHONE, newContext, newPage, screenshot, useStacks } from '../lib/browser.mjs';
import { enterCode, latestSms, meStatus, signIn, submitLogin, waitForCodePage } from '../lib/flows.mjs';
import { DEMO_PASSWORD, DEMO_PHONES, outbox, smsOutbox } from '../lib/stack.mjs';

let stack;
let browser;

useStacks([{}], ([s], b) => {
  stack = s;
  browser = b;
});

const EMAIL = 'alice@example.com';
const NEW_PASSWORD = 'a new password for the account page';

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

test('a remembered browser signs in after the SIM check alone, until it is forgotten', { timeout: 120_000 }, async () => {
  const email = 'nina@example.com'; // her SIM is unchanged: the SIM check passes
  const context = await newContext(browser, DESKTOP);
  const page = await newPage(context);
  await page.goto(`${stack.site}/login.html`);
  await submitLogin(page, email, DEMO_PASSWORD);
  await waitForCodePage(page, 'login');
  await page.getByLabel('Remember this browser for 30 days').check();
  await enterCode(page, (await latestSms(stack, DEMO_PHONES[email])).code);
  await page.waitForURL((url) => url.pathname === '/account.html');
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL((url) => url.pathname === '/login.html');

  // Again: the password, the SIM check, and straight to the account — no code page, no SMS.
  const before = (await smsOutbox(stack, DEMO_PHONES[email])).length;
  await submitLogin(page, email, DEMO_PASSWORD);
  await page.waitForURL((url) => url.pathname === '/account.html');
  assert.equal((await smsOutbox(stack, DEMO_PHONES[email])).length, before, 'no text message');
  const remembered = page.locator('#devices li');
  await remembered.filter({ hasText: '(this browser)' }).waitFor();
  await screenshot(page, 'desktop-account-remembered-browser');

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
