// The verification API end to end: the example relying site (examples/relying-site, its own users,
// jose for the token) asks the local stack to prove a phone; the browser runs simguard's hosted page
// and comes back with a signed result, which the site checks against the JWKS and redeems once. A
// replayed result is refused by the site and by simguard.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { axeViolations, mainText, newContext, newPage, PHONE, screenshot, useStacks } from '../lib/browser.mjs';
import { latestSms } from '../lib/flows.mjs';
import { freePort, startExample, startStack } from '../lib/stack.mjs';

let browser;
const stacks = useStacks([], (_, b) => {
  browser = b;
});


/** The local stack with the demo site returning to an example site on a port of its own, and that site. */
async function stackWithExampleSite(args) {
  const port = await freePort();
  const stack = await stacks.start({ args, env: { SIMGUARD_LOCAL_DEMO_RETURN_URL: `http://127.0.0.1:${port}/verified` } });
  await stack.waitForOutput(/its API key: sgk_\S+/);
  const key = stack.output().match(/its API key: (sgk_\S+)/)[1];
  const stop = await startExample(
    'relying-site',
    { SIMGUARD_URL: stack.site, SIMGUARD_SITE_ID: 'demo-shop', SIMGUARD_API_KEY: key, PORT: String(port) },
    /example relying site on/,
  );
  const site = `http://127.0.0.1:${port}`;
  return { stack, key, site, stop };
}

async function verifyFrom(page, site, phone, purpose) {
  await page.goto(site);
  await page.getByLabel('Mobile number (E.164)').fill(phone);
  await page.getByLabel('Why').selectOption(purpose);
  await page.getByRole('button', { name: 'Verify my phone with simguard' }).click();
}

const outcome = (page) => page.locator('#outcome').innerText();

test('a site verifies its user by SMS on the hosted page; the result redeems once', { timeout: 90_000 }, async () => {
  const { stack, key, site, stop } = await stackWithExampleSite(['--no-coverage']);
  try {
    const page = await newPage(await newContext(browser, PHONE));
    await verifyFrom(page, site, '+447000000070', 'login');
    await page.waitForURL((url) => url.origin === stack.site && url.pathname === '/verify/');
    assert.equal(new URL(page.url()).hash, '', 'the link token leaves the address bar');
    await page.getByLabel('Code from the text message').waitFor();
    assert.match(await mainText(page), /Demo Shop asked us to confirm/);
    assert.match(await mainText(page), /ending 70/);
    await screenshot(page, 'phone-hosted-verify-code');
    assert.deepEqual(await axeViolations(page), [], 'the hosted page with its code form passes axe-core');
    const sms = await latestSms(stack, '+447000000070');
    await page.getByLabel('Code from the text message').fill(sms.code);
    await page.getByRole('button', { name: 'Verify code' }).click();
    await page.waitForURL((url) => url.origin === site && url.pathname === '/verified');
    assert.equal(await outcome(page), 'verified: sms for login, SIM not_changed');
    const back = page.url();

    // The same result again: the site refuses it, and so does simguard.
    await page.goto(back);
    assert.equal(await outcome(page), 'refused: replayed token');
    const token = new URL(back).searchParams.get('simguard_token');
    const redeem = await fetch(`${stack.site}/api/v1/verifications/redeem`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Simguard-Api-Key': key },
      body: JSON.stringify({ token }),
    });
    assert.equal(redeem.status, 409);
    assert.equal((await redeem.json()).type, 'urn:simguard:problem:result_token_used');

    // A tampered result: the site's own check of the signature refuses it.
    const tampered = new URL(back);
    const t = tampered.searchParams.get('simguard_token');
    tampered.searchParams.set('simguard_token', `${t.slice(0, -2)}${t.at(-2) === 'A' ? 'B' : 'A'}${t.at(-1)}`);
    await page.goto(tampered.toString());
    assert.equal(await outcome(page), 'refused: ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
    // Redeeming with a key that is not the site's: refused before anything is said of the token.
    const stranger = await fetch(`${stack.site}/api/v1/verifications/redeem`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Simguard-Api-Key': `${key.slice(0, -4)}xxxx` },
      body: JSON.stringify({ token }),
    });
    assert.equal(stranger.status, 401, await stranger.text());
  } finally {
    stop();
  }
});

test('a covered phone is proven silently; a recent SIM change refuses a recovery', { timeout: 90_000 }, async () => {
  const { site, stop } = await stackWithExampleSite([]);
  try {
    const page = await newPage(await newContext(browser, PHONE));
    await verifyFrom(page, site, '+447000000070', 'recovery');
    await page.waitForURL((url) => url.origin === site && url.pathname === '/verified', { timeout: 30_000 });
    assert.equal(await outcome(page), 'verified: silent for recovery, SIM not_changed');

    await verifyFrom(page, site, '+447000000008', 'recovery');
    await page.waitForURL((url) => url.origin === site && url.pathname === '/verified', { timeout: 30_000 });
    assert.equal(await outcome(page), 'not verified: sim_changed');
  } finally {
    stop();
  }
});

test('a link opens once; a stranger cannot reuse it', { timeout: 60_000 }, async () => {
  const stack = await startStack({ args: ['--no-coverage'] });
  try {
    await stack.waitForOutput(/its API key: sgk_\S+/);
    const key = stack.output().match(/its API key: (sgk_\S+)/)[1];
    const created = await fetch(`${stack.site}/api/v1/verifications`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Simguard-Api-Key': key },
      body: JSON.stringify({ phone: '+447000000070', purpose: 'step_up', return_url: 'http://127.0.0.1:8081/verified' }),
    });
    assert.equal(created.status, 201);
    const { url } = await created.json();
    const first = await newPage(await newContext(browser, PHONE));
    await first.goto(url);
    await first.getByLabel('Code from the text message').waitFor();
    const second = await newPage(await newContext(browser, PHONE));
    await second.goto(url);
    await second.getByRole('alert').filter({ hasText: /not valid, has expired or was already used/ }).waitFor();
  } finally {
    await stack.stop();
  }
});
