import { post } from './api.js';
import { FORM, problemText } from './messages.js';
import { newPasswordProblem } from './new-password-check.js';
import {
  $,
  clearResetCsrf,
  go,
  markInvalid,
  readResetCsrf,
  say,
  setBusy,
  wireShowPasswords,
} from './ui.js';

const form = $('#new-password-form');
const password = $('#password');
const confirm = $('#confirm');
const error = $('#error');
const restart = $('#restart');

wireShowPasswords($('#show-passwords'), [password, confirm]);

function giveUp(text) {
  clearResetCsrf();
  // Nothing here is confirmed any more (a page come back to with Back, a flow used up).
  $('#confirmed').hidden = true;
  say(error, text);
  form.hidden = true;
  restart.hidden = false;
  restart.querySelector('a')?.focus();
}

if (!readResetCsrf()) {
  giveUp(FORM.no_reset_in_progress);
}


form.addEventListener('submit', async (event) => {
  event.preventDefault();
  say(error, '');
  const problem = newPasswordProblem(password, confirm);
  markInvalid([password, confirm].map((input) => [input, problem?.[1] === input]));
  if (problem) {
    say(error, problem[0]);
    return;
  }
  const csrf = readResetCsrf();
  if (!csrf) {
    giveUp(FORM.no_reset_in_progress);
    return;
  }

  setBusy(form, true);
  const result = await post('/api/reset/password', { password: password.value }, { csrf });
  if (result.ok) {
    clearResetCsrf();
    password.value = '';
    confirm.value = '';
    go('/login.html?m=reset_ok');
    return;
  }
  setBusy(form, false);
  if (result.problem === 'flow_invalid' || result.problem === 'csrf_rejected') {
    giveUp(problemText({ problem: 'flow_invalid' }));
    return;
  }
  say(error, problemText(result));
  if (result.problem === 'weak_password') markInvalid([[password, true]]);
});
