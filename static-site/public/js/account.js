import { get, post } from './api.js';
import { ACCOUNT_NOTICES, CHANGING_PHONE, FORM, PHONE_RESULTS, lookup, problemText, sendProblemText } from './messages.js';
import { newPasswordProblem } from './new-password-check.js';
import { proveNumber } from './phone-change.js';
import { wirePhoneEcho } from './phone-echo.js';
import { startSmsPath } from './sms-path.js';
import {
  $,
  clearFlowCsrf,
  go,
  markInvalid,
  params,
  readFlowCsrf,
  say,
  setBusy,
  showProgress,
  storeFlowCsrf,
} from './ui.js';

const details = $('#details');
const loading = $('#loading');
const error = $('#error');
const form = $('#signout-form');

let csrf = null;

say($('#notice'), lookup(ACCOUNT_NOTICES, params().get('m')) ?? '');

/** Shows the signed-in account; resolves to whether it could. */
async function load() {
  const me = await get('/api/me');
  if (!me.ok) {
    if (me.status === 401) {
      window.location.replace('/login.html?next=/account.html');
      return false;
    }
    loading.hidden = true;
    say(error, problemText(me));
    return false;
  }
  csrf = typeof me.data?.csrf === 'string' ? me.data.csrf : null;
  $('#me-email').textContent = String(me.data?.email ?? '');
  $('#me-phone').textContent = String(me.data?.phone ?? '');
  loading.hidden = true;
  details.hidden = false;
  form.hidden = false;
  $('#security').hidden = false;
  await loadDevices();
  return true;
}

// The remembered browsers, each with a button to forget it.
const deviceList = $('#devices');
const devicesError = $('#devices-error');

async function loadDevices() {
  const result = await get('/api/devices');
  if (!result.ok) {
    say(devicesError, problemText(result));
    return;
  }
  const devices = Array.isArray(result.data?.devices) ? result.data.devices : [];
  deviceList.replaceChildren(
    ...devices.map((d) => {
      const li = document.createElement('li');
      const what = document.createElement('span');
      const when = typeof d.remembered_at === 'string' ? d.remembered_at.slice(0, 10) : '';
      what.textContent = `${String(d.label ?? 'A browser')}${d.this_browser ? ' (this browser)' : ''} — remembered ${when}`;
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'secondary';
      button.textContent = 'Forget';
      button.setAttribute('aria-label', `Forget ${d.this_browser ? 'this browser' : String(d.label ?? 'this browser')}`);
      button.addEventListener('click', async () => {
        say(devicesError, '');
        button.disabled = true;
        const forgot = await post('/api/devices/forget', { id: String(d.id ?? '') }, { csrf });
        if (!forgot.ok) {
          button.disabled = false;
          say(devicesError, problemText(forgot));
          return;
        }
        await loadDevices();
      });
      li.append(what, ' ', button);
      return li;
    }),
  );
  $('#no-devices').hidden = devices.length > 0;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  say(error, '');
  setBusy(form, true);
  const result = await post('/api/logout', {}, { csrf });
  if (result.ok) {
    go('/login.html?m=signed_out');
    return;
  }
  setBusy(form, false);
  say(error, problemText(result));
});

// Change the password: the current one, then the new one twice. The session goes on under a new
// token; every other browser is signed out.
const passwordForm = $('#password-form');
const current = $('#current-password');
const fresh = $('#new-password');
const again = $('#confirm-password');
const passwordError = $('#password-error');
const passwordNotice = $('#password-notice');

function passwordProblem() {
  if (current.value === '') return [FORM.current_password_missing, current];
  return newPasswordProblem(fresh, again);
}

passwordForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  say(passwordError, '');
  say(passwordNotice, '');
  const problem = passwordProblem();
  markInvalid([current, fresh, again].map((input) => [input, problem?.[1] === input]), passwordError);
  if (problem) {
    say(passwordError, problem[0]);
    return;
  }
  setBusy(passwordForm, true);
  const result = await post('/api/password', { current_password: current.value, new_password: fresh.value }, { csrf });
  setBusy(passwordForm, false);
  if (result.ok) {
    csrf = typeof result.data?.csrf === 'string' ? result.data.csrf : csrf;
    passwordForm.reset();
    say(passwordNotice, FORM.password_changed);
    return;
  }
  if (result.problem === 'unauthorized') {
    go('/login.html?next=/account.html');
    return;
  }
  if (result.problem === 'invalid_credentials') {
    say(passwordError, FORM.current_password_wrong);
    markInvalid([[current, true]], passwordError);
    return;
  }
  say(passwordError, problemText(result));
  if (result.problem === 'weak_password') markInvalid([[fresh, true]], passwordError);
});

// Change the phone number: the password again and the new number start a phone-change flow; the
// current number is proven first (silently, or its SIM check and code on the code page), then the
// new one.
const phoneForm = $('#phone-form');
const phonePassword = $('#phone-password');
const newPhone = $('#new-phone');
const phoneError = $('#phone-error');
const phoneProgress = $('#phone-progress');
wirePhoneEcho(newPhone, $('#new-phone-echo'), (number) => `We will text ${number} after your current number.`);

function phoneIdle() {
  showProgress(phoneProgress, '');
  setBusy(phoneForm, false);
}

