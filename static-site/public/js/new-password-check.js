// The checks the pages make on a new password before sending it — the server's own rules on length
// (12 to 128 code points after NFKC) and the confirmation typed twice — so a user learns at once.
import { FORM, problemText } from './messages.js';
import { passwordLength } from './ui.js';

/** `[text, field]` for the first problem with `password` (and its `confirm` field), or null. */
export function newPasswordProblem(password, confirm) {
  if (password.value === '') return [FORM.new_password_missing, password];
  const n = passwordLength(password.value);
  if (n < 12) return [problemText({ problem: 'weak_password', reason: 'too_short' }), password];
  if (n > 128) return [problemText({ problem: 'weak_password', reason: 'too_long' }), password];
  if (confirm.value !== password.value) return [FORM.confirm_mismatch, confirm];
  return null;
}
