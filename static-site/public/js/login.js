// Sign-in: the password (first factor), then the SIM-swap gate and a code by text message (second
// factor) on the code page. The session exists only once the code is right.
import { post } from './api.js';
import { FORM, LOGIN_NOTICES, lookup, problemText, sendProblemText } from './messages.js';
import { startSmsPath } from './sms-path.js';
import {
  $,
  clearFlowCsrf,
  go,
  markInvalid,
  params,
  say,
  setBusy,
  showProgress,
  storeFlowCsrf,
} from './ui.js';

const form = $('#login-form');
const email = $('#email');
const password = $('#password');
const error = $('#error');
const notice = $('#notice');
const progress = $('#progress');

say(notice, lookup(LOGIN_NOTICES, params().get('m')) ?? '');

function idle() {
  showProgress(progress, '');
  setBusy(form, false);
}

// Back from the code page (bfcache): the form must not stay frozen.
window.addEventListener('pageshow', (event) => {
  if (event.persisted) {
    idle();
    password.value = '';
  }
});

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
  clearFlowCsrf('login');
  const result = await post('/api/login', { email: email.value.trim(), password: password.value });
  if (!result.ok) {
    idle();
    say(notice, '');
    say(error, problemText(result));
    if (result.problem === 'invalid_credentials') {
      password.value = '';
      password.focus();
    }
    return;
  }
  const csrf = result.data?.csrf;
  if (result.data?.next !== 'second_factor' || typeof csrf !== 'string' || csrf === '') {
    idle();
    say(error, problemText({ problem: 'unexpected' }));
    return;
  }
  storeFlowCsrf('login', csrf);
  say(notice, '');
  password.value = '';

  const outcome = await startSmsPath({
    flow: 'login',
    csrf,
    next: params().get('next'), // kept only when it is on the allowlist
    step: (text) => showProgress(progress, text),
  });
  if (outcome.go) {
    go(outcome.go);
    return;
  }
  clearFlowCsrf('login');
  idle();
  say(error, sendProblemText(outcome.failed, 'login'));
  password.focus();
});
