// Sign-in: the password (first factor), then the phone (second factor): silently where the device's
// network allows it (the operator's redirect signs in and comes back here with ?r=signed_in), else
// the SIM-swap gate and a code by text message on the code page. The session exists only once the
// phone is proven.
import { post } from './api.js';
import { CHECKING, CODE, FORM, LOGIN_NOTICES, LOGIN_RESULTS, lookup, problemText, sendProblemText } from './messages.js';
import { proveSilently } from './silent.js';
import { startSmsPath } from './sms-path.js';
import {
  $,
  clearFlowCsrf,
  go,
  markInvalid,
  params,
  readFlowCsrf,
  safeNext,
  say,
  setBusy,
  showProgress,
  storeFlowCsrf,
  storeLoginNext,
  takeLoginNext,
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

  // Silently where the network allows it: no SIM check page, no code.
  const next = params().get('next'); // kept only when it is on the allowlist
  showProgress(progress, CHECKING);
  if (await proveSilently(csrf, () => storeLoginNext(next))) return;
  await smsPath(csrf, next);
});

/** The SIM check and a code: the code page, or the reason it stops here. */
async function smsPath(csrf, next) {
  const outcome = await startSmsPath({ flow: 'login', csrf, next, step: (text) => showProgress(progress, text) });
  if (outcome.go) {
    go(outcome.go);
    return;
  }
  clearFlowCsrf('login');
  idle();
  say(error, sendProblemText(outcome.failed, 'login'));
  password.focus();
}

// Back from the operator's redirect (the callback sends the browser here with a fixed code).
const result = params().get('r');
if (result === 'signed_in') {
  clearFlowCsrf('login');
  go(safeNext(takeLoginNext()));
} else if (result === 'link_invalid') {
  clearFlowCsrf('login');
  say(error, CODE.login_invalid);
} else if (lookup(LOGIN_RESULTS, result)) {
  // No silent verdict: the same sign-in goes on with the SIM check and a code.
  const csrf = readFlowCsrf('login');
  if (csrf) {
    say(notice, LOGIN_RESULTS[result]);
    setBusy(form, true);
    smsPath(csrf, takeLoginNext());
  } else {
    say(error, CODE.login_invalid);
  }
}
