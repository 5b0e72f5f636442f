// /reset/result.html?r=<code>: the code only selects an entry of a fixed table. After
// `silent_failed` the same flow may go on by text message ("Send me a code instead").
import { RESULTS, RESULT_GENERIC, lookup, sendProblemText } from './messages.js';
import { appendHelp } from './site.js';
import { flowEnded, startSmsPath } from './sms-path.js';
import { $, clearResetCsrf, go, params, readResetCsrf, say, setBusy, showProgress } from './ui.js';

const result = lookup(RESULTS, params().get('r')) ?? RESULT_GENERIC;

const title = $('#title');
const body = $('#body');
const actions = $('#actions');
const error = $('#error');
const progress = $('#progress');
const smsForm = $('#sms-form');

title.textContent = result.title;
document.title = `${result.title} — simguard`;
body.replaceChildren(
  ...result.text.map((line) => {
    const p = document.createElement('p');
    p.textContent = line;
    return p;
  }),
);
appendHelp(body, result);
actions.replaceChildren(
  ...result.actions.map(({ href, label, secondary }) => {
    const a = document.createElement('a');
    a.className = secondary ? 'button secondary' : 'button';
    a.href = href;
    a.textContent = label;
    return a;
  }),
);

// Every other outcome ends the flow: its token is of no further use. After silent_failed the flow
// may take the SMS path, in this tab only (the token is in this tab's sessionStorage); after a
// failure on our side it may resume, and needs the token to set the password.
const csrf = result.smsFallback === true ? readResetCsrf() : null;
if (csrf) {
  smsForm.hidden = false;
} else if (result.resumable !== true) {
  clearResetCsrf();
}

function idle() {
  showProgress(progress, '');
  setBusy(smsForm, false);
}

window.addEventListener('pageshow', (event) => {
  if (event.persisted) idle();
});

smsForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  say(error, '');
  setBusy(smsForm, true);
  const outcome = await startSmsPath({ flow: 'reset', csrf, step: (text) => showProgress(progress, text) });
  if (outcome.go) {
    go(outcome.go);
    return;
  }
  idle();
  say(error, sendProblemText(outcome.failed, 'reset'));
  if (flowEnded(outcome.failed)) {
    clearResetCsrf();
    smsForm.hidden = true;
    actions.querySelector('a')?.focus();
    return;
  }
  smsForm.querySelector('button').focus();
});
