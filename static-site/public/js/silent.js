// The silent check: the browser opens tru.ID's check_url as a top-level navigation (tru.ID's web
// SDK, v0.2), so the operator sees this device's mobile data connection and redirects back to our
// callback. Used by the reset (forgot.js) and the sign-in (login.js).

/** Navigates to `checkUrl`; throws when the SDK cannot be loaded or refuses. */
export async function openCheckUrl(checkUrl) {
  const { default: truID } = await import('/vendor/tru-sdk-web.mjs');
  await truID.openCheckUrl(checkUrl, { version: 'v0.2', checkDeviceCoverage: false });
}
