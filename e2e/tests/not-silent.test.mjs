// When no silent check can run, the page says so — in exactly the same words whether the email is
// unknown or the connection is not a covered mobile one (no account enumeration).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { PHONE, launch, mainText, newContext, newPage, screenshot } from '../lib/browser.mjs';
import { TEXT, recordNavigations, startReset } from '../lib/flows.mjs';
import { setCoverage, startStack, truidRequests } from '../lib/stack.mjs';

const stacks = [];
let browser;

after(async () => {
  await browser?.close();
  await Promise.all(stacks.map((s) => s.stop()));
});

async function notSilent(stack, email, shot) {
  browser ??= await launch();
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  const navigations = recordNavigations(page);
  await startReset(page, stack.site, email);
  await page.getByRole('status').filter({ hasText: TEXT.notSilent }).waitFor();
  assert.equal(await page.getByRole('button', { name: 'Continue' }).isEnabled(), true, 'form usable again');
  assert.equal(await page.locator('#progress .spinner').isVisible(), false, 'no progress shown');
  if (shot) await screenshot(page, shot);
  const text = await mainText(page);
  assert.ok(navigations.every((u) => u.startsWith(`${stack.site}/`)), navigations.join('\n'));
  const created = (await truidRequests(stack)).filter(
    (r) => r.method === 'POST' && r.path === '/subscriber_check/v0.2/checks',
  );
  assert.deepEqual(created, [], 'no SubscriberCheck created');
  assert.deepEqual(context.problems, []);
  await context.close();
  return text;
}

test('an unknown email and an uncovered connection get the same words', { timeout: 60_000 }, async () => {
  const covered = await startStack();
  stacks.push(covered);
  const unknown = await notSilent(covered, 'nobody@example.com', 'phone-forgot-not-silent');

  const uncovered = await startStack();
  stacks.push(uncovered);
  await setCoverage(uncovered, '127.0.0.1', 'not_mobile_ip');
  const wifi = await notSilent(uncovered, 'alice@example.com');

  assert.ok(unknown.includes(TEXT.notSilent));
  assert.equal(wifi, unknown);
});
