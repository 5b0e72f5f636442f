// The silent reset, and the silent sign-in, through Vonage Verify v2 silent authentication
// (SIMGUARD_SILENT_PROVIDERS=vonage), against the sandbox: the page opens check_url as a top-level
// navigation; the sandbox's Vonage sends the device to /reset/silent-return.html with the result in
// the fragment, which that page posts to the callback. The match is followed by the SIM-swap sources
// before the new-password page.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PHONE, newContext, newPage, screenshot, useStacks } from '../lib/browser.mjs';
import { TEXT, startReset, submitLogin } from '../lib/flows.mjs';
import { smsOutbox } from '../lib/stack.mjs';

let browser;
const stacks = useStacks([], (_, b) => {
  browser = b;
});

const VENDORS = [
  {
    provider: 'vonage',
    calls: ['POST /v2/verify', /^GET \/v2\/verify\/[0-9a-f-]{36}\/silent-auth\/redirect$/, /^POST \/v2\/verify\/[0-9a-f-]{36}$/],
    // Vonage does not report another number: no verdict, the SMS path is offered.
    nina: ['silent_failed', TEXT.silentFailed],
  },
];

for (const { provider, calls, nina } of VENDORS) {
  test(`a silent reset and sign-in through ${provider}; nina's connection is not her number`, { timeout: 90_000 }, async () => {
    const stack = await stacks.start({ env: { SIMGUARD_SILENT_PROVIDERS: provider } });
    await stack.waitForOutput(new RegExp(`silent:\\s+${provider} `));
    const context = await newContext(browser, PHONE);
    const page = await newPage(context);

    await startReset(page, stack.site, 'alice@example.com');
    await page.waitForURL((url) => url.pathname === '/reset/new-password.html', { timeout: 15_000 });
    assert.equal(new URL(page.url()).hash, '', 'no result left in the address bar');
    const asked = (await (await fetch(`${stack.sandbox}/_sandbox/requests`)).json()).map((r) => `${r.method} ${r.path}`);
    for (const call of [...calls, 'POST /sim_check/v0.1/checks']) {
      const found = typeof call === 'string' ? asked.includes(call) : asked.some((a) => call.test(a));
      assert.ok(found, `${call}: ${asked.join(', ')}`);
    }
    const password = `a password set through ${provider}`;
    await page.getByLabel('New password', { exact: true }).fill(password);
    await page.getByLabel('New password again').fill(password);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.waitForURL((url) => url.pathname === '/login.html' && url.search === '?m=reset_ok');

    // The sign-in's second factor is the same silent proof: no code.
    await submitLogin(page, 'alice@example.com', password);
    await page.waitForURL((url) => url.pathname === '/account.html', { timeout: 15_000 });
    await page.locator('#me-email').filter({ hasText: 'alice@example.com' }).waitFor();
    assert.deepEqual(await smsOutbox(stack), [], 'no text message at all');
    await screenshot(page, `phone-account-after-${provider}`);
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/login.html');

    const [code, text] = nina;
    await startReset(page, stack.site, 'nina@example.com');
    await page.waitForURL((url) => url.pathname === '/reset/result.html', { timeout: 15_000 });
    assert.equal(new URL(page.url()).searchParams.get('r'), code);
    await page.getByText(text).waitFor();
    assert.deepEqual(context.problems, []);
    await context.close();
  });
}
