// The reset start: coverage → create-check → the operator check in a top-level navigation.
import { get, post } from './api.js';
import { CHECKING, FORM, NOT_SILENT, problemText } from './messages.js';
import { $, clearResetCsrf, markInvalid, say, setBusy, storeResetCsrf } from './ui.js';

const form = $('#forgot-form');
const email = $('#email');
const error = $('#error');
const status = $('#status');
const progress = $('#progress');
const progressText = $('#progress-text');

function showProgress(on) {
  progress.classList.toggle('active', on);
  progressText.textContent = on ? CHECKING : '';
}

function idle() {
  showProgress(false);
  setBusy(form, false);
}

// Back from the operator page (bfcache): the form must not stay frozen in "checking".
window.addEventListener('pageshow', (event) => {
  if (event.persisted) {
    idle();
    say(status, '');
  }
});

async function openCheckUrl(checkUrl) {
  // With v0.2 the SDK sets window.location = check_url: a top-level navigation, so the operator
  // sees this device's mobile data connection and redirects back to our callback.
  const { default: truID } = await import('/vendor/tru-sdk-web.mjs');
  await truID.openCheckUrl(checkUrl, { version: 'v0.2', checkDeviceCoverage: false });
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  say(error, '');
  say(status, '');
  const address = email.value.trim();
  const malformed = address !== '' && email.validity.typeMismatch;
  markInvalid([[email, address === '' || malformed]]);
  if (address === '' || malformed) {
    say(error, address === '' ? FORM.email_missing : problemText({ problem: 'invalid_email' }));
    return;
  }

  setBusy(form, true);
  clearResetCsrf();

  // Is this connection able to do the silent check at all? If not, say so before anything else.
  const coverage = await get('/api/coverage');
  if (!coverage.ok && coverage.problem === 'rate_limited') {
    idle();
    say(error, problemText(coverage));
    return;
  }
  if (coverage.ok && coverage.data?.silent !== true) {
    idle();
    say(status, NOT_SILENT);
    return;
  }

  const result = await post('/api/reset/check', { email: address });
  if (!result.ok) {
    idle();
    say(error, problemText(result));
    if (result.problem === 'invalid_email') markInvalid([[email, true]]);
    return;
  }
  const { next, check_url: checkUrl, csrf } = result.data ?? {};
  if (next !== 'silent' || typeof checkUrl !== 'string' || typeof csrf !== 'string') {
    // Unknown emails and uncovered users get this same answer.
    idle();
    say(status, NOT_SILENT);
    return;
  }

  storeResetCsrf(csrf);
  showProgress(true);
  try {
    await openCheckUrl(checkUrl);
  } catch {
    clearResetCsrf();
    idle();
    say(error, problemText({ problem: 'temporarily_unavailable' }));
  }
});
