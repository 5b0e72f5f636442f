// The reset start: coverage → create-check → either the operator check in a top-level navigation
// (silent) or the SMS path (SIM check → code sent → the code page). Unknown emails take the SMS path
// with exactly the same pages and words as a known one: the server answers the same for them.
import { get, post } from './api.js';
import { CHECKING, FORM, PROBLEMS, problemText, sendProblemText } from './messages.js';
import { openCheckUrl } from './silent.js';
import { startSmsPath } from './sms-path.js';
import { $, clearResetCsrf, go, markInvalid, say, setBusy, showProgress, storeResetCsrf } from './ui.js';

const form = $('#forgot-form');
const email = $('#email');
const error = $('#error');
const progress = $('#progress');

function idle() {
  showProgress(progress, '');
  setBusy(form, false);
}

// Back from the operator page or the code page (bfcache): the form must not stay frozen.
window.addEventListener('pageshow', (event) => {
  if (event.persisted) idle();
});

function fail(text) {
  clearResetCsrf();
  idle();
  say(error, text);
  email.focus();
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  say(error, '');
  const address = email.value.trim();
  const malformed = address !== '' && email.validity.typeMismatch;
  markInvalid([[email, address === '' || malformed]]);
  if (address === '' || malformed) {
    say(error, address === '' ? FORM.email_missing : PROBLEMS.invalid_email);
    return;
  }

  setBusy(form, true);
  clearResetCsrf();
  showProgress(progress, CHECKING);

  // Asked first so that a connection over its limit is told so before a flow starts. Its answer
  // does not change what follows: /api/reset/check decides between silent and SMS.
  const coverage = await get('/api/coverage');
  if (!coverage.ok && coverage.problem === 'rate_limited') {
    fail(problemText(coverage));
    return;
  }

  const result = await post('/api/reset/check', { email: address });
  if (!result.ok) {
    fail(problemText(result));
    if (result.problem === 'invalid_email') markInvalid([[email, true]]);
    return;
  }
  const { next, check_url: checkUrl, csrf } = result.data ?? {};
  if (typeof csrf !== 'string' || csrf === '') {
    fail(problemText({ problem: 'unexpected' }));
    return;
  }
  storeResetCsrf(csrf);

  if (next === 'silent' && typeof checkUrl === 'string') {
    try {
      await openCheckUrl(checkUrl);
    } catch {
      fail(problemText({ problem: 'temporarily_unavailable' }));
    }
    return;
  }

  // Not silent: uncovered connection, or an email we do not know. The same steps either way.
  const outcome = await startSmsPath({ flow: 'reset', csrf, step: (text) => showProgress(progress, text) });
  if (outcome.go) {
    go(outcome.go);
    return;
  }
  fail(sendProblemText(outcome.failed, 'reset'));
});
