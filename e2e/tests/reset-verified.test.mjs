// 1. alice's phone passes the silent check: she sets a new password, the old one stops working, the
//    new one signs in (with a texted code), and she gets exactly one "password changed" email that
//    carries neither password.
// 2. bo (on a phone) and cy (on a desktop) change their numbers: the network confirms the current
//    number and then, when asked, the new one (no code to either); a new number whose SIM was just
//    changed is refused first.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DESKTOP, mainText, newContext, newPage, PHONE, screenshot, useStacks } from '../lib/browser.mjs';
import {
  TEXT,
  assertLines,
  assertLoginRefused,
  changePhone,
  enterCode,
  latestSms,
  meStatus,
  proveNewNumberBy,
  recordNavigations,
  registerByApi,
  signInSilently,
  startReset,
  submitLogin,
  waitForCodePage,
} from '../lib/flows.mjs';
import { DEMO_PASSWORD, outbox, setProfile, smsOutbox, truidRequests } from '../lib/stack.mjs';

const EMAIL = 'alice@example.com';
const NEW_PASSWORD = 'a brand new passphrase 42';

let stack;
let browser;

useStacks([{}], ([s], b) => {
  stack = s;
  browser = b;
});

test('alice resets her password through the silent check and signs in with the new one', { timeout: 90_000 }, async () => {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  const navigations = recordNavigations(page);

  // Hold the SDK module (loaded once the check has been created) for a moment, so the progress
  // state can be checked and photographed before the page navigates to the operator.
  let release;
  const held = new Promise((res) => {
    release = res;
  });
  await page.route(`${stack.site}/vendor/tru-sdk-web.mjs`, async (route) => {
    await held;
    await route.continue();
  });

  try {
    await page.goto(`${stack.site}/forgot.html`);
    await screenshot(page, 'phone-forgot');
    await page.getByLabel('Email address').fill(EMAIL);
    const button = page.getByRole('button', { name: 'Continue' });
    await button.click();

    // The operator check is running: visible words, a spinner and a progress bar, button disabled.
    await page.getByRole('status').filter({ hasText: TEXT.checking }).waitFor();
    assert.equal(await page.locator('#progress progress').isVisible(), true);
    assert.equal(await page.locator('#progress .spinner').isVisible(), true);
    assert.equal(await button.isDisabled(), true);
    // The words show as the request leaves; the token is stored when its answer arrives.
    await page.waitForFunction(() => typeof sessionStorage.getItem('simguard.reset.csrf') === 'string');
    await screenshot(page, 'phone-forgot-checking');
  } finally {
    release();
  }

  await page.waitForURL((url) => url.pathname === '/reset/new-password.html');
  // The top-level navigation went to the sandbox operator and came back through our callback.
  assert.ok(
    navigations.some((u) => u.startsWith(`${stack.sandbox}/`)) ||
      (await truidRequests(stack)).some((r) => r.method === 'GET' && r.path.endsWith('/redirect')),
    'check_url was opened as a top-level navigation',
  );
  assert.match(await mainText(page), /Choose a new password/);
  assert.match(await mainText(page), /At least 12 characters/);
  assert.match(await mainText(page), /We confirmed that you have your phone\./);
  await screenshot(page, 'phone-new-password');

  // The two fields must agree (checked in the page, nothing sent).
  await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
  await page.getByLabel('New password again').fill(`${NEW_PASSWORD}!`);
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByRole('alert').filter({ hasText: 'The two passwords do not match.' }).waitFor();
  assert.equal(new URL(page.url()).pathname, '/reset/new-password.html');

  // Pasting is allowed: put the password in through a real paste event on the second field.
  await page.getByLabel('New password again').fill('');
  await page.getByLabel('New password again').focus();
  await page.evaluate((text) => {
    const input = document.activeElement;
    const data = new DataTransfer();
    data.setData('text/plain', text);
    const event = new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true });
    if (input.dispatchEvent(event)) input.value = text; // not prevented: the browser would insert it
  }, NEW_PASSWORD);
  assert.equal(await page.getByLabel('New password again').inputValue(), NEW_PASSWORD);

  await page.getByRole('button', { name: 'Change password' }).click();
  await page.waitForURL((url) => url.pathname === '/login.html' && url.search === '?m=reset_ok');
  await page.getByRole('status').filter({ hasText: TEXT.resetOk }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('simguard.reset.csrf')), null);
  // No automatic sign-in after a reset.
  assert.equal(await page.evaluate(async () => (await fetch('/api/me')).status), 401);
  await screenshot(page, 'phone-login-reset-ok');

  // The old password is refused; the new one works.
  await assertLoginRefused(page, stack.site, EMAIL, DEMO_PASSWORD);
  await screenshot(page, 'phone-login-refused');
  // On mobile data, the sign-in's second factor is the same silent check: no code.
  await signInSilently(page, stack, EMAIL, NEW_PASSWORD);
  const account = await mainText(page);
  assert.match(account, /alice@example\.com/);
  assert.ok(account.includes('+••••••••••70'), `masked phone shown: ${account}`);
  assert.ok(!account.includes('447000000070'), 'the full number is never shown');
  await screenshot(page, 'phone-account');

  // Sign out: the server forgets the session and the account page sends us to sign in.
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL((url) => url.pathname === '/login.html' && url.search === '?m=signed_out');
  await page.getByRole('status').filter({ hasText: 'You have signed out.' }).waitFor();
  await page.goto(`${stack.site}/account.html`);
  await page.waitForURL((url) => url.pathname === '/login.html');
  assert.equal(new URL(page.url()).searchParams.get('next'), '/account.html');

  // Exactly one email to alice, a password_reset one, with neither password in it.
  const mail = (await outbox(stack)).filter((m) => m.to === EMAIL);
  assert.equal(mail.length, 1, JSON.stringify(mail));
  assert.equal(mail[0].kind, 'password_reset');
  assert.ok(!mail[0].body.includes(NEW_PASSWORD), 'new password not in the email');
  assert.ok(!mail[0].body.includes(DEMO_PASSWORD), 'old password not in the email');
  assert.ok(mail[0].body.includes('/help/not-me.html'), 'the email links to the help page');

  assert.deepEqual(context.problems, [], 'no page errors or console errors');
  await context.close();
});

