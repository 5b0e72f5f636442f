// What a person does on the site, step by step, for the tests.
import assert from 'node:assert/strict';

export const TEXT = {
  resetOk: 'Your password has been changed. Sign in with your new password.',
  badCredentials: 'The email or password is not correct.',
  checking: 'Checking your phone with your mobile network…',
  notSilent:
    "We couldn't verify your phone silently on this connection. Turn off Wi-Fi, use mobile data, and try again.",
  simChanged: 'The SIM card for this phone number was changed recently',
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

/** Signs in from /login.html (with `query`) and waits for the account page. */
export async function signIn(page, site, email, password, query = '') {
  await page.goto(`${site}/login.html${query}`);
  await submitLogin(page, email, password);
  await page.waitForURL((url) => url.pathname === '/account.html');
  await page.locator('#me-email').filter({ hasText: email }).waitFor();
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
