// 5. After sign-in, ?next= is followed only when it is exactly an allowed path of ours.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PHONE, launch, mainText, newContext, newPage } from '../lib/browser.mjs';
import { submitLogin } from '../lib/flows.mjs';
import { DEMO_PASSWORD, startStack } from '../lib/stack.mjs';

// One account, six sign-ins: under its limit of 10 per 15 minutes.
const EMAIL = 'erin@example.com';

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

// The raw query strings, exactly as an attacker would write them into a link.
const HOSTILE = [
  ['//evil.tld', 'next=//evil.tld'],
  ['/\\evil.tld', 'next=/%5Cevil.tld'],
  ['%2F%2Fevil.tld', 'next=%2F%2Fevil.tld'],
  ['https://evil.tld', 'next=https://evil.tld'],
  ['javascript:alert(1)', 'next=javascript:alert(1)'],
];

async function signInWith(query) {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  const dialogs = [];
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  const offsite = [];
  context.on('request', (r) => {
    if (!r.url().startsWith(`${stack.site}/`)) offsite.push(r.url());
  });
  await page.goto(`${stack.site}/login.html?${query}`);
  await submitLogin(page, EMAIL, DEMO_PASSWORD);
  await page.waitForURL((url) => url.pathname === '/account.html');
  await page.locator('#me-email').filter({ hasText: EMAIL }).waitFor();
  const url = new URL(page.url());
  const text = await mainText(page);
  assert.deepEqual(context.problems, []);
  await context.close();
  return { url, text, dialogs, offsite };
}

for (const [label, query] of HOSTILE) {
  test(`?next=${label} lands on our /account.html`, { timeout: 30_000 }, async () => {
    const { url, text, dialogs, offsite } = await signInWith(query);
    assert.equal(url.origin, stack.site);
    assert.equal(url.pathname, '/account.html');
    assert.equal(url.search, '');
    assert.ok(text.includes(EMAIL));
    assert.deepEqual(dialogs, [], 'no script ran');
    assert.deepEqual(offsite, [], 'no request left our origin');
  });
}

test('?next=/account.html (allowed) is followed', { timeout: 30_000 }, async () => {
  const { url } = await signInWith('next=/account.html');
  assert.equal(url.origin, stack.site);
  assert.equal(url.pathname, '/account.html');
});
