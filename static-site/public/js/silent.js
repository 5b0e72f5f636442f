// The silent check: the browser opens the provider's URL as a top-level navigation (tru.ID's web SDK,
// v0.2), so the operator sees this device's mobile data connection and redirects back: to our
// callback (tru.ID, CAMARA), or — Vonage, whose result is in the URL's fragment — to the return page,
// which posts it there (silent-return.js). Used by the reset (forgot.js) and the sign-in (login.js).

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
 * refuses); rejects when the SDK cannot be loaded. Loaded before a check is created, a missing SDK
 * costs no check and strands no flow.
 */
export async function checkOpener() {
  const { default: truID } = await import('/vendor/tru-sdk-web.mjs');
  return (checkUrl) => truID.openCheckUrl(checkUrl, { version: 'v0.2', checkDeviceCoverage: false });
}

/**
 * Navigates to `checkUrl`; throws when the SDK cannot be loaded or refuses.
 * @param {string} checkUrl
 */
export async function openCheckUrl(checkUrl) {
  const open = await checkOpener();
  await open(checkUrl);
}