/** How many times a device opened a check_url at the sandbox operator (its redirect endpoint). */
const operatorVisits = async () =>
  (await truidRequests(stack)).filter((r) => r.method === 'GET' && r.path.endsWith('/redirect')).length;

for (const [viewport, who, digits] of [
  [PHONE, 'bo', 4],
  [DESKTOP, 'cy', 6],
]) {
  test(`${who} moves to a new number (${viewport === PHONE ? 'phone' : 'desktop'}): the network confirms both numbers, no code; a new SIM is refused`, { timeout: 120_000 }, async () => {
    const email = `${who}@example.com`;
    const [current, fresh, swapped] = [`+44770090000${digits}`, `+4477009001${digits}0`, `+4477009001${digits}2`];
    const context = await newContext(browser, viewport);
    const page = await newPage(context);
    const navigations = recordNavigations(page);
    assert.equal(await registerByApi(page, stack, { email, phone: current, password: DEMO_PASSWORD }), 201);
    await signInSilently(page, stack, email, DEMO_PASSWORD);

    // The new number's SIM was just changed: its silent proof stops the change, nothing is texted.
    await setProfile(stack, swapped, { match: true, no_sim_change: false, sim_change_within: 24 });
    await changePhone(page, DEMO_PASSWORD, swapped);
    await proveNewNumberBy(page, 'Confirm with my mobile network');
    await page.waitForURL((url) => url.pathname === '/blocked.html' && url.searchParams.get('n') === 'new');
    await assertLines(page, ["We can't accept this new number yet", 'Your account keeps its current number.'], 'blocked');
    assert.equal((await smsOutbox(stack, current)).length + (await smsOutbox(stack, swapped)).length, 0, 'no text');
    await page.getByRole('link', { name: 'Back to your account' }).click();
    await page.waitForURL((url) => url.pathname === '/account.html');

    // Both numbers confirmed by the network; the account page finishes the change.
    const before = navigations.length;
    const visitsBefore = await operatorVisits();
    await changePhone(page, DEMO_PASSWORD, fresh);
    await proveNewNumberBy(page, 'Confirm with my mobile network');
    await page.waitForURL((url) => url.pathname === '/account.html' && url.search === '?m=phone_changed', {
      timeout: 20_000,
    });
    await page.getByText('Your phone number has been changed. Every other browser has been signed out.').waitFor();
    await page.locator('#me-phone').filter({ hasText: `${digits}0` }).waitFor();
    await screenshot(page, `phone-change-silent-done-${who}`);
    assert.equal(await meStatus(page), 200, 'this browser stays signed in');
    const landed = navigations.slice(before).map((u) => new URL(u));
    const through = (path, r) => landed.filter((u) => u.pathname === path && u.searchParams.get('r') === r).length;
    assert.equal(through('/account.html', 'current_proven'), 1, landed.join('\n'));
    assert.equal(through('/account.html', 'new_proven'), 1, landed.join('\n'));
    assert.equal((await operatorVisits()) - visitsBefore, 2, 'each number went through the operator');
    assert.equal((await smsOutbox(stack, current)).length, 0, 'no code to the current number');
    assert.equal((await smsOutbox(stack, fresh)).length, 0, 'no code to the new number');
    assert.ok((await outbox(stack)).some((m) => m.to === email && m.kind === 'phone_changed'), 'the owner is told');
    assert.deepEqual(context.problems, []);
    await context.close();
  });
}

