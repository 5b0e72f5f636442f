// The login SIM gate through each SIM-swap source other than tru.ID: CAMARA SIM Swap and Twilio
// Lookup (SIMGUARD_SIM_SWAP_SOURCES), against the sandbox's operator and Lookup. An unchanged SIM
// gets its code; a changed one is stopped, with no text message; a source that cannot tell hands
// over to the next.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PHONE, newContext, newPage, screenshot, useStacks } from '../lib/browser.mjs';
import { TEXT, assertLines, enterCode, latestSms, submitLogin, waitForCodePage } from '../lib/flows.mjs';
import { DEMO_PASSWORD, DEMO_PHONES, smsOutbox } from '../lib/stack.mjs';

let browser;
// One stack per chain, started by its test. Coverage off: the sign-in takes the SIM gate.
const stacks = useStacks([], (_, b) => {
  browser = b;
});

for (const sources of ['camara', 'twilio-lookup', 'camara,truid']) {
  test(`the login SIM gate through ${sources}`, { timeout: 60_000 }, async () => {
    const stack = await stacks.start({ args: ['--no-coverage'], env: { SIMGUARD_SIM_SWAP_SOURCES: sources } });
    await stack.waitForOutput(new RegExp(`SIM swap:\\s+${sources.replace(',', ', ')} `));
    const context = await newContext(browser, PHONE);
    const page = await newPage(context);

    // alice's SIM is unchanged: her code comes, and signs her in.
    await page.goto(`${stack.site}/login.html`);
    await submitLogin(page, 'alice@example.com', DEMO_PASSWORD);
    await waitForCodePage(page, 'login');
    await enterCode(page, (await latestSms(stack, DEMO_PHONES['alice@example.com'])).code);
    await page.waitForURL((url) => url.pathname === '/account.html');
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/login.html');

    // sam's SIM changed: stopped before any text message, whichever source said so.
    await submitLogin(page, 'sam@example.com', DEMO_PASSWORD);
    await page.waitForURL((url) => url.pathname === '/blocked.html');
    assert.equal(new URL(page.url()).searchParams.get('r'), 'sim_changed');
    await assertLines(page, TEXT.blockedSimChanged.slice(0, 2), sources);
    assert.deepEqual(await smsOutbox(stack, DEMO_PHONES['sam@example.com']), []);
    if (sources === 'camara') await screenshot(page, 'phone-blocked-sim-changed-camara');
    assert.deepEqual(context.problems, []);
    await context.close();
  });
}
