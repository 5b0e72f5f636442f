// The SIM-swap gate of login 2FA: a right password is not enough when the SIM card changed recently
// (sam) or the network gives no SIM answer (erin): no text message is sent, the blocked page says
// why, and the owner is emailed. A new account (newbie) gets one sign-in despite a changed SIM: once
// its phone is verified, the gate applies.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newContext, newPage, PHONE, screenshot, useStacks } from '../lib/browser.mjs';
import { TEXT, assertLines, meStatus, signIn, submitLogin } from '../lib/flows.mjs';
import { DEMO_PASSWORD, DEMO_PHONES, outbox, smsOutbox } from '../lib/stack.mjs';

let stack;
let withSupport;
let browser;

const SUPPORT = 'help@bank.example';

// Coverage off: sign-ins take the SIM check and a code (the silent sign-in is in reset-verified).
useStacks([{ args: ['--no-coverage'] }, { args: ['--no-coverage'], env: { SIMGUARD_SUPPORT_CONTACT: SUPPORT, SIMGUARD_SITE_NAME: 'Example Bank' } }], ([s, w], b) => {
  stack = s;
  withSupport = w;
  browser = b;
});

/** Signs in with the right password and waits for the blocked page; returns its URL. */
async function signInUntilBlocked(page, email) {
  await page.goto(`${stack.site}/login.html`);
  await submitLogin(page, email, DEMO_PASSWORD);
  await page.waitForURL((url) => url.pathname === '/blocked.html');
  await page.locator('#actions a').first().waitFor();
  return new URL(page.url());
}

/** The blocked page's action links: [[label, path]]. */
const actions = (page) =>
  page.locator('#actions a').evaluateAll((links) => links.map((a) => [a.textContent, new URL(a.href).pathname]));

test('sam: the SIM changed recently, so no code is sent and sam is emailed', { timeout: 60_000 }, async () => {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  const landed = await signInUntilBlocked(page, 'sam@example.com');
  assert.equal(landed.searchParams.get('r'), 'sim_changed');
  assert.equal(landed.searchParams.get('flow'), 'login');
  await assertLines(page, TEXT.blockedSimChanged, 'sim_changed');
  assert.deepEqual(await actions(page), [
    ['What to do if this was not you', '/help/not-me.html'],
    ['Back to sign in', '/login.html'],
  ]);
  // No support contact configured: the generic way.
  await page.locator('p.support').waitFor();
  await assertLines(page, ['Contact our support team to regain access to your account.'], 'sim_changed');
  await screenshot(page, 'phone-blocked-sim-changed');

  // Not signed in, the flow's token dropped, and the flow cannot be pushed on to a text message.
  assert.equal(await meStatus(page), 401);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('simguard.login.csrf')), null);
  assert.deepEqual(await smsOutbox(stack, DEMO_PHONES['sam@example.com']), [], 'no text message to sam');

  const mail = (await outbox(stack)).filter((m) => m.to === 'sam@example.com');
  assert.deepEqual(
    mail.map((m) => m.kind),
    ['sim_change_blocked'],
  );
  assert.ok(mail[0].body.includes('/help/not-me.html'));
  assert.ok(!mail[0].body.includes(DEMO_PASSWORD));

  // The help link works.
  await page.getByRole('link', { name: 'What to do if this was not you' }).click();
  await page.waitForURL((url) => url.pathname === '/help/not-me.html');
  assert.deepEqual(context.problems, []);
  await context.close();
});

