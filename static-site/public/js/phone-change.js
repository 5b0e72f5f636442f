// A phone change proves each number — the account's, then the new one — silently where the device's
// network allows it (the operator's redirect comes back to the account page with ?r=…), else by the
// SIM check and a code (the code page).
import { post } from './api.js';
import { CHECKING } from './messages.js';
import { checkOpener } from './silent.js';
import { startSmsPath } from './sms-path.js';

/**
 * Proves the number the phone-change flow whose CSRF token is `csrf` proves next (`number`: `null`
 * for the current one, `'new'` for the new one), calling `step(text)` before each request. Resolves
 * to `{ leaving: true }` once the browser is on its way to the operator, or as `startSmsPath` does.
 */
export async function proveNumber({ csrf, number = null, step = () => {} }) {
  step(CHECKING);
  // The SDK first: without it, no check is created (it could not be opened), the SMS path goes on.
  const open = await checkOpener().catch(() => null);
  const silent = open ? await post('/api/login/silent', {}, { csrf }) : null;
  if (silent?.ok && silent.data?.next === 'silent' && typeof silent.data.check_url === 'string') {
    try {
      await open(silent.data.check_url);
      return { leaving: true };
    } catch {
      // The SDK refused the URL: the flow waits for a proof; the SMS path below says it is over.
    }
  }
  return startSmsPath({ flow: 'phone', csrf, number, step });
}
