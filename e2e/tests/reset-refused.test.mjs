// 2. sam's SIM changed recently, 3. nina's phone is not the account's, and erin's operator fails the
//    check: each is refused with its own message, never reaches the new-password page, and keeps
//    the old password.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PHONE, launch, mainText, newContext, newPage, screenshot } from '../lib/browser.mjs';
import { TEXT, recordNavigations, resetUntilLanded, signIn } from '../lib/flows.mjs';
import { DEMO_PASSWORD, outbox, startStack, truidRequests } from '../lib/stack.mjs';

let stack;
let browser;

before(async () => {
  stack = await startStack();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

async function refused({ email, code, text, shot }) {
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
  // The result page dropped the flow's token.
  assert.equal(await page.evaluate(() => sessionStorage.getItem('simguard.reset.csrf')), null);

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

  // The old password still signs in.
  await signIn(page, stack.site, email, DEMO_PASSWORD);
  assert.ok((await mainText(page)).includes(email));

  assert.deepEqual(context.problems, []);
  await context.close();
}

test('sam: the SIM changed recently, so the reset is refused and sam is emailed', { timeout: 60_000 }, async () => {
  await refused({ email: 'sam@example.com', code: 'sim_changed', text: TEXT.simChanged, shot: 'phone-result-sim-changed' });
  const mail = (await outbox(stack)).filter((m) => m.to === 'sam@example.com');
  assert.deepEqual(
    mail.map((m) => m.kind),
    ['sim_change_blocked'],
    JSON.stringify(mail),
  );
  assert.ok(mail[0].body.includes('/help/not-me.html'));
});

test('nina: the phone on this connection is not the account phone', { timeout: 60_000 }, async () => {
  await refused({ email: 'nina@example.com', code: 'no_match', text: TEXT.noMatch, shot: 'phone-result-no-match' });
  const mail = (await outbox(stack)).filter((m) => m.to === 'nina@example.com');
  assert.ok(!mail.some((m) => m.kind === 'password_reset'), JSON.stringify(mail));
});

test('erin: the operator check fails, and the page offers to try again', { timeout: 60_000 }, async () => {
  await refused({
    email: 'erin@example.com',
    code: 'silent_failed',
    text: TEXT.silentFailed,
    shot: 'phone-result-silent-failed',
  });
});

test('each refused check was completed once with tru.ID, and nobody got a password_reset email', { timeout: 30_000 }, async () => {
  const patches = (await truidRequests(stack)).filter(
    (r) => r.method === 'PATCH' && r.path.startsWith('/subscriber_check/v0.2/checks/'),
  );
  assert.equal(patches.length, 3, JSON.stringify(patches));
  assert.ok(!(await outbox(stack)).some((m) => m.kind === 'password_reset'));
});
