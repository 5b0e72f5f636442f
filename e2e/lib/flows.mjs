// What a person does on the site, step by step, for the tests.
import assert from 'node:assert/strict';
import { DEMO_PHONES, smsOutbox } from './stack.mjs';

export const TEXT = {
  resetOk: 'Your password has been changed. Sign in with your new password.',
  badCredentials: 'The email or password is not correct.',
  checking: 'Checking your phone with your mobile network…',
  simChecking: 'Checking your SIM with your mobile network…',
  sendingCode: 'Sending a code to your phone…',
  codeSent: 'We sent a code by text message to the mobile number on the account. It can take a minute to arrive.',
  codeSentTo: (digits) =>
    `We sent a code by text message to your mobile number ending in ${digits}. It can take a minute to arrive.`,
  codeInvalid: 'That code is not right. Check the text message and try again.',
  codeExpired: 'That code has expired. Send a new code, then enter it here.',
  codeResent: 'We asked for a new code. A text message can take a minute to arrive; enter the most recent code.',
  codeNotResent: 'No new code was sent: the code we sent a moment ago is still valid.',
  resendLimited: 'You have asked for too many codes.',
  noCodeInProgress: 'There is no sign-in or password reset waiting for a code in this browser tab. Start again.',
  simChanged: 'The SIM card for this phone number was changed recently',
  blockedSimChanged: [
    "We can't use your phone right now",
    "The SIM card for this phone number was changed recently, so we can't use this phone to confirm it's you right now.",
    "We've emailed the account owner about this attempt.",
    "If you didn't change your SIM card, contact your mobile operator now: someone may have moved your number to their SIM card.",
  ],
  blockedSimUnavailable: [
    "We couldn't check your SIM",
    "We couldn't check your SIM card with your mobile network right now, so we can't send you a code.",
    'Please try again later.',
  ],
  blockedTooManyAttempts: [
    'Too many wrong codes',
    'A wrong code was entered too many times, so we stopped this attempt.',
    'Start again to get a new code.',
  ],
  phoneNotSupported: "We can't send text messages to this number.",
  invalidPhone: 'That is not a mobile number we can use.',
  blockedGeneric: 'We could not show why this attempt stopped. Please start again.',
  noMatch: 'The phone on this connection is not the phone number registered to this account',
  silentFailed: 'Your mobile network could not confirm your phone silently this time.',
  linkInvalid: 'This verification is not valid in this browser, has expired, or was already used.',
  resultGeneric: 'We could not show the result of this password reset. Please start again.',
};

/** Opens the reset page and submits `email`; does not wait for where it leads. */
export async function startReset(page, site, email) {
  await page.goto(`${site}/forgot.html`);
  await page.getByLabel('Email address').fill(email);
  await page.getByRole('button', { name: 'Continue' }).click();
}

/** Starts a reset and waits for the callback's final page. */
export async function resetUntilLanded(page, site, email) {
  await startReset(page, site, email);
  await page.waitForURL((url) => url.pathname.startsWith('/reset/'), { timeout: 15_000 });
  await page.waitForLoadState('load');
  return new URL(page.url());
}

