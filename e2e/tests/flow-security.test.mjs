// 6. A check_url relayed to another browser does nothing there (and never reaches tru.ID's PATCH);
// 7. the flow cookie is __Host-, Secure, HttpOnly and SameSite=Lax in a real browser.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mainText, newContext, newPage, PHONE, screenshot, useStacks } from '../lib/browser.mjs';
import { TEXT, startReset } from '../lib/flows.mjs';
import { truidRequests } from '../lib/stack.mjs';

let stack;
let browser;

useStacks([{}], ([s], b) => {
  stack = s;
  browser = b;
});

const isPatch = (r) => r.method === 'PATCH' && r.path.startsWith('/subscriber_check/v0.2/checks/');

/** Starts alice's reset in `page` but stops the navigation to the operator; returns check_url. */
async function startButStop(page) {
  const opened = [];
  await page.route(`${stack.sandbox}/**`, async (route) => {
    opened.push(route.request().url());
    await route.abort('aborted');
  });
  const created = page.waitForResponse(
    (r) => r.url() === `${stack.site}/api/reset/check` && r.request().method() === 'POST',
  );
  const stopped = page.waitForEvent('requestfailed', (r) => r.url().startsWith(`${stack.sandbox}/`));
  await startReset(page, stack.site, 'alice@example.com');
  const body = await (await created).json();
  assert.equal(body.next, 'silent', JSON.stringify(body));
  assert.ok(body.check_url.startsWith(`${stack.sandbox}/`), body.check_url);
  // The page did try to open exactly that URL, as a top-level navigation.
  const request = await stopped;
  assert.equal(request.url(), body.check_url);
  assert.equal(request.isNavigationRequest(), true);
  assert.equal(request.frame(), page.mainFrame());
  assert.deepEqual(opened, [body.check_url]);
  await page.unroute(`${stack.sandbox}/**`);
  return body.check_url;
}

test('the flow cookie is __Host-, Secure, HttpOnly and SameSite=Lax', { timeout: 30_000 }, async () => {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  await startButStop(page);
  const flow = (await context.cookies(stack.site)).find((c) => c.name === '__Host-simguard-flow');
  assert.ok(flow, 'Chromium kept the __Host-simguard-flow cookie on http://127.0.0.1');
  assert.equal(flow.httpOnly, true);
  assert.equal(flow.secure, true);
  assert.equal(flow.sameSite, 'Lax');
  assert.equal(flow.path, '/');
  assert.equal(flow.domain, '127.0.0.1', 'host-only');
  await page.goto(`${stack.site}/forgot.html`);
  assert.ok(!(await page.evaluate(() => document.cookie)).includes('simguard'), 'not readable by scripts');
  await context.close();
});

test('a check_url opened by a browser that did not start the reset is refused', { timeout: 60_000 }, async () => {
  const a = await newContext(browser, PHONE);
  const pageA = await newPage(a);
  const checkUrl = await startButStop(pageA);
  const before = (await truidRequests(stack)).length;

  // Browser B: no cookies, opens the relayed link.
  const b = await newContext(browser, PHONE);
  const pageB = await newPage(b);
  await pageB.goto(checkUrl);
  await pageB.waitForURL((url) => url.pathname === '/reset/result.html');
  const landed = new URL(pageB.url());
  assert.equal(landed.origin, stack.site);
  assert.equal(landed.searchParams.get('r'), 'link_invalid');
  assert.ok((await mainText(pageB)).includes(TEXT.linkInvalid));
  await screenshot(pageB, 'phone-result-link-invalid');
  assert.deepEqual(await b.cookies(), [], 'B was given no cookie');

  const log = await truidRequests(stack);
  // B did reach the operator (so the refusal is ours, after the redirect) …
  assert.ok(
    log.slice(before).some((r) => r.method === 'GET' && r.path.endsWith('/redirect')),
    JSON.stringify(log),
  );
  // … and no code was exchanged with tru.ID.
  assert.deepEqual(log.filter(isPatch), [], JSON.stringify(log));

  // Replaying it in B again changes nothing.
  await pageB.goto(checkUrl);
  await pageB.waitForURL((url) => url.pathname === '/reset/result.html');
  assert.equal(new URL(pageB.url()).searchParams.get('r'), 'link_invalid');
  assert.deepEqual((await truidRequests(stack)).filter(isPatch), []);

  // The browser that started the reset can still finish it: the relay did not use up its flow.
  await pageA.goto(checkUrl);
  await pageA.waitForURL((url) => url.pathname === '/reset/new-password.html');
  assert.match(await mainText(pageA), /Choose a new password/);
  assert.equal((await truidRequests(stack)).filter(isPatch).length, 1);

  assert.deepEqual(a.problems.filter((p) => !p.includes('net::ERR_ABORTED')), []);
  assert.deepEqual(b.problems, []);
  await b.close();
  await a.close();
});
