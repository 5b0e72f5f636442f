import { post } from './api.js';
import { FORM, LOGIN_NOTICES, lookup, problemText } from './messages.js';
import { $, go, markInvalid, params, say, setBusy } from './ui.js';

// Where a successful sign-in may go: an exact match on this list, nothing else. Any other `next`
// (//evil.tld, /\evil.tld, https://…, javascript:…) goes to the account page.
const NEXT_ALLOWED = Object.freeze(['/account.html']);
const DEFAULT_NEXT = '/account.html';

export function safeNext(value) {
  return typeof value === 'string' && NEXT_ALLOWED.includes(value) ? value : DEFAULT_NEXT;
}

const form = $('#login-form');
const email = $('#email');
const password = $('#password');
const error = $('#error');
const notice = $('#notice');

say(notice, lookup(LOGIN_NOTICES, params().get('m')) ?? '');

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  say(error, '');
  const missingEmail = email.value.trim() === '';
  const missingPassword = password.value === '';
  markInvalid([
    [email, missingEmail],
    [password, missingPassword],
  ]);
  if (missingEmail || missingPassword) {
    say(error, missingEmail ? FORM.email_missing : FORM.password_missing);
    return;
  }

  setBusy(form, true);
  const result = await post('/api/login', { email: email.value.trim(), password: password.value });
  if (result.ok) {
    go(safeNext(params().get('next')));
    return;
  }
  setBusy(form, false);
  say(notice, '');
  say(error, problemText(result));
  if (result.problem === 'invalid_credentials') {
    password.value = '';
    password.focus();
  }
});
