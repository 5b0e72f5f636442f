// Every sentence a page shows in answer to a code. Codes come from the URL (?r=, ?m=) or from the
// API's problem slugs; they only ever select an entry here. Unknown codes get the generic text.
// Lookups use Object.hasOwn on null-prototype tables, so '__proto__' or 'toString' select nothing.

const table = (entries) => Object.freeze(Object.assign(Object.create(null), entries));

export function lookup(tbl, code) {
  return typeof code === 'string' && Object.hasOwn(tbl, code) ? tbl[code] : undefined;
}

/** /reset/result.html?r=<code> */
export const RESULTS = table({
  link_invalid: {
    title: 'This link has expired',
    text: [
      'This verification is not valid in this browser, has expired, or was already used.',
      'Start the password reset again in the browser where you want to set your new password.',
    ],
    actions: [{ href: '/forgot.html', label: 'Start again' }],
  },
  silent_failed: {
    title: 'We could not confirm your phone',
    text: [
      'Your mobile network could not confirm your phone silently this time.',
      'Check that mobile data is on and Wi-Fi is off, then try again. Verification by text message is coming in a later version.',
    ],
    actions: [{ href: '/forgot.html', label: 'Try again' }],
  },
  no_match: {
    title: 'This phone is not the one on the account',
    text: [
      'The phone on this connection is not the phone number registered to this account, so we cannot reset the password from here.',
      'Use the phone registered to your account, with mobile data on and Wi-Fi off.',
    ],
    actions: [{ href: '/forgot.html', label: 'Try again' }],
  },
  sim_changed: {
    title: 'We cannot reset your password by phone',
    text: [
      'The SIM card for this phone number was changed recently, so we cannot use it to reset your password.',
      'We have emailed the account owner about this attempt. Please contact support to regain access to your account.',
    ],
    actions: [{ href: '/help/not-me.html', label: 'What to do if this was not you' }],
  },
  unavailable: {
    title: 'Something went wrong on our side',
    text: ['This is a temporary problem. Please wait a minute and try again.'],
    actions: [{ href: '/forgot.html', label: 'Try again' }],
  },
});

export const RESULT_GENERIC = Object.freeze({
  title: 'Password reset',
  text: ['We could not show the result of this password reset. Please start again.'],
  actions: [{ href: '/forgot.html', label: 'Start again' }],
});

/** /login.html?m=<code> */
export const LOGIN_NOTICES = table({
  reset_ok: 'Your password has been changed. Sign in with your new password.',
  registered: 'Thanks for registering. If this email address can be used, you can now sign in.',
  signed_out: 'You have signed out.',
});

/** The answer for "no silent check on this connection": unknown emails get exactly this too. */
export const NOT_SILENT =
  "We couldn't verify your phone silently on this connection. Turn off Wi-Fi, use mobile data, and try again.";

export const CHECKING = 'Checking your phone with your mobile network…';

/** Why a new password was refused (the problem's `reason`). */
export const PASSWORD_REASONS = table({
  too_short: 'Your password must be at least 12 characters long.',
  too_long: 'Your password must be at most 128 characters long.',
  too_common: 'That password is too common or too easy to guess. Choose another one.',
  contains_personal_info: 'Do not use your email name in your password.',
});

export const PASSWORD_GENERIC = 'That password cannot be used. Choose another one.';

/** API problem slugs. */
export const PROBLEMS = table({
  invalid_email: 'Enter a valid email address, like name@example.com.',
  invalid_phone: 'Enter your mobile number in international format, starting with + and the country code, like +44 7700 900123.',
  invalid_credentials: 'The email or password is not correct.',
  rate_limited: 'Too many attempts. Please wait a while and try again.',
  csrf_rejected: 'This page has expired. Reload it and try again.',
  flow_invalid: 'This password reset is not valid in this browser, has expired, or was already used. Start again.',
  unauthorized: 'Please sign in to continue.',
  temporarily_unavailable: 'The service is temporarily unavailable. Please try again shortly.',
  network: 'We could not reach the server. Check your connection and try again.',
});

export const PROBLEM_GENERIC = 'Something went wrong. Please try again.';

export function problemText(result) {
  if (result.problem === 'weak_password') {
    return lookup(PASSWORD_REASONS, result.reason) ?? PASSWORD_GENERIC;
  }
  return lookup(PROBLEMS, result.problem) ?? PROBLEM_GENERIC;
}

/** Client-side checks, in the same words. */
export const FORM = table({
  email_missing: 'Enter your email address.',
  password_missing: 'Enter your password.',
  phone_missing: 'Enter your mobile number.',
  new_password_missing: 'Enter a new password.',
  confirm_mismatch: 'The two passwords do not match.',
  no_reset_in_progress:
    'There is no password reset in progress in this browser tab. Start again from “Forgot your password?”.',
});
