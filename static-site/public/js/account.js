import { get, post } from './api.js';
import { FORM, problemText } from './messages.js';
import { newPasswordProblem } from './new-password-check.js';
import { $, go, markInvalid, say, setBusy } from './ui.js';

const details = $('#details');
const loading = $('#loading');
const error = $('#error');
const form = $('#signout-form');

let csrf = null;

async function load() {
  const me = await get('/api/me');
  if (!me.ok) {
    if (me.status === 401) {
      window.location.replace('/login.html?next=/account.html');
      return;
    }
    loading.hidden = true;
    say(error, problemText(me));
    return;
  }
  csrf = typeof me.data?.csrf === 'string' ? me.data.csrf : null;
  $('#me-email').textContent = String(me.data?.email ?? '');
  $('#me-phone').textContent = String(me.data?.phone ?? '');
  loading.hidden = true;
  details.hidden = false;
  form.hidden = false;
  $('#security').hidden = false;
  await loadDevices();
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

load();
