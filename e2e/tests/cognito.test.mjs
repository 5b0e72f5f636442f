// The Cognito client example (examples/cognito-client, amazon-cognito-identity-js) signing in to a
// user pool whose custom-authentication triggers are simguard's: the password by SRP, then an SMS
// code, or the silent check over "mobile data"; a recent SIM change refuses. Cognito itself is the
// stand-in of e2e/lib/fake-cognito.mjs, which runs the real triggers through the local stack.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newContext, newPage, PHONE, screenshot, useStacks } from '../lib/browser.mjs';
import { startFakeCognito } from '../lib/fake-cognito.mjs';
import { latestSms } from '../lib/flows.mjs';
import { freePort, startExample } from '../lib/stack.mjs';

let browser;
const stacks = useStacks([], (_, b) => {
  browser = b;
});

const POOL = 'eu-west-2_Ex4mple';
const USERS = {
  'alice@example.com': { sub: 'a1', email: 'alice@example.com', phone_number: '+447000000070', phone_number_verified: 'true' },
  'sam@example.com': { sub: 's1', email: 'sam@example.com', phone_number: '+447000000008', phone_number_verified: 'true' },
};


/** The local stack (the triggers), the Cognito stand-in, and the example app on its own origin. */
async function setUp(args) {
  const port = await freePort();
  const app = `http://127.0.0.1:${port}`;
  const stack = await stacks.start({ args, env: { SIMGUARD_COGNITO_RETURN_URL: `${app}/return.html` } });
  const cognito = await startFakeCognito({ stackSite: stack.site, userPoolId: POOL, users: USERS });
  const stopApp = await startExample(
    'cognito-client',
    { COGNITO_USER_POOL_ID: POOL, COGNITO_CLIENT_ID: 'example-client', COGNITO_ENDPOINT: cognito.endpoint, PORT: String(port) },
    /example Cognito sign-in on/,
  );
  return {
    stack,
    app,
    cognito,
    stop: async () => {
      stopApp();
      await cognito.stop();
    },
  };
}

async function signIn(page, app, email, { mobileData = false } = {}) {
  await page.goto(app);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill('the pool checks this by SRP');
  if (mobileData) await page.getByLabel(/mobile data on and Wi-Fi off/).check();
  await page.getByRole('button', { name: 'Sign in' }).click();
}

test('a Cognito sign-in: the password, then a code texted after the SIM check', { timeout: 90_000 }, async () => {
  const { stack, app, cognito, stop } = await setUp(['--no-coverage']);
  try {
    const page = await newPage(await newContext(browser, PHONE));
    await signIn(page, app, 'alice@example.com');
    await page.getByRole('status').filter({ hasText: 'We sent a code by text message to your phone ending 70.' }).waitFor();
    const sms = await latestSms(stack, '+447000000070');
    await page.getByLabel('Code from the text message').fill(sms.code === '000000' ? '111111' : '000000');
    await page.getByRole('button', { name: 'Verify code' }).click();
    await page.getByRole('alert').filter({ hasText: 'That code is not right' }).waitFor();
    await page.getByLabel('Code from the text message').fill(sms.code);
    await page.getByRole('button', { name: 'Verify code' }).click();
    await page.getByRole('status').filter({ hasText: 'Signed in as alice@example.com.' }).waitFor();
    await screenshot(page, 'phone-cognito-signed-in');
    assert.deepEqual(
      cognito.calls.filter((c) => c.startsWith('Create')).length,
      2,
      'a round for the code, and one after the wrong code (the same code)',
    );
    assert.equal((await latestSms(stack, '+447000000070')).code, sms.code, 'one code for the sign-in');
  } finally {
    await stop();
  }
});

test('a Cognito sign-in proven silently, through the return page', { timeout: 90_000 }, async () => {
  const { app, stop } = await setUp([]);
  try {
    const page = await newPage(await newContext(browser, PHONE));
    await signIn(page, app, 'alice@example.com', { mobileData: true });
    await page.waitForURL((url) => url.origin === app && url.pathname === '/return.html');
    await page.getByRole('status').filter({ hasText: 'Signed in as alice@example.com.' }).waitFor();
    assert.equal(new URL(page.url()).search, '', 'the proof leaves the address bar');
  } finally {
    await stop();
  }
});

test('a recent SIM change refuses the Cognito sign-in', { timeout: 90_000 }, async () => {
  const { stack, app, stop } = await setUp(['--no-coverage']);
  try {
    const page = await newPage(await newContext(browser, PHONE));
    await signIn(page, app, 'sam@example.com', { mobileData: true });
    await page.getByRole('alert').filter({ hasText: /Sign-in refused\. The SIM card for your number changed recently/ }).waitFor();
    const res = await fetch(`${stack.sandbox}/_sandbox/outbox?to=${encodeURIComponent('+447000000008')}`);
    assert.deepEqual(await res.json(), [], 'no SMS');
  } finally {
    await stop();
  }
});
