// A phone change proves each number — the account's, then the new one — silently where the device's
// network allows it (the operator's redirect comes back to the account page with ?r=…), else by the
// SIM check and a code (the code page).
import { CHECKING } from './messages.js';
import { proveSilently } from './silent.js';
import { startSmsPath } from './sms-path.js';

/**
 * Proves the number the phone-change flow whose CSRF token is `csrf` proves next (`number`: `null`
 * for the current one, `'new'` for the new one), calling `step(text)` before each request. Resolves
 * to `{ leaving: true }` once the browser is on its way to the operator, or as `startSmsPath` does.
 */
export async function proveNumber({ csrf, number = null, step = () => {} }) {
  step(CHECKING);
  if (await proveSilently(csrf)) return { leaving: true };
  return startSmsPath({ flow: 'phone', csrf, number, step });
}
