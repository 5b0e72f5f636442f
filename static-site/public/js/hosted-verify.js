// /verify/#<token>: the hosted page of a relying site's verification. The site's backend asked the
// API for it; the token in the fragment (never sent to a server by the browser, removed from the
// address bar at once) opens it, once. Then the same steps as a reset: the silent check where the
// network allows it (a top-level navigation; the callback sends the browser on), else the SIM check
// and a code typed here. The end is always the site's own return URL, chosen by the server: with a
// signed result, or with an error code. `?r=` says how a silent check came back (fixed codes only).
import { post } from './api.js';
import { CHECKING, CODE_CHECKING, FORM, PROBLEMS, SENDING_CODE, SIM_CHECKING, problemText } from './messages.js';
import { openCheckUrl } from './silent.js';
import { $, markInvalid, params, say, setBusy, showProgress } from './ui.js';

const STORE = 'simguard.verify';
const form = $('#code-form');
const code = $('#code');
const resend = $('#resend');
const cancel = $('#cancel');
const error = $('#error');
const notice = $('#notice');
const progress = $('#progress');

/** Words for what only this page meets. */
const TEXT = Object.freeze({
  link_invalid: 'This link is not valid, has expired or was already used. Go back to the site and start again.',
  unavailable: 'We could not finish checking your phone. Go back to the site and try again.',
  sent: 'We sent a code by text message to the phone. It can take a minute to arrive.',
  wrong: (left) => (left === 1 ? 'That code is not right. You have 1 try left.' : `That code is not right. You have ${left} tries left.`),
});

/** What the page keeps between the silent check's round trip and its return: this tab only. */
function remember(state) {
  sessionStorage.setItem(STORE, JSON.stringify(state));
}
function recall() {
  try {
    const state = JSON.parse(sessionStorage.getItem(STORE) ?? 'null');
    return state && typeof state.csrf === 'string' ? state : null;
  } catch {
    return null;
  }
}

/** The server names every URL the page leaves for; only http(s) ones are followed. */
function leave(url) {
  if (typeof url === 'string' && /^https?:\/\//.test(url)) {
    sessionStorage.removeItem(STORE);
    window.location.replace(url);
    return true;
  }
  return false;
}

function stop(text, state) {
  showProgress(progress, '');
  form.hidden = true;
  say(notice, '');
  say(error, text);
  if (state?.return?.unavailable) {
    cancel.href = state.return.unavailable;
    cancel.textContent = `Back to ${state.site}`;
    cancel.hidden = false;
  }
}

function showSite(state) {
  $('#site').textContent = state.site;
  if (state.return?.cancelled) {
    cancel.href = state.return.cancelled;
    cancel.hidden = false;
  }
}

/** The SIM check, then a code; the code form. */
async function smsPath(state) {
  showProgress(progress, SIM_CHECKING);
  const sim = await post('/api/sim-check', {}, { csrf: state.csrf });
  if (!sim.ok) return stop(problemText(sim), state);
  if (sim.data?.next === 'return') return void leave(sim.data.url);
  if (sim.data?.next !== 'otp') return stop(PROBLEMS.temporarily_unavailable, state);
  await sendCode(state);
}

async function sendCode(state) {
  showProgress(progress, SENDING_CODE);
  const sent = await post('/api/otp/start', {}, { csrf: state.csrf });
  showProgress(progress, '');
  if (!sent.ok) {
    if (sent.problem === 'phone_not_supported' || sent.problem === 'sms_unavailable') {
      return stop(problemText(sent), state);
    }
    say(error, problemText(sent));
    return;
  }
  const ending = typeof sent.data?.to_ending === 'string' && /^[0-9]{2}$/.test(sent.data.to_ending);
  say(notice, ending ? `We sent a code by text message to the phone ending ${sent.data.to_ending}.` : TEXT.sent);
  form.hidden = false;
  code.focus();
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const state = recall();
  if (!state) return stop(TEXT.link_invalid);
  const value = code.value.replace(/[\s-]/g, '');
  say(error, '');
  if (value === '' || !/^[0-9]{4,10}$/.test(value)) {
    markInvalid([[code, true]]);
    say(error, value === '' ? FORM.code_missing : FORM.code_malformed);
    return;
  }
  markInvalid([[code, false]]);
  setBusy(form, true);
  showProgress(progress, CODE_CHECKING);
  const checked = await post('/api/otp/verify', { code: value }, { csrf: state.csrf });
  setBusy(form, false);
  showProgress(progress, '');
  if (checked.ok && leave(checked.data?.url)) return;
  if (checked.problem === 'too_many_attempts') {
    if (leave(state.return?.too_many_attempts)) return;
  }
  if (checked.problem === 'code_invalid' && Number.isInteger(checked.attemptsLeft) && checked.attemptsLeft > 0) {
    say(error, TEXT.wrong(checked.attemptsLeft));
  } else {
    say(error, checked.ok ? PROBLEMS.temporarily_unavailable : problemText(checked));
  }
  markInvalid([[code, true]]);
  code.select();
});

resend.addEventListener('click', async () => {
  const state = recall();
  if (!state) return stop(TEXT.link_invalid);
  say(error, '');
  resend.disabled = true;
  await sendCode(state);
  // Against a double tap; the server limits sends anyway.
  setTimeout(() => {
    resend.disabled = false;
  }, 30000);
});

async function begin(token) {
  showProgress(progress, CHECKING);
  const begun = await post('/api/verify/begin', { token });
  if (!begun.ok) return stop(begun.problem === 'flow_invalid' ? TEXT.link_invalid : problemText(begun));
  const { next, check_url: checkUrl, csrf, site, return: back } = begun.data ?? {};
  if (typeof csrf !== 'string' || typeof site !== 'string') return stop(PROBLEMS.temporarily_unavailable);
  const state = { csrf, site, return: back ?? {} };
  remember(state);
  showSite(state);
  if (next === 'silent' && typeof checkUrl === 'string') {
    try {
      await openCheckUrl(checkUrl);
      return;
    } catch {
      // The SDK could not open it: the SMS path is still open to this flow only after a failed
      // silent check, so say so and let the user go back.
      return stop(TEXT.unavailable, state);
    }
  }
  await smsPath(state);
}

const token = window.location.hash.slice(1);
history.replaceState(null, '', window.location.pathname + window.location.search);
const returned = params().get('r');
const state = recall();
if (/^[A-Za-z0-9_-]{43}$/.test(token)) {
  await begin(token);
} else if (returned === 'silent_failed' && state) {
  // The network could not prove the phone: the SMS path, in the same flow.
  showSite(state);
  await smsPath(state);
} else if (state) {
  showSite(state);
  stop(returned === 'link_invalid' ? TEXT.link_invalid : TEXT.unavailable, state);
} else {
  stop(TEXT.link_invalid);
}
