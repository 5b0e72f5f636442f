// 4. Nothing from the URL reaches the page as markup: codes only select fixed texts, unknown codes
//    get the generic text.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mainText, newContext, newPage, PHONE, screenshot, useStacks } from '../lib/browser.mjs';
import { TEXT } from '../lib/flows.mjs';

let stack;
let browser;

useStacks([{}], ([s], b) => {
  stack = s;
  browser = b;
});

const q = (params) => `?${new URLSearchParams(params)}`;

// Each page's own markup has no <img> and only its module <script src>: anything more was injected.
async function assertNothingInjected(page, label) {
  const found = await page.evaluate(() => ({
    x: typeof window.__x,
    imgs: document.querySelectorAll('img').length,
    inlineScripts: [...document.scripts].filter((s) => !s.src).length,
    scripts: [...document.scripts].map((s) => new URL(s.src).pathname),
    handlers: [...document.querySelectorAll('*')].filter((el) =>
      [...el.attributes].some((a) => a.name.startsWith('on')),
    ).length,
    bodyHtml: document.body.innerHTML,
    bodyText: document.body.innerText,
  }));
  assert.equal(found.x, 'undefined', `${label}: window.__x`);
  assert.equal(found.imgs, 0, `${label}: <img> elements`);
  assert.equal(found.inlineScripts, 0, `${label}: inline <script> elements`);
  assert.equal(found.handlers, 0, `${label}: inline event handlers`);
  assert.ok(found.scripts.every((p) => p.startsWith('/js/')), `${label}: scripts ${found.scripts}`);
  for (const needle of ['<script', 'onerror', 'messageClass', '__x']) {
    assert.ok(!found.bodyText.includes(needle), `${label}: body text contains ${needle}`);
    assert.ok(!found.bodyHtml.includes(needle), `${label}: body markup contains ${needle}`);
  }
}

test('the result page shows the generic text for anything but its fixed codes', { timeout: 60_000 }, async () => {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  const cases = [
    ['r=<script>', q({ r: '<script>window.__x=1</script>' })],
    ['message=<script>', q({ message: '<script>window.__x=1</script>' })],
    ['messageClass=', q({ r: 'no_match', messageClass: '"><img src=x onerror=window.__x=1>' })],
    ['r=__proto__', q({ r: '__proto__' })],
    ['r=toString', q({ r: 'toString' })],
    ['r=<img>', q({ r: '"><img src=x onerror=window.__x=1>', m: '<img src=x onerror=window.__x=1>' })],
    ['no r', ''],
  ];
  for (const [label, query] of cases) {
    await page.goto(`${stack.site}/reset/result.html${query}`);
    await page.waitForLoadState('load');
    await assertNothingInjected(page, label);
    const text = await mainText(page);
    if (label === 'messageClass=') {
      // A known code with an extra parameter: the code's own text, the rest ignored.
      assert.ok(text.includes(TEXT.noMatch), `${label}: ${text}`);
    } else {
      assert.ok(text.includes(TEXT.resultGeneric), `${label}: generic text, got ${text}`);
    }
    if (label === 'r=<script>') await screenshot(page, 'phone-result-generic');
  }
  assert.deepEqual(context.problems, []);
  await context.close();
});

test('the blocked page shows only its fixed texts and links', { timeout: 60_000 }, async () => {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  const links = () =>
    page.locator('#actions a').evaluateAll((as) => as.map((a) => `${a.textContent} ${new URL(a.href).pathname}`));
  const cases = [
    ['r=<script>', q({ r: '<script>window.__x=1</script>', flow: 'login' }), TEXT.blockedGeneric],
    ['flow=<img>', q({ r: 'too_many_attempts', flow: '"><img src=x onerror=window.__x=1>' }), TEXT.blockedTooManyAttempts[1]],
    ['r=__proto__', q({ r: '__proto__', flow: '__proto__' }), TEXT.blockedGeneric],
    ['r=toString', q({ r: 'toString', flow: 'constructor' }), TEXT.blockedGeneric],
    ['r=sim_changed&flow=javascript:', q({ r: 'sim_changed', flow: 'javascript:window.__x=1' }), TEXT.blockedSimChanged[1]],
    ['no r', '', TEXT.blockedGeneric],
  ];
  for (const [label, query, text] of cases) {
    await page.goto(`${stack.site}/blocked.html${query}`);
    await page.waitForLoadState('load');
    await assertNothingInjected(page, label);
    assert.ok((await mainText(page)).includes(text), `${label}: ${await mainText(page)}`);
    // An unknown flow falls back to the sign-in page; only fixed paths are ever linked.
    const shown = await links();
    assert.ok(shown.includes('Back to sign in /login.html'), `${label}: ${shown}`);
    assert.ok(
      shown.every((l) => / \/(login\.html|forgot\.html|help\/not-me\.html)$/.test(l)),
      `${label}: ${shown}`,
    );
  }
  assert.deepEqual(context.problems, []);
  await context.close();
});

test('the code page takes nothing from its URL but a fixed flow name', { timeout: 60_000 }, async () => {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  for (const query of [
    q({ flow: '<script>window.__x=1</script>' }),
    q({ flow: '__proto__' }),
    q({ flow: 'login', next: 'javascript:window.__x=1' }),
    q({ flow: '"><img src=x onerror=window.__x=1>' }),
  ]) {
    await page.goto(`${stack.site}/verify-code.html${query}`);
    await page.waitForLoadState('load');
    await assertNothingInjected(page, query);
    // No flow token in this tab: nothing to verify, only "start again".
    await page.getByRole('alert').filter({ hasText: TEXT.noCodeInProgress }).waitFor();
    assert.equal(await page.locator('#restart a').getAttribute('href'), '/login.html');
  }
  assert.deepEqual(context.problems, []);
  await context.close();
});

test('the login page shows only its fixed ?m= notices', { timeout: 60_000 }, async () => {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  for (const m of ['<img src=x onerror=window.__x=1>', '<script>window.__x=1</script>', 'constructor', 'nope']) {
    await page.goto(`${stack.site}/login.html${q({ m, next: 'javascript:window.__x=1' })}`);
    await page.waitForLoadState('load');
    await assertNothingInjected(page, `m=${m}`);
    assert.equal(await page.locator('#notice').textContent(), '', `m=${m}: no notice`);
  }
  await page.goto(`${stack.site}/login.html?m=reset_ok`);
  await page.getByRole('status').filter({ hasText: TEXT.resetOk }).waitFor();
  assert.deepEqual(context.problems, []);
  await context.close();
});

test('pages are served with the Content-Security-Policy and no inline code', { timeout: 30_000 }, async () => {
  const pages = [
    '/',
    '/index.html',
    '/register.html',
    '/login.html',
    '/forgot.html',
    '/account.html',
    '/reset/new-password.html',
    '/reset/result.html',
    '/help/not-me.html',
    '/verify-code.html',
    '/blocked.html',
  ];
  for (const path of pages) {
    const res = await fetch(`${stack.site}${path}`);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self';/, path);
    const html = await res.text();
    assert.match(html, /^<!doctype html>\n<html lang="en">/, path);
    assert.match(html, /<meta name="viewport" content="width=device-width, initial-scale=1">/, path);
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, `${path}: inline script`);
    assert.doesNotMatch(html, /\sstyle=|\son[a-z]+=/i, `${path}: inline style or handler`);
    assert.doesNotMatch(html, /https?:\/\//i, `${path}: no third-party URL`);
  }
});