test('without the tru.ID SDK, a sign-in and a phone change take the code path at once and create no check', { timeout: 120_000 }, async () => {
  const email = 'dee@example.com';
  const [current, fresh] = ['+447700900008', '+447700900188'];
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  // The SDK does not load (blocked, offline): the pages must not ask for a check they cannot open.
  await page.route(`${stack.site}/vendor/tru-sdk-web.mjs`, (route) => route.abort());
  const silentAsked = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/api/login/silent') silentAsked.push(r.url());
  });
  const visits = await operatorVisits();
  assert.equal(await registerByApi(page, stack, { email, phone: current, password: DEMO_PASSWORD }), 201);
  await page.goto(`${stack.site}/login.html`);
  await submitLogin(page, email, DEMO_PASSWORD);
  await waitForCodePage(page, 'login');
  await enterCode(page, (await latestSms(stack, current)).code);
  await page.waitForURL((url) => url.pathname === '/account.html');
  await changePhone(page, DEMO_PASSWORD, fresh);
  await waitForCodePage(page, 'phone');
  await enterCode(page, (await latestSms(stack, current)).code);
  await proveNewNumberBy(page, 'Confirm with my mobile network');
  await page.waitForURL((url) => url.pathname === '/verify-code.html' && url.searchParams.get('n') === 'new');
  await enterCode(page, (await latestSms(stack, fresh)).code);
  await page.waitForURL((url) => url.pathname === '/account.html' && url.search === '?m=phone_changed');
  assert.deepEqual(silentAsked, [], 'no silent proof was asked for');
  assert.equal(await operatorVisits(), visits, 'nor opened');
  // The blocked SDK is the only problem the browser saw: once per page that tried to load it.
  assert.deepEqual(context.problems, Array(3).fill('console: Failed to load resource: net::ERR_FAILED'));
  await context.close();
});

test('when the network cannot confirm a number, the phone change goes on with that number\'s code', { timeout: 120_000 }, async () => {
  const email = 'ed@example.com';
  const [current, fresh] = ['+447700900010', '+447700900190'];
  const notThisSim = { match: false, no_sim_change: true, sim_change_within: null };
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  const navigations = recordNavigations(page);
  assert.equal(await registerByApi(page, stack, { email, phone: current, password: DEMO_PASSWORD }), 201);
  await signInSilently(page, stack, email, DEMO_PASSWORD);
  // This phone's data now runs on another SIM: neither number can be confirmed silently.
  await setProfile(stack, current, notThisSim);
  await setProfile(stack, fresh, notThisSim);
  await changePhone(page, DEMO_PASSWORD, fresh);
  await waitForCodePage(page, 'phone');
  await enterCode(page, (await latestSms(stack, current)).code);
  await proveNewNumberBy(page, 'Confirm with my mobile network');
  await page.waitForURL((url) => url.pathname === '/verify-code.html' && url.searchParams.get('n') === 'new');
  await enterCode(page, (await latestSms(stack, fresh)).code);
  await page.waitForURL((url) => url.pathname === '/account.html' && url.search === '?m=phone_changed');
  const landed = navigations.map((u) => new URL(u)).filter((u) => u.pathname === '/account.html');
  const results = landed.map((u) => u.searchParams.get('r')).filter(Boolean);
  assert.deepEqual(results, ['silent_failed', 'current_proven', 'new_silent_failed'], navigations.join('\n'));
  assert.deepEqual(context.problems, []);
  await context.close();
});

test('the pages render with their stylesheet on a phone and on a desktop', { timeout: 90_000 }, async () => {
  const pages = [
    ['/', 'index'],
    ['/forgot.html', 'forgot'],
    ['/register.html', 'register'],
    ['/reset/result.html?r=sim_changed', 'result-sim-changed'],
    ['/help/not-me.html', 'not-me'],
    ['/blocked.html?r=sim_changed&flow=login', 'blocked-sim-changed'],
    // No flow in this tab: the code page says so and offers to start again.
    ['/verify-code.html?flow=login', 'verify-code-no-flow'],
  ];
  for (const [viewport, prefix] of [
    [PHONE, 'phone'],
    [DESKTOP, 'desktop'],
  ]) {
    const context = await newContext(browser, viewport);
    const page = await newPage(context);
    for (const [path, name] of pages) {
      await page.goto(`${stack.site}${path}`);
      await page.waitForLoadState('load');
      // styles.css applied (the CSP allows only 'self'): the card has its rounded border.
      const radius = await page.locator('.card').first().evaluate((el) => getComputedStyle(el).borderTopLeftRadius);
      assert.notEqual(radius, '0px', `${path}: styles.css applied`);
      // Nothing wider than the viewport (no sideways scrolling on a phone).
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 0, `${prefix} ${path}: ${overflow}px wider than the viewport`);
      if (name === 'verify-code-no-flow') {
        await page.getByRole('alert').filter({ hasText: TEXT.noCodeInProgress }).waitFor();
        assert.equal(await page.getByLabel('Code from the text message').isVisible(), false);
        assert.equal(await page.getByRole('link', { name: 'Back to sign in' }).first().isVisible(), true);
      }
      await screenshot(page, `${prefix}-${name}`);
    }
    if (prefix === 'desktop') {
      await signInSilently(page, stack, EMAIL, NEW_PASSWORD);
      await screenshot(page, 'desktop-account');
    }
    assert.deepEqual(context.problems, []);
    await context.close();
  }
});
