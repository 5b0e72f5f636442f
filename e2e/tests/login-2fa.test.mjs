// Login 2FA: a right password is only the first factor. The page then checks the SIM with the
// network (visible progress), a code is texted, and only the right code makes a session; until then
// the account page sends you to sign in. Once per SMS provider: Vonage Verify v1, v2, Twilio Verify.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PHONE, mainText, newContext, newPage, screenshot, useStacks } from '../lib/browser.mjs';
import { TEXT, enterCode, latestSms, meStatus, submitLogin, waitForCodePage } from '../lib/flows.mjs';
import { DEMO_PASSWORD, DEMO_PHONES, outbox, smsOutbox } from '../lib/stack.mjs';

const EMAIL = 'alice@example.com';
const NUMBER = DEMO_PHONES[EMAIL];
const PROVIDERS = ['vonage-v1', 'vonage-v2', 'twilio'];

let browser;
// One stack per provider, started by its test.
const stacks = useStacks([], (_, b) => {
  browser = b;
});

const cookieNames = async (context) => (await context.cookies()).map((c) => c.name).sort();

for (const provider of PROVIDERS) {
  test(`alice signs in with her password and a code sent through ${provider}`, { timeout: 60_000 }, async () => {
    // Coverage off: the sign-in takes the SIM check and a code (the silent one is in reset-verified).
    const stack = await stacks.start({ args: ['--otp', provider, '--no-coverage'] });
    await stack.waitForOutput(new RegExp(`SMS via:\\s+${provider}\\b`));
    const shots = provider === 'vonage-v2';

    const context = await newContext(browser, PHONE);
    const page = await newPage(context);

    // No session: the account page sends us to sign in, and back to it afterwards.
    await page.goto(`${stack.site}/account.html`);
    await page.waitForURL((url) => url.pathname === '/login.html');
    assert.equal(new URL(page.url()).searchParams.get('next'), '/account.html');

    // Hold the SIM check, so that the progress state can be seen while it runs.
    let release;
    const held = new Promise((res) => {
      release = res;
    });
    await page.route(`${stack.site}/api/sim-check`, async (route) => {
      await held;
      await route.continue();
    });
    try {
      await submitLogin(page, EMAIL, DEMO_PASSWORD);
      await page.getByRole('status').filter({ hasText: TEXT.simChecking }).waitFor();
      assert.equal(await page.locator('#progress .spinner').isVisible(), true);
      assert.equal(await page.locator('#progress progress').isVisible(), true);
      assert.equal(await page.getByRole('button', { name: 'Sign in' }).isDisabled(), true);
      // The password alone made no session, only a login flow.
      assert.equal(await meStatus(page), 401);
      assert.deepEqual(await cookieNames(context), ['__Host-simguard-flow']);
      if (shots) await screenshot(page, 'phone-login-checking-sim');
    } finally {
      release();
    }

    await waitForCodePage(page, 'login');
    await page.unroute(`${stack.site}/api/sim-check`);
    assert.equal(new URL(page.url()).searchParams.get('next'), '/account.html', 'the allowed next is kept');
    // Signing in, the password is proven: the page says where the code went.
    assert.ok((await mainText(page)).includes(TEXT.codeSentTo(DEMO_PHONES['alice@example.com'].slice(-2))));
    const input = page.getByLabel('Code from the text message');
    assert.equal(await input.getAttribute('autocomplete'), 'one-time-code');
    assert.equal(await input.getAttribute('inputmode'), 'numeric');
    assert.equal(await input.evaluate((el) => el === document.activeElement), true, 'the code field has focus');
    if (shots) await screenshot(page, 'phone-verify-code');

    // Before the code: still no session. The account page, in another tab, sends us to sign in.
    const other = await newPage(context);
    await other.goto(`${stack.site}/account.html`);
    await other.waitForURL((url) => url.pathname === '/login.html');
    assert.equal(new URL(other.url()).searchParams.get('next'), '/account.html');
    assert.equal(await other.locator('#me-email').count(), 0, 'no account details on the login page');
    assert.equal(await meStatus(other), 401);
    await other.close();

    // Exactly one text message, to alice, through the chosen provider.
    const sms = await latestSms(stack, NUMBER);
    assert.equal(sms.provider, provider);
    assert.deepEqual(
      (await smsOutbox(stack)).map((m) => [m.provider, m.to]),
      [[provider, NUMBER]],
    );

    await enterCode(page, sms.code);
    await page.waitForURL((url) => url.pathname === '/account.html');
    await page.locator('#me-email').filter({ hasText: EMAIL }).waitFor();
    const account = await mainText(page);
    assert.ok(account.includes('+••••••••••70'), account);
    assert.equal(await meStatus(page), 200);
    // The flow became a session: its cookie and its token are gone.
    assert.deepEqual(await cookieNames(context), ['__Host-simguard-session']);
    const [session] = await context.cookies();
    assert.deepEqual(
      [session.httpOnly, session.secure, session.sameSite, session.path],
      [true, true, 'Lax', '/'],
    );
    assert.equal(await page.evaluate(() => sessionStorage.getItem('simguard.login.csrf')), null);
    // A plain sign-in is no event worth an email.
    assert.deepEqual(
      (await outbox(stack)).filter((m) => m.to === EMAIL),
      [],
    );

    assert.deepEqual(context.problems, []);
    await context.close();
  });
}