// Back from the code page (bfcache): the form must not stay frozen.
window.addEventListener('pageshow', (event) => {
  if (event.persisted) {
    phoneIdle();
    phonePassword.value = '';
  }
});

phoneForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  say(phoneError, '');
  const missing = phonePassword.value === '' ? phonePassword : newPhone.value.trim() === '' ? newPhone : null;
  markInvalid([phonePassword, newPhone].map((input) => [input, missing === input]), phoneError);
  if (missing) {
    say(phoneError, missing === phonePassword ? FORM.password_for_phone_missing : FORM.new_phone_missing);
    return;
  }
  setBusy(phoneForm, true);
  clearFlowCsrf('phone');
  const started = await post(
    '/api/phone/change',
    { current_password: phonePassword.value, new_phone: newPhone.value.trim() },
    { csrf },
  );
  if (!started.ok) {
    phoneIdle();
    if (started.problem === 'unauthorized') {
      go('/login.html?next=/account.html');
      return;
    }
    const wrongPassword = started.problem === 'invalid_credentials';
    const sameNumber = started.problem === 'invalid_phone' && started.reason === 'same_number';
    say(
      phoneError,
      wrongPassword ? FORM.password_for_phone_wrong : sameNumber ? FORM.same_number : problemText(started),
    );
    const field = wrongPassword ? phonePassword : ['invalid_phone', 'phone_not_supported'].includes(started.problem) ? newPhone : null;
    if (field) markInvalid([[field, true]], phoneError);
    if (wrongPassword) phonePassword.value = '';
    return;
  }
  const flowCsrf = started.data?.csrf;
  if (started.data?.next !== 'second_factor' || typeof flowCsrf !== 'string' || flowCsrf === '') {
    phoneIdle();
    say(phoneError, problemText({ problem: 'unexpected' }));
    return;
  }
  storeFlowCsrf('phone', flowCsrf);
  phonePassword.value = '';
  phoneGoesOn(await proveNumber({ csrf: flowCsrf, step: (text) => showProgress(phoneProgress, text) }));
});

/** Where a phone change's step led: the operator, the code or blocked page, or why it stops here. */
function phoneGoesOn(outcome) {
  if (outcome.leaving) return;
  if (outcome.go) {
    go(outcome.go);
    return;
  }
  clearFlowCsrf('phone');
  phoneIdle();
  say(phoneError, sendProblemText(outcome.failed, 'phone'));
}

// The new number's step, once the current number is proven: the user chooses how, because the
// network can only confirm the SIM that carries this phone's data — often not the new one yet.
const newNumberStep = $('#new-number-step');

function offerNewNumberStep(flowCsrf) {
  newNumberStep.hidden = false;
  const choose = async (silently) => {
    newNumberStep.hidden = true;
    setBusy(phoneForm, true);
    const step = (text) => showProgress(phoneProgress, text);
    const how = { flow: 'phone', csrf: flowCsrf, number: 'new', step };
    phoneGoesOn(silently ? await proveNumber(how) : await startSmsPath(how));
  };
  $('#new-number-silent').onclick = () => choose(true);
  $('#new-number-sms').onclick = () => choose(false);
  $('#new-number-silent').focus();
}

// Back from the operator's redirect, or from the current number's code page (a fixed code in the
// URL): the next number, that number's SMS path, or the change made. Only once the page shows the
// signed-in account: the change ends the session the page is still reading with.
async function resumePhoneChange(result, loaded) {
  if (!(await loaded)) return;
  const flowCsrf = readFlowCsrf('phone');
  if (result === 'link_invalid' || !flowCsrf) {
    clearFlowCsrf('phone');
    say(phoneError, PHONE_RESULTS.link_invalid);
    return;
  }
  say($('#notice'), PHONE_RESULTS[result]);
  if (result === 'current_proven') {
    offerNewNumberStep(flowCsrf);
    return;
  }
  setBusy(phoneForm, true);
  const step = (text) => showProgress(phoneProgress, text);
  if (result === 'new_proven') {
    step(CHANGING_PHONE);
    const done = await post('/api/phone/finish', {}, { csrf: flowCsrf });
    if (done.ok && done.data?.next === 'phone_changed') {
      clearFlowCsrf('phone');
      go('/account.html?m=phone_changed');
      return;
    }
    phoneGoesOn({ failed: done.ok ? { ok: false, status: done.status, problem: 'unexpected' } : done });
    return;
  }
  const number = result === 'new_silent_failed' ? 'new' : null;
  phoneGoesOn(await startSmsPath({ flow: 'phone', csrf: flowCsrf, number, step }));
}

const everywhere = $('#everywhere-form');
everywhere.addEventListener('submit', async (event) => {
  event.preventDefault();
  say(passwordError, '');
  setBusy(everywhere, true);
  const result = await post('/api/logout-everywhere', {}, { csrf });
  if (result.ok || result.problem === 'unauthorized') {
    go('/login.html?m=signed_out_everywhere');
    return;
  }
  setBusy(everywhere, false);
  say(passwordError, problemText(result));
});

const loaded = load();
const phoneResult = params().get('r');
if (lookup(PHONE_RESULTS, phoneResult)) resumePhoneChange(phoneResult, loaded);
