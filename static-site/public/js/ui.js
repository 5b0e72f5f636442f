// Small DOM helpers shared by the pages. Text only ever goes in through textContent.

export const $ = (selector, root = document) => root.querySelector(selector);

export function params() {
  return new URLSearchParams(window.location.search);
}

/** Disables a form's controls while a request runs (and marks it busy for assistive tech). */
export function setBusy(form, busy) {
  form.setAttribute('aria-busy', busy ? 'true' : 'false');
  for (const el of form.querySelectorAll('button, input')) {
    if (busy) {
      el.dataset.wasDisabled = el.disabled ? '1' : '';
      el.disabled = true;
    } else if (el.dataset.wasDisabled !== undefined) {
      el.disabled = el.dataset.wasDisabled === '1';
      delete el.dataset.wasDisabled;
    }
  }
}

/** Puts `text` in a role="alert" / aria-live element (empty text hides it, see styles.css). */
export function say(el, text) {
  el.textContent = text || '';
}

/** Adds or removes `id` among the element's aria-describedby ids. */
function describedBy(input, id, on) {
  const ids = (input.getAttribute('aria-describedby') ?? '').split(/\s+/).filter((t) => t && t !== id);
  if (on) ids.push(id);
  if (ids.length) input.setAttribute('aria-describedby', ids.join(' '));
  else input.removeAttribute('aria-describedby');
}

/**
 * Marks fields invalid (aria-invalid), ties the page's error message (`#error`) to each invalid
 * field (aria-describedby, so a screen reader reads it with the field) and focuses the first one.
 */
export function markInvalid(fields, error = document.getElementById('error')) {
  let first = null;
  for (const [input, invalid] of fields) {
    if (invalid) {
      input.setAttribute('aria-invalid', 'true');
      first ??= input;
    } else {
      input.removeAttribute('aria-invalid');
    }
    if (error?.id) describedBy(input, error.id, invalid);
  }
  first?.focus();
}

/** Length in Unicode code points after NFKC, as the server counts. */
export function passwordLength(value) {
  return [...value.normalize('NFKC')].length;
}

/** Wires a "Show passwords" checkbox to the given inputs. */
export function wireShowPasswords(checkbox, inputs) {
  if (!checkbox) return;
  const apply = () => {
    for (const input of inputs) input.type = checkbox.checked ? 'text' : 'password';
  };
  checkbox.addEventListener('change', apply);
  apply();
}

/** Sends the browser to a fixed same-origin path. */
export function go(path) {
  window.location.assign(path);
}

// The CSRF token of the flow in progress in this tab, per kind of flow. A fixed set of keys.
const CSRF_KEYS = Object.freeze({
  reset: 'simguard.reset.csrf',
  login: 'simguard.login.csrf',
  phone: 'simguard.phone.csrf',
});

function csrfKey(flow) {
  return Object.hasOwn(CSRF_KEYS, flow) ? CSRF_KEYS[flow] : null;
}

export function readFlowCsrf(flow) {
  const key = csrfKey(flow);
  if (!key) return null;
  try {
    return window.sessionStorage.getItem(key);
  } catch {
    return null;
  }
}

export function storeFlowCsrf(flow, value) {
  const key = csrfKey(flow);
  if (!key) return false;
  try {
    window.sessionStorage.setItem(key, value);
    return true;
  } catch {
    return false;
  }
}

export function clearFlowCsrf(flow) {
  const key = csrfKey(flow);
  if (!key) return;
  try {
    window.sessionStorage.removeItem(key);
  } catch {
    /* storage unavailable: nothing to clear */
  }
}

// Where a sign-in's or phone change's code went: the last two digits the server gave once the
// password was proven (never for a reset).
const TO_ENDING_KEYS = Object.freeze({ login: 'simguard.login.to_ending', phone: 'simguard.phone.to_ending' });

export function storeCodeDestination(flow, toEnding) {
  try {
    for (const [kind, key] of Object.entries(TO_ENDING_KEYS)) {
      if (kind === flow && typeof toEnding === 'string' && /^[0-9]{2}$/.test(toEnding)) {
        window.sessionStorage.setItem(key, toEnding);
      } else if (kind === flow) {
        window.sessionStorage.removeItem(key);
      }
    }
  } catch {
    /* storage unavailable: the page says "the number on the account" */
  }
}

export function readCodeDestination(flow) {
  if (!Object.hasOwn(TO_ENDING_KEYS, flow)) return null;
  try {
    const v = window.sessionStorage.getItem(TO_ENDING_KEYS[flow]);
    return v && /^[0-9]{2}$/.test(v) ? v : null;
  } catch {
    return null;
  }
}

export const readResetCsrf = () => readFlowCsrf('reset');
export const storeResetCsrf = (value) => storeFlowCsrf('reset', value);
export const clearResetCsrf = () => clearFlowCsrf('reset');

// Where a successful sign-in may go: an exact match on this list, nothing else. Any other `next`
// (//evil.tld, /\evil.tld, https://…, javascript:…) goes to the account page.
const NEXT_ALLOWED = Object.freeze(['/account.html']);
const DEFAULT_NEXT = '/account.html';

// Where a sign-in was headed, kept while its silent check leaves the site (only an allowed path).
const LOGIN_NEXT_KEY = 'simguard.login.next';

export function storeLoginNext(value) {
  try {
    if (isAllowedNext(value)) window.sessionStorage.setItem(LOGIN_NEXT_KEY, value);
    else window.sessionStorage.removeItem(LOGIN_NEXT_KEY);
  } catch {
    /* storage unavailable: the sign-in lands on the account page */
  }
}

export function takeLoginNext() {
  try {
    const v = window.sessionStorage.getItem(LOGIN_NEXT_KEY);
    window.sessionStorage.removeItem(LOGIN_NEXT_KEY);
    return v;
  } catch {
    return null;
  }
}

export function isAllowedNext(value) {
  return typeof value === 'string' && NEXT_ALLOWED.includes(value);
}

export function safeNext(value) {
  return isAllowedNext(value) ? value : DEFAULT_NEXT;
}

/**
 * A progress box (.progress with a [data-progress-text] live region): `text` shows it with a spinner
 * and a bar; empty text hides it.
 */
export function showProgress(box, text) {
  box.classList.toggle('active', Boolean(text));
  const label = box.querySelector('[data-progress-text]');
  if (label) label.textContent = text || '';
}