test('erin: no SIM answer from the network, so no code is sent', { timeout: 60_000 }, async () => {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  const landed = await signInUntilBlocked(page, 'erin@example.com');
  assert.equal(landed.searchParams.get('r'), 'sim_unavailable');
  await assertLines(page, TEXT.blockedSimUnavailable, 'sim_unavailable');
  assert.deepEqual(await actions(page), [['Back to sign in', '/login.html']]);
  await screenshot(page, 'phone-blocked-sim-unavailable');
  assert.equal(await meStatus(page), 401);
  assert.deepEqual(await smsOutbox(stack, DEMO_PHONES['erin@example.com']), []);
  assert.deepEqual(
    (await outbox(stack)).filter((m) => m.to === 'erin@example.com').map((m) => m.kind),
    ['second_factor_failed'],
  );
  assert.deepEqual(context.problems, []);
  await context.close();
});

test('newbie: a new account signs in once despite a changed SIM, then is blocked', { timeout: 60_000 }, async () => {
  const email = 'newbie@example.com';
  const number = DEMO_PHONES[email];
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);

  // First sign-in: the grace of a new, never verified account lets the code through.
  const sms = await signIn(page, stack, email, DEMO_PASSWORD);
  assert.equal(sms.to, number);
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL((url) => url.pathname === '/login.html' && url.search === '?m=signed_out');
  assert.equal(await meStatus(page), 401);

  // The code proved the phone: the next sign-in meets the SIM-swap gate like any other.
  const landed = await signInUntilBlocked(page, email);
  assert.equal(landed.searchParams.get('r'), 'sim_changed');
  await assertLines(page, TEXT.blockedSimChanged, 'sim_changed');
  assert.equal(await meStatus(page), 401);
  assert.equal((await smsOutbox(stack, number)).length, 1, 'only the first sign-in sent a code');
  assert.deepEqual(
    (await outbox(stack)).filter((m) => m.to === email).map((m) => m.kind),
    ['sim_change_blocked'],
  );
  assert.deepEqual(context.problems, []);
  await context.close();
});

test('the SIM-change refusals name the support contact the site configured', { timeout: 60_000 }, async () => {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  // The login's blocked page.
  await page.goto(`${withSupport.site}/login.html`);
  await submitLogin(page, 'sam@example.com', DEMO_PASSWORD);
  await page.waitForURL((url) => url.pathname === '/blocked.html');
  const link = page.locator('p.support a');
  await link.waitFor();
  assert.equal(await link.textContent(), SUPPORT);
  assert.equal(await link.getAttribute('href'), `mailto:${SUPPORT}`);
  await assertLines(
    page,
    ['If the SIM change was yours, this works again 7 days after the change.', `Contact ${SUPPORT} to regain access to your account.`],
    'blocked, with support',
  );
  // The site's name, in the header, the footer and the tab's title.
  await page.locator('.site-header a').filter({ hasText: 'Example Bank' }).waitFor();
  assert.equal(await page.locator('.site-footer [data-site-name]').textContent(), 'Example Bank');
  assert.match(await page.title(), / — Example Bank$/);
  // The reset's result page says the same.
  await page.goto(`${withSupport.site}/reset/result.html?r=sim_changed`);
  await page.locator('p.support a').waitFor();
  await assertLines(page, [`Contact ${SUPPORT} to regain access to your account.`], 'result, with support');
  // The no-match refusal names it too, without the SIM-change window.
  await page.goto(`${withSupport.site}/reset/result.html?r=no_match`);
  await page.locator('p.support a').waitFor();
  await assertLines(page, [`Contact ${SUPPORT} to regain access to your account.`], 'no_match, with support');
  assert.equal(await page.locator('p.window').count(), 0);
  // Pages for other outcomes do not.
  await page.goto(`${withSupport.site}/reset/result.html?r=silent_failed`);
  await page.locator('#actions a').first().waitFor();
  assert.equal(await page.locator('p.support').count(), 0);
  // The help page and the account page's phone section name it in their text.
  await page.goto(`${withSupport.site}/help/not-me.html`);
  const inline = page.locator('[data-support-contact] a');
  await inline.waitFor();
  assert.equal(await inline.getAttribute('href'), `mailto:${SUPPORT}`);
  assert.deepEqual(context.problems, []);
  await context.close();
});
