// When no silent check runs, the reset takes the SMS path — and an unknown email sees exactly what a
// known account on an uncovered connection sees, step by step up to (and on) the code page: the same
// pages, the same words, the same answers from the API. Nothing is texted for the unknown email.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newContext, newPage, PHONE, screenshot, useStacks } from '../lib/browser.mjs';
import { TEXT, enterCode, mainLines, recordNavigations, startReset, waitForCodePage } from '../lib/flows.mjs';
import { DEMO_PHONES, outbox, smsOutbox, truidRequests } from '../lib/stack.mjs';

let covered;
let uncovered;
let browser;

useStacks([{}, { args: ['--no-coverage'] }], ([first, second], b) => {
  [covered, uncovered] = [first, second];
  browser = b;
});

const STEPS = ['/api/reset/check', '/api/sim-check', '/api/otp/start'];

/** The shape of a JSON answer: its keys, and the values of those that are not secrets. */
function shape(body) {
  return Object.fromEntries(
    Object.keys(body ?? {})
      .sort()
      .map((k) => [k, k === 'csrf' ? typeof body[k] : body[k]]),
  );
}

/**
 * Starts a reset for `email` and records what the person sees: the <main> text while each step of
 * the SMS path runs (each request is held until its text is read), the code page, and the answer to
 * a wrong code. Also the pages visited and the API's answers.
 */
async function journey(stack, email, shot) {
  const context = await newContext(browser, PHONE);
  const page = await newPage(context);
  const navigations = recordNavigations(page);
  const seen = [];
  const answers = [];
  for (const path of [...STEPS, '/api/otp/verify']) {
    await page.route(`${stack.site}${path}`, async (route) => {
      if (STEPS.includes(path)) seen.push([path, await mainLines(page)]);
      // Fetched here and handed to the page unchanged, so that the answer can be read even when the
      // page navigates away at once.
      const response = await route.fetch();
      answers.push([path, response.status(), shape(await response.json())]);
      await route.fulfill({ response });
    });
  }

  await startReset(page, stack.site, email);
  await waitForCodePage(page, 'reset');
  seen.push(['code page', await mainLines(page)]);
  if (shot) await screenshot(page, shot);
  await enterCode(page, '000000');
  await page.getByRole('alert').filter({ hasText: TEXT.codeInvalid }).waitFor();
  seen.push(['wrong code', await mainLines(page)]);

  assert.ok(navigations.every((u) => u.startsWith(`${stack.site}/`)), navigations.join('\n'));
  const pages = navigations.map((u) => {
    const url = new URL(u);
    return url.pathname + url.search;
  });
  assert.deepEqual(context.problems, []);
  await context.close();
  return { pages, seen, answers };
}

test('an unknown email sees exactly what alice sees on the SMS path, and nothing is texted', { timeout: 90_000 }, async () => {
  // Uncovered connection: the unknown email first, then alice.
  const unknown = await journey(uncovered, 'nobody@example.com', 'phone-verify-code-unknown');
  assert.deepEqual(await smsOutbox(uncovered), [], 'no text message for an unknown email');
  const alice = await journey(uncovered, 'alice@example.com');
  assert.deepEqual(
    (await smsOutbox(uncovered)).map((m) => m.to),
    [DEMO_PHONES['alice@example.com']],
  );

  // The unknown email on a covered connection: still the SMS path, still the same.
  const unknownCovered = await journey(covered, 'nobody@example.com');
  assert.deepEqual(await smsOutbox(covered), []);

  assert.deepEqual(unknown.pages, ['/forgot.html', '/verify-code.html?flow=reset']);
  assert.deepEqual(
    unknown.seen.map(([step]) => step),
    [...STEPS, 'code page', 'wrong code'],
  );
  // What each step shows: the progress words, then the code page.
  const line = (journeyResult, step) => journeyResult.seen.find(([s]) => s === step)[1];
  assert.ok(line(unknown, '/api/reset/check').includes(TEXT.checking));
  assert.ok(line(unknown, '/api/sim-check').includes(TEXT.simChecking));
  assert.ok(line(unknown, '/api/otp/start').includes(TEXT.sendingCode));
  assert.ok(line(unknown, 'code page').includes(TEXT.codeSent));
  // The tries left count Vonage's own three (the default provider), for every email alike.
  assert.ok(line(unknown, 'wrong code').includes(`${TEXT.codeInvalid} You have 2 tries left.`));

  for (const [label, other] of [
    ['alice, uncovered', alice],
    ['unknown, covered', unknownCovered],
  ]) {
    assert.deepEqual(other.pages, unknown.pages, `${label}: pages`);
    assert.deepEqual(other.seen, unknown.seen, `${label}: words`);
    assert.deepEqual(other.answers, unknown.answers, `${label}: API answers`);
  }
  assert.deepEqual(unknown.answers, [
    ['/api/reset/check', 200, { csrf: 'string', next: 'sms' }],
    ['/api/sim-check', 200, { next: 'otp' }],
    ['/api/otp/start', 200, { status: 'sent' }],
    [
      '/api/otp/verify',
      400,
      { attempts_left: 2, status: 400, title: 'That code is not right.', type: 'urn:simguard:problem:code_invalid' },
    ],
  ]);

  // No provider was asked anything about the unknown email: no SubscriberCheck on either stack,
  // and the only SIMCheck is alice's. Nobody was emailed.
  const created = (log, path) => log.filter((r) => r.method === 'POST' && r.path === path).length;
  const coveredLog = await truidRequests(covered);
  const uncoveredLog = await truidRequests(uncovered);
  assert.equal(created(coveredLog, '/subscriber_check/v0.2/checks'), 0);
  assert.equal(created(uncoveredLog, '/subscriber_check/v0.2/checks'), 0);
  assert.equal(created(coveredLog, '/sim_check/v0.1/checks'), 0);
  assert.equal(created(uncoveredLog, '/sim_check/v0.1/checks'), 1);
  assert.deepEqual(await outbox(covered), []);
  assert.deepEqual(await outbox(uncovered), []);
});
