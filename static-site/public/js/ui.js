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

/** Marks fields invalid (aria-invalid) and focuses the first one. */
export function markInvalid(fields) {
  let first = null;
  for (const [input, invalid] of fields) {
    if (invalid) {
      input.setAttribute('aria-invalid', 'true');
      first ??= input;
    } else {
      input.removeAttribute('aria-invalid');
    }
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

export const RESET_CSRF_KEY = 'simguard.reset.csrf';

export function readResetCsrf() {
  try {
    return window.sessionStorage.getItem(RESET_CSRF_KEY);
  } catch {
    return null;
  }
}

export function storeResetCsrf(value) {
  try {
    window.sessionStorage.setItem(RESET_CSRF_KEY, value);
    return true;
  } catch {
    return false;
  }
}

export function clearResetCsrf() {
  try {
    window.sessionStorage.removeItem(RESET_CSRF_KEY);
  } catch {
    /* storage unavailable: nothing to clear */
  }
}