/** Fills the sign-in form of the current login page and submits it. */
export async function submitLogin(page, email, password) {
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Waits for the code page of `flow` ('reset' or 'login'), ready for a code. */
export async function waitForCodePage(page, flow) {
  await page.waitForURL((url) => url.pathname === '/verify-code.html' && url.searchParams.get('flow') === flow);
  await page.getByLabel('Code from the text message').waitFor();
}

/** The newest text message the sandbox sent to `phone` (a code must have been sent). */
export async function latestSms(stack, phone) {
  const sent = await smsOutbox(stack, phone);
  assert.ok(sent.length > 0, `no text message to ${phone}`);
  const sms = sent.at(-1);
  assert.equal(sms.to, phone);
  assert.match(sms.code, /^[0-9]{4,10}$/);
  assert.ok(sms.text.includes(sms.code), 'the code is in the message');
  return sms;
}

/** Types `code` on the code page and submits it. */
export async function enterCode(page, code) {
  await page.getByLabel('Code from the text message').fill(code);
  await page.getByRole('button', { name: 'Verify code' }).click();
}

/**
 * Signs in from /login.html (with `query`): the password, then the code texted to `phone` (a demo
 * user's number by default), then waits for the account page. Returns the text message used.
 */
export async function signIn(page, stack, email, password, { query = '', phone = DEMO_PHONES[email] } = {}) {
  assert.ok(phone, `no phone number known for ${email}`);
  await page.goto(`${stack.site}/login.html${query}`);
  await submitLogin(page, email, password);
  await waitForCodePage(page, 'login');
  const sms = await latestSms(stack, phone);
  await enterCode(page, sms.code);
  await page.waitForURL((url) => url.pathname === '/account.html');
  await page.locator('#me-email').filter({ hasText: email }).waitFor();
  return sms;
}

/**
 * Signs in from /login.html on a covered connection: the password, then the silent check — the
 * operator's redirect signs in, no code — and waits for the account page. Asserts that no text
 * message went out.
 */
export async function signInSilently(page, stack, email, password) {
  const before = (await smsOutbox(stack)).length;
  await page.goto(`${stack.site}/login.html`);
  await submitLogin(page, email, password);
  await page.waitForURL((url) => url.pathname === '/account.html');
  await page.locator('#me-email').filter({ hasText: email }).waitFor();
  assert.equal((await smsOutbox(stack)).length, before, 'no text message');
}

/** Fills the registration form and submits it. */
export async function fillRegistration(page, { email, phone, password, confirm = password }) {
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Mobile number').fill(phone);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByLabel('Password again').fill(confirm);
  await page.getByRole('button', { name: 'Create account' }).click();
}

/** Registers an account through the API from the site's own origin: the answer's status. */
export async function registerByApi(page, stack, { email, phone, password }) {
  await page.goto(`${stack.site}/register.html`);
  return page.evaluate(
    async (body) =>
      (await fetch('/api/register', { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status,
    JSON.stringify({ email, phone, password }),
  );
}

/** Fills the account page's phone-change form and submits it. */
export async function changePhone(page, password, number) {
  await page.locator('#phone-password').fill(password);
  await page.getByLabel('New mobile number').fill(number);
  await page.getByRole('button', { name: 'Change phone number' }).click();
}

/**
 * Back on the account page once a phone change's current number is proven: chooses how to prove the
 * new one (`button`: "Confirm with my mobile network" or "Text a code instead").
 */
export async function proveNewNumberBy(page, button) {
  await page.waitForURL((url) => url.pathname === '/account.html' && url.searchParams.get('r') === 'current_proven', {
    timeout: 20_000,
  });
  await page.getByRole('button', { name: button }).click();
}

/** Whether this browser has a session, asked from the page. */
export const meStatus = (page) => page.evaluate(async () => (await fetch('/api/me')).status);

/** The texts of the page's <main> as a list of non-empty lines. */
export async function mainLines(page) {
  return (await page.locator('main').innerText())
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** Asserts that every one of `lines` is shown in <main>, each as its own line. */
export async function assertLines(page, lines, label = '') {
  const shown = await mainLines(page);
  for (const line of lines) assert.ok(shown.includes(line), `${label} shows "${line}"; shown:\n${shown.join('\n')}`);
}

/** Tries a wrong password and checks that the login page says so and stays put. */
export async function assertLoginRefused(page, site, email, password) {
  await page.goto(`${site}/login.html`);
  await submitLogin(page, email, password);
  await page.getByRole('alert').filter({ hasText: TEXT.badCredentials }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/login.html');
  // And nothing signed this browser in.
  const me = await page.evaluate(async () => (await fetch('/api/me')).status);
  assert.equal(me, 401);
}

/** Every URL the page's main frame navigated to, recorded from now on. */
export function recordNavigations(page) {
  const urls = [];
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) urls.push(frame.url());
  });
  return urls;
}
