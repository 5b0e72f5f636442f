import { get, post } from './api.js';
import { problemText } from './messages.js';
import { $, go, say, setBusy } from './ui.js';

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

load();
