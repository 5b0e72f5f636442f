// 5. After sign-in, ?next= is followed only when it is exactly an allowed path of ours. Checked twice
//    per sign-in: the login page forwards only an allowed `next` to the code page, and the code page,
//    given the hostile value straight in its own URL, still lands on /account.html.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mainText, newContext, newPage, PHONE, useStacks } from '../lib/browser.mjs';
import { enterCode, latestSms, submitLogin, waitForCodePage } from '../lib/flows.mjs';
import { DEMO_PASSWORD, DEMO_PHONES } from '../lib/stack.mjs';

// Six sign-ins, each texting a code: taken in turns by two accounts, to stay within 3 text
// messages per number per 10 minutes.
const EMAILS = ['alice@example.com', 'nina@example.com'];
let signIns = 0;

let stack;
let browser;

// Coverage off: sign-ins take the SIM check and a code (the silent sign-in is in reset-verified).
useStacks([{ args: ['--no-coverage'] }], ([s], b) => {
  stack = s;
  browser = b;
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
  const email = EMAILS[signIns++ % EMAILS.length];
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
  await submitLogin(page, email, DEMO_PASSWORD);
  await waitForCodePage(page, 'login');
  const forwarded = new URL(page.url()).searchParams.getAll('next');

  // The code page's own allowlist: the same query, straight in its URL (same tab, same flow).
  await page.goto(`${stack.site}/verify-code.html?flow=login&${query}`);
  await page.getByLabel('Code from the text message').waitFor();
  await enterCode(page, (await latestSms(stack, DEMO_PHONES[email])).code);
  await page.waitForURL((url) => url.pathname === '/account.html');
  await page.locator('#me-email').filter({ hasText: email }).waitFor();
  const url = new URL(page.url());
  const text = await mainText(page);
  assert.deepEqual(context.problems, []);
  await context.close();
  return { email, forwarded, url, text, dialogs, offsite };
}

for (const [label, query] of HOSTILE) {
  test(`?next=${label} lands on our /account.html`, { timeout: 30_000 }, async () => {
    const { email, forwarded, url, text, dialogs, offsite } = await signInWith(query);
    assert.deepEqual(forwarded, [], 'the login page did not pass it on');
    assert.equal(url.origin, stack.site);
    assert.equal(url.pathname, '/account.html');
    assert.equal(url.search, '');
    assert.ok(text.includes(email));
    assert.deepEqual(dialogs, [], 'no script ran');
    assert.deepEqual(offsite, [], 'no request left our origin');
  });
}

test('?next=/account.html (allowed) is followed', { timeout: 30_000 }, async () => {
  const { forwarded, url } = await signInWith('next=/account.html');
  assert.deepEqual(forwarded, ['/account.html']);
  assert.equal(url.origin, stack.site);
  assert.equal(url.pathname, '/account.html');
});

// The site's file server never answers with a protocol-relative Location (`//help/` would send the
// browser to a host named "help"): a path that starts with two slashes is not a page.
test('no redirect of the site leaves it', { timeout: 30_000 }, async () => {
  for (const path of ['//help', '//reset', '//js', '//evil.tld/x', '///help', '/help', '/reset']) {
    const r = await fetch(`${stack.site}${path}`, { redirect: 'manual' });
    const location = r.headers.get('location');
    assert.ok(
      location === null || (location.startsWith('/') && !location.startsWith('//') && !location.startsWith('/\\')),
      `${path}: ${r.status} Location ${location}`,
    );
    if (path.startsWith('//')) assert.equal(r.status, 404, `${path}: ${r.status}`);
  }
});
