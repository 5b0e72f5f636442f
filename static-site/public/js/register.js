import { post } from './api.js';
import { FORM, problemText } from './messages.js';
import { newPasswordProblem } from './new-password-check.js';
import { wirePhoneEcho } from './phone-echo.js';
import { $, go, markInvalid, say, setBusy, wireShowPasswords } from './ui.js';

const form = $('#register-form');
const email = $('#email');
const phone = $('#phone');
const password = $('#password');
const confirm = $('#confirm');
const error = $('#error');

wireShowPasswords($('#show-passwords'), [password, confirm]);

function firstProblem() {
  if (email.value.trim() === '') return [FORM.email_missing, email];
  if (email.validity.typeMismatch) return [problemText({ problem: 'invalid_email' }), email];
  if (phone.value.trim() === '') return [FORM.phone_missing, phone];
  return newPasswordProblem(password, confirm);
}

// The number shown back as the server reads it, before anything is submitted.
wirePhoneEcho(phone, $('#phone-echo'));

const FIELD_FOR = { invalid_email: email, invalid_phone: phone, phone_not_supported: phone, weak_password: password };

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  say(error, '');
  const problem = firstProblem();
  markInvalid([email, phone, password, confirm].map((input) => [input, problem?.[1] === input]));
  if (problem) {
    say(error, problem[0]);
    return;
  }

  setBusy(form, true);
  const result = await post('/api/register', {
    email: email.value.trim(),
    phone: phone.value.trim(),
    password: password.value,
  });
  if (result.ok) {
    go('/login.html?m=registered');
    return;
  }
  setBusy(form, false);
  say(error, problemText(result));
  const field = Object.hasOwn(FIELD_FOR, result.problem) ? FIELD_FOR[result.problem] : null;
  if (field) markInvalid([[field, true]]);
});
