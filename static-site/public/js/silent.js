// The silent check: the browser opens the provider's URL as a top-level navigation (tru.ID's web SDK,
// v0.2), so the operator sees this device's mobile data connection and redirects back: to our
// callback (tru.ID, CAMARA), or — Vonage, whose result is in the URL's fragment — to the return page,
// which posts it there (silent-return.js). Used by the reset (forgot.js), the sign-in (login.js), a
// phone change (phone-change.js) and the hosted verification page (hosted-verify.js).

import { post } from './api.js';

const CALLBACK = '/api/reset/callback';
/** What a posted parameter may look like: ids only, never free text. */
const PARAM = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Posts `params` to the callback as a form and goes where its 303 leads (the page that says how the
 * check ended). A `fetch`, not a form submission: the pages' `no-referrer` policy would make a
 * form's `Origin` `null`, which the API refuses as cross-site.
 * @param {Record<string, string>} params
 */
export async function postToCallback(params) {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (PARAM.test(name) && PARAM.test(value)) body.append(name, value);
  }
  let next = '/reset/result.html?r=unavailable';
  try {
    const response = await fetch(CALLBACK, {
      method: 'POST',
      body,
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'follow',
    });
    const landed = new URL(response.url);
    if (response.redirected && landed.origin === window.location.origin) next = landed.pathname + landed.search;
    // A relying site's verification ends on the site's own return URL, which the API names instead
    // of redirecting to it (a fetch must not carry the result to another site).
    if (!response.redirected && response.ok) {
      const answer = await response.json().catch(() => null);
      if (typeof answer?.go === 'string' && /^https?:\/\//.test(answer.go)) next = answer.go;
    }
  } catch {
    // Offline: the result page offers to try again.
  }
  window.location.replace(next);
}

/**
 * Loads the SDK and resolves to a function that navigates to a `check_url` (and throws when the SDK
 * refuses); rejects when the SDK cannot be loaded.
 */
async function checkOpener() {
  const { default: truID } = await import('/vendor/tru-sdk-web.mjs');
  return (checkUrl) => truID.openCheckUrl(checkUrl, { version: 'v0.2', checkDeviceCoverage: false });
}

/**
 * A sign-in's or a phone change's silent proof (`POST /api/login/silent` on the flow whose CSRF token
 * is `csrf`): the SDK is loaded first, so that no check is created that this page could not open
 * (the flow would wait for it, and its SMS path would be refused). Calls `beforeLeaving()` and
 * resolves to `true` once the browser is on its way to the operator; `false` when the SMS path
 * should go on instead.
 */
export async function proveSilently(csrf, beforeLeaving = () => {}) {
  const open = await checkOpener().catch(() => null);
  if (!open) return false;
  const silent = await post('/api/login/silent', {}, { csrf });
  if (!silent.ok || silent.data?.next !== 'silent' || typeof silent.data.check_url !== 'string') return false;
  beforeLeaving();
  try {
    await open(silent.data.check_url);
    return true;
  } catch {
    // The SDK refused the URL: the flow waits for a proof; the SMS path says it is over.
    return false;
  }
}

/**
 * Navigates to `checkUrl`; throws when the SDK cannot be loaded or refuses.
 * @param {string} checkUrl
 */
export async function openCheckUrl(checkUrl) {
  const open = await checkOpener();
  await open(checkUrl);
}
