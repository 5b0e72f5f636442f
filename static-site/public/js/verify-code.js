// /verify-code.html?flow=reset|login|phone[&next=…][&n=new]: the code texted by the SMS path of a
// reset, a sign-in or a phone change (`n=new`: to its new number). The flow's CSRF token comes from
// sessionStorage (set by forgot.js, result.js, login.js or account.js); `flow`, `next` and `n` only
// select fixed values.
import { post } from './api.js';
import {
  CODE,
  CODE_CHECKING,
  CODE_COUNTS,
  FORM,
  RESTART,
  endedText as endedTextOf,
  lookup,
  problemText,
  sendProblemText,
} from './messages.js';
import { blockedUrl, flowEnded, isFlow } from './sms-path.js';
import {
  $,
  clearFlowCsrf,
  go,
  markInvalid,
  params,
  readCodeDestination,
  readFlowCsrf,
  safeNext,
  storeCodeDestination,
  say,
  setBusy,
  showProgress,
} from './ui.js';

const form = $('#code-form');
const code = $('#code');
const resendForm = $('#resend-form');
const resendButton = resendForm.querySelector('button');
const notice = $('#notice');
const error = $('#error');
const progress = $('#progress');
const restart = $('#restart');
const back = $('#back');

const query = params();
const flow = isFlow(query.get('flow')) ? query.get('flow') : null;
const newNumber = flow === 'phone' && query.get('n') === 'new';
const restartTo = lookup(RESTART, flow) ?? RESTART.login;
back.href = restartTo.href;
back.textContent = restartTo.label;
restart.querySelector('a').href = restartTo.href;
restart.querySelector('a').textContent = restartTo.label;

/** The flow cannot go on here: say why, and offer only to start again. */
function giveUp(text) {
  if (flow) clearFlowCsrf(flow);
  showProgress(progress, '');
  say(notice, '');
  say(error, text);
  form.hidden = true;
  resendForm.hidden = true;
  $('#intro').hidden = true;
  back.parentElement.hidden = true; // the same link as the button below
  restart.hidden = false;
  restart.querySelector('a').focus();
}

let waiting = false;

function busy(on) {
  setBusy(form, on);
  setBusy(resendForm, on);
  // Back from busy, the resend button follows the wait, whatever it was when busy began.
  if (!on) resendButton.disabled = waiting;
}

// A sign-in's or phone change's page says where the code went (the server gives the last two digits
// once the password is proven); a reset's never does.
const destination = readCodeDestination(flow);
// Only a sign-in can remember its browser.
const remember = $('#remember');
if (flow === 'login') {
  $('#remember-field').hidden = false;
  $('#wrong-number').hidden = false;
}
if (destination) {
  $('#intro').textContent = newNumber ? CODE_COUNTS.introToNew(destination) : CODE_COUNTS.introTo(destination);
}

// "Send a new code" waits a little after each send: a text message takes a while to arrive, and
// every send counts against the number's limits.
const RESEND_WAIT_SECS = 30;
const resendHint = resendForm.querySelector('p');
let waitTimer = null;
function stopWaiting() {
  clearInterval(waitTimer);
  waiting = false;
  resendButton.disabled = false;
  resendHint.textContent = CODE.resend_ready;
}

function waitBeforeResend() {
  clearInterval(waitTimer);
  let left = RESEND_WAIT_SECS;
  waiting = true;
  resendButton.disabled = true;
  resendHint.textContent = CODE_COUNTS.resendWait(left);
  waitTimer = setInterval(() => {
    left -= 1;
    if (left > 0) {
      resendHint.textContent = CODE_COUNTS.resendWait(left);
      return;
    }
    stopWaiting();
  }, 1000);
}

const csrf = flow ? readFlowCsrf(flow) : null;
if (!csrf) {
  giveUp(CODE.none_in_progress);
} else {
  waitBeforeResend();
  code.focus();
}

const endedText = () => endedTextOf(flow);

// A phone change's current number is proven: the account page offers the new number's step.
function onToNewNumber() {
  go('/account.html?r=current_proven');
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  say(error, '');
  const value = code.value.replace(/[\s-]/g, '');
  const problem = value === '' ? FORM.code_missing : /^[0-9]{4,10}$/.test(value) ? null : FORM.code_malformed;
  markInvalid([[code, Boolean(problem)]]);
  if (problem) {
    say(error, problem);
    return;
  }

  busy(true);
  say(notice, '');
  showProgress(progress, CODE_CHECKING);
  const body = flow === 'login' ? { code: value, remember: remember.checked } : { code: value };
  const result = await post('/api/otp/verify', body, { csrf });
  if (result.ok) {
    if (result.data?.next === 'new_password') {
      // The reset token stays in sessionStorage: the new-password page needs it.
      go('/reset/new-password.html');
      return;
    }
    if (result.data?.next === 'signed_in') {
      clearFlowCsrf('login');
      go(safeNext(query.get('next')));
      return;
    }
    if (flow === 'phone' && result.data?.next === 'new_number') {
      onToNewNumber();
      return;
    }
    if (flow === 'phone' && result.data?.next === 'phone_changed') {
      clearFlowCsrf('phone');
      go('/account.html?m=phone_changed');
      return;
    }
  }
  if (!result.ok && result.problem === 'too_many_attempts') {
    clearFlowCsrf(flow);
    go(blockedUrl('too_many_attempts', flow));
    return;
  }
  busy(false);
  showProgress(progress, '');
  if (!result.ok && flowEnded(result)) {
    giveUp(endedText());
    return;
  }
  say(error, result.ok ? problemText({ problem: 'unexpected' }) : problemText(result));
  if (result.problem === 'code_expired') {
    code.value = '';
    // The code is dead: nothing to wait for.
    stopWaiting();
    if (!resendForm.hidden) resendButton.focus();
    return;
  }
  if (result.problem === 'code_invalid') {
    code.value = '';
    markInvalid([[code, true]]);
    // The tries left, counting the provider's own limit; the last one is said plainly.
    if (Number.isInteger(result.attemptsLeft) && result.attemptsLeft > 0) {
      say(error, `${problemText(result)} ${CODE_COUNTS.triesLeft(result.attemptsLeft)}`);
    }
    return;
  }
  code.focus();
});

resendForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  say(error, '');
  say(notice, '');
  busy(true);
  const result = await post('/api/otp/start', {}, { csrf });
  busy(false);
  if (result.ok) {
    storeCodeDestination(flow, result.data?.to_ending);
    waitBeforeResend();
    // Honest about what happened: a new code, or none because the one sent is still valid.
    say(notice, result.data?.status === 'already_sent' ? CODE.not_resent : CODE.resent);
    code.value = '';
    markInvalid([[code, false]]);
    code.focus();
    return;
  }
  if (flowEnded(result)) {
    giveUp(endedText());
    return;
  }
  if (result.problem === 'rate_limited') {
    // No more sends for this flow (or this number, for now): the last code may still work.
    resendForm.hidden = true;
    say(error, CODE.resend_limited);
    code.focus();
    return;
  }
  say(error, sendProblemText(result, flow));
  code.focus();
});
