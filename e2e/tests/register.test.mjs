// Registration: the new account signs in (password, then a code texted to its number); a taken
// email gets the same answer (its owner is emailed); refusals, including a number we cannot text,
// are shown in the page's own words.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mainText, newContext, newPage, PHONE, screenshot, useStacks } from '../lib/browser.mjs';
import { TEXT, fillRegistration, signIn, submitLogin, waitForCodePage } from '../lib/flows.mjs';
import { outbox, smsOutbox } from '../lib/stack.mjs';

let stack;
let browser;

// Coverage off: sign-ins take the SIM check and a code (the silent sign-in is in reset-verified).
useStacks([{ args: ['--no-coverage'] }], ([s], b) => {
  stack = s;
  browser = b;
});

const REGISTERED = 'Thanks for registering. If this email address can be used, sign in now: we will check your phone and text it a code, which confirms your number.';

test('register, then sign in to the new account', { timeout: 60_000 }, async () => {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  await page.goto(`${stack.site}/register.html`);
  await screenshot(page, 'phone-register');
  // The number is shown back as it will be texted, before anything is submitted.
  await page.getByLabel('Mobile number').fill('07700 900124');
  await page.locator('#phone-echo').filter({ hasText: 'We will text +44 7700 900124.' }).waitFor();

  // Refused by the server, in the page's words: a number no phone has, a common password.
  await fillRegistration(page, { email: 'rosa@example.com', phone: '07700 9001', password: 'a long enough passphrase' });
  await page.getByRole('alert').filter({ hasText: TEXT.invalidPhone }).waitFor();
  assert.equal(await page.getByLabel('Mobile number').getAttribute('aria-invalid'), 'true');
  // A number in a country we do not text (the server's allowlist).
  await fillRegistration(page, { email: 'rosa@example.com', phone: '+33 6 12 34 56 78', password: 'tulips under april rain' });
  await page.getByRole('alert').filter({ hasText: TEXT.phoneNotSupported }).waitFor();
  assert.equal(await page.getByLabel('Mobile number').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.getByLabel('Mobile number').evaluate((el) => el === document.activeElement), true);
  assert.equal(new URL(page.url()).pathname, '/register.html');
  await screenshot(page, 'phone-register-phone-not-supported');
  await fillRegistration(page, { email: 'rosa@example.com', phone: '+44 7700 900124', password: 'rosa-example-2024' });
  await page.getByRole('alert').filter({ hasText: 'Do not use your email name in your password.' }).waitFor();
  // Checked in the page: too short, and the two fields differ.
  await fillRegistration(page, { email: 'rosa@example.com', phone: '+44 7700 900124', password: 'short' });
  await page.getByRole('alert').filter({ hasText: 'at least 12 characters' }).waitFor();
  await fillRegistration(page, {
    email: 'rosa@example.com',
    phone: '+44 7700 900124',
    password: 'tulips under april rain',
    confirm: 'tulips under april rain?',
  });
  await page.getByRole('alert').filter({ hasText: 'The two passwords do not match.' }).waitFor();

  await fillRegistration(page, { email: 'rosa@example.com', phone: '+44 7700 900124', password: 'tulips under april rain' });
  await page.waitForURL((url) => url.pathname === '/login.html' && url.search === '?m=registered');
  await page.getByRole('status').filter({ hasText: REGISTERED }).waitFor();

  const sms = await signIn(page, stack, 'rosa@example.com', 'tulips under april rain', { phone: '+447700900124' });
  assert.equal(sms.to, '+447700900124', 'the code went to the number given at registration');
  assert.equal((await smsOutbox(stack)).length, 1, 'one text message in all');
  const text = await mainText(page);
  assert.ok(text.includes('rosa@example.com'));
  assert.ok(text.includes('+••••••••••24'), text);
  assert.deepEqual(context.problems, []);
  await context.close();
});

test('registering a taken email looks the same, and its owner is told by email', { timeout: 60_000 }, async () => {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  await page.goto(`${stack.site}/register.html`);
  await fillRegistration(page, { email: 'alice@example.com', phone: '+447700900126', password: 'someone elses passphrase' });
  await page.waitForURL((url) => url.pathname === '/login.html' && url.search === '?m=registered');
  await page.getByRole('status').filter({ hasText: REGISTERED }).waitFor();
  const mail = (await outbox(stack)).filter((m) => m.to === 'alice@example.com');
  assert.deepEqual(
    mail.map((m) => m.kind),
    ['registration_with_existing_email'],
  );
  assert.ok(!mail[0].body.includes('someone elses passphrase'));
  await context.close();
});

test('a number mistyped at registration: the code page says how to mend it, and registering again does', { timeout: 60_000 }, async () => {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  await page.goto(`${stack.site}/register.html`);
  await fillRegistration(page, { email: 'tom@example.com', phone: '+44 7700 900128', password: 'lanterns over the harbour' });
  await page.waitForURL((url) => url.pathname === '/login.html' && url.search === '?m=registered');
  await submitLogin(page, 'tom@example.com', 'lanterns over the harbour');
  await waitForCodePage(page, 'login');
  // The code went to the mistyped number (ending 28); the page says what to do.
  assert.ok((await mainText(page)).includes('28'));
  const hint = page.locator('#wrong-number');
  await hint.waitFor();
  await hint.getByRole('link', { name: 'Register again' }).click();
  await page.waitForURL((url) => url.pathname === '/register.html');
  await fillRegistration(page, { email: 'tom@example.com', phone: '+44 7700 900130', password: 'lanterns over the harbour' });
  await page.waitForURL((url) => url.pathname === '/login.html' && url.search === '?m=registered');
  const sms = await signIn(page, stack, 'tom@example.com', 'lanterns over the harbour', { phone: '+447700900130' });
  assert.equal(sms.to, '+447700900130', 'the right number now');
  assert.deepEqual((await outbox(stack)).filter((m) => m.to === 'tom@example.com'), [], 'nobody to warn');
  assert.deepEqual(context.problems, []);
  await context.close();
});
