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
    // Reached from the operator's redirect or from the SMS path: neither is a link the user clicked.
    title: 'This password reset has expired',
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
      'We can send a code by text message to the phone number on the account instead. Or check that mobile data is on and Wi-Fi is off, and try again.',
    ],
    actions: [{ href: '/forgot.html', label: 'Try again', secondary: true }],
    // result.js offers "Send me a code instead" (the SMS path of the same flow) for this code only.
    smsFallback: true,
  },
  no_match: {
    title: 'This phone is not the one on the account',
    text: [
      'The phone on this connection is not the phone number registered to this account, so we cannot reset the password from here.',
      'Use the phone registered to your account, with mobile data on and Wi-Fi off.',
      'If your phone has two SIM cards, mobile data may be running on the other one: in your phone’s settings, switch mobile data to the SIM of the number on your account, then try again.',
      'Or connect to Wi-Fi and start again: we will send a code by text message to the number on your account instead.',
    ],
    // Followed by how to reach support (site.js), without the SIM-change window.
    contact: true,
    actions: [{ href: '/forgot.html', label: 'Try again' }],
  },
  sim_changed: {
    title: 'We cannot reset your password by phone',
    text: [
      'The SIM card for this phone number was changed recently, so we cannot use it to reset your password.',
      'We have emailed the account owner about this attempt.',
    ],
    // Followed by how to reach support (site.js).
    support: true,
    actions: [{ href: '/help/not-me.html', label: 'What to do if this was not you' }],
  },
  unavailable: {
    title: 'Something went wrong on our side',
    text: ['This is a temporary problem. Please wait a minute and try again.'],
    // Resumes this browser's flow where it stopped (the server reads what the check said). The
    // flow may be a reset, a sign-in or a site's verification: starting again begins at the home
    // page, which offers each.
    actions: [
      { href: '/api/reset/callback?resume=1', label: 'Try again' },
      { href: '/', label: 'Start again', secondary: true },
    ],
    resumable: true,
  },
  in_progress: {
    title: 'We are still checking your phone',
    text: ['This takes a few seconds. Wait a moment, then continue.'],
    actions: [{ href: '/api/reset/callback?resume=1', label: 'Continue' }],
    resumable: true,
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
  registered: 'Thanks for registering. If this email address can be used, sign in now: we will check your phone and text it a code, which confirms your number.',
  signed_out: 'You have signed out.',
  signed_out_everywhere: 'You have signed out everywhere.',
});

export const CHECKING = 'Checking your phone with your mobile network…';

/** /login.html?r=<code>: where a sign-in's silent check came back to (other codes: none). */
export const LOGIN_RESULTS = table({
  silent_failed:
    'Your mobile network could not confirm your phone silently this time, so we are checking your SIM and texting you a code instead.',
});

/** The steps of the SMS path, shown in the progress box (the same for unknown emails). */
export const SIM_CHECKING = 'Checking your SIM with your mobile network…';
export const SENDING_CODE = 'Sending a code to your phone…';
export const CODE_CHECKING = 'Checking your code…';

/** The code page's sentences built from a number (never from a URL). */
export const CODE_COUNTS = Object.freeze({
  introTo: (digits) =>
    `We sent a code by text message to your mobile number ending in ${digits}. It can take a minute to arrive.`,
  introToNew: (digits) =>
    `We sent a code by text message to your new mobile number ending in ${digits}. It can take a minute to arrive.`,
  triesLeft: (n) =>
    n === 1 ? 'You have 1 try left before this attempt stops.' : `You have ${n} tries left.`,
  resendWait: (s) => `You can ask for a new code in ${s} ${s === 1 ? 'second' : 'seconds'}.`,
});

/** /account.html?r=<code>: where a phone change's silent proof came back to. */
export const PHONE_RESULTS = table({
  current_proven: 'Your current number is confirmed.',
  silent_failed:
    'Your mobile network could not confirm your current number silently, so we are checking its SIM and texting it a code instead.',
  new_silent_failed:
    'Your mobile network could not confirm your new number silently, so we are checking its SIM and texting it a code instead.',
  new_proven: 'Your mobile network confirmed your new number.',
  link_invalid:
    'This phone number change is not valid in this browser, has expired, or was already used. Start again below.',
});

/** The last step of a phone change proven silently, in the progress box. */
export const CHANGING_PHONE = 'Changing your phone number…';

/** The code page. */
export const CODE = table({
  resent: 'We asked for a new code. A text message can take a minute to arrive; enter the most recent code.',
  not_resent:
    'No new code was sent: the code we sent a moment ago is still valid. A text message can take a minute to arrive.',
  resend_ready: 'No text message after a minute, or the code has expired?',
  resend_limited:
    'You have asked for too many codes. Enter the last code you received, or wait a few minutes and start again.',
  login_invalid: 'This sign-in is not valid in this browser, has expired, or was already used. Sign in again.',
  reset_invalid:
    'This password reset is not valid in this browser, has expired, or was already used. Start again.',
  phone_invalid:
    'This phone number change is not valid in this browser, has expired, or was already used. Start again from your account page.',
  none_in_progress:
    'There is no sign-in or password reset waiting for a code in this browser tab. Start again.',
});

/** /blocked.html?r=<code>&flow=<reset|login>: where the SMS path stops. */
export const BLOCKED = table({
  sim_changed: {
    title: "We can't use your phone right now",
    text: [
      "The SIM card for this phone number was changed recently, so we can't use this phone to confirm it's you right now.",
      "We've emailed the account owner about this attempt.",
      "If you didn't change your SIM card, contact your mobile operator now: someone may have moved your number to their SIM card.",
    ],
    help: true,
    support: true,
  },
  sim_unavailable: {
    title: "We couldn't check your SIM",
    text: [
      "We couldn't check your SIM card with your mobile network right now, so we can't send you a code.",
      'Please try again later.',
    ],
    help: false,
  },
  too_many_attempts: {
    title: 'Too many wrong codes',
    text: ['A wrong code was entered too many times, so we stopped this attempt.', 'Start again to get a new code.'],
    help: false,
  },
});

/** /blocked.html?r=<code>&flow=phone&n=new: a phone change's new number was refused. */
export const BLOCKED_NEW_NUMBER = table({
  sim_changed: {
    title: "We can't accept this new number yet",
    text: [
      'The SIM card for the new number was changed recently (a new SIM card, or the number just moved to one), so we cannot use it to confirm it is yours yet.',
      'Your account keeps its current number.',
    ],
    help: false,
    // Followed by when it works again (site.js); the account itself is fine, so no support line.
    window: true,
  },
  sim_unavailable: {
    title: "We couldn't check the new number",
    text: [
      "We couldn't check the new number's SIM card with its mobile network right now, so we can't send it a code.",
      'Your account keeps its current number. Please try again later.',
    ],
    help: false,
  },
});

export const BLOCKED_GENERIC = Object.freeze({
  title: 'We could not continue',
  text: ['We could not show why this attempt stopped. Please start again.'],
  help: false,
});

/** Where "start again" leads, by flow. */
export const RESTART = table({
  login: { href: '/login.html', label: 'Back to sign in' },
  reset: { href: '/forgot.html', label: 'Start again' },
  phone: { href: '/account.html', label: 'Back to your account' },
});

/** /account.html?m=<code> */
export const ACCOUNT_NOTICES = table({
  phone_changed: 'Your phone number has been changed. Every other browser has been signed out.',
});

export const HELP_ACTION = Object.freeze({ href: '/help/not-me.html', label: 'What to do if this was not you' });

/** Why a new password was refused (the problem's `reason`). */
const PASSWORD_REASONS = table({
  too_short: 'Your password must be at least 12 characters long.',
  too_long: 'Your password must be at most 128 characters long.',
  too_common: 'That password is too common or too easy to guess. Choose another one.',
  contains_personal_info: 'Do not use your email name in your password.',
});

const PASSWORD_GENERIC = 'That password cannot be used. Choose another one.';

/** API problem slugs. */
export const PROBLEMS = table({
  invalid_email: 'Enter a valid email address, like name@example.com.',
  invalid_phone: 'That is not a mobile number we can use. Check it, or enter it with + and the country code, like +44 7700 900123.',
  invalid_credentials: 'The email or password is not correct.',
  rate_limited: 'Too many attempts. Please wait a while and try again.',
  csrf_rejected: 'This page has expired. Reload it and try again.',
  flow_invalid: 'This password reset is not valid in this browser, has expired, or was already used. Start again.',
  unauthorized: 'Please sign in to continue.',
  temporarily_unavailable: 'The service is temporarily unavailable. Please try again shortly.',
  network: 'We could not reach the server. Check your connection and try again.',
  code_invalid: 'That code is not right. Check the text message and try again.',
  code_expired: 'That code has expired. Send a new code, then enter it here.',
  too_many_attempts: 'Too many wrong codes. Start again.',
  phone_not_supported: "We can't send text messages to this number.",
  sms_unavailable: "We can't send or check text message codes right now. Please try again in a few minutes.",
});

/** Problems of the SMS path (sim-check, otp-start) where they differ from the general words. */
const SEND_PROBLEMS = table({
  phone_not_supported: "We can't send text messages to the phone number on this account.",
  rate_limited: 'Too many codes were asked for. Please wait a few minutes and try again.',
});

/** The words for a flow of `flow` ('reset', 'login' or 'phone') that can no longer go on. */
export function endedText(flow) {
  return lookup(CODE, `${flow}_invalid`) ?? CODE.reset_invalid;
}

/** `flow` ('reset', 'login' or 'phone') picks the words for a flow that can no longer go on. */
export function sendProblemText(result, flow) {
  if (result.problem === 'flow_invalid' || result.problem === 'csrf_rejected') {
    return endedText(flow);
  }
  return lookup(SEND_PROBLEMS, result.problem) ?? problemText(result);
}

const PROBLEM_GENERIC = 'Something went wrong. Please try again.';

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
  current_password_missing: 'Enter your current password.',
  current_password_wrong: 'Your current password is not correct.',
  password_for_phone_missing: 'Enter your password.',
  password_for_phone_wrong: 'Your password is not correct.',
  new_phone_missing: 'Enter your new mobile number.',
  same_number: 'That is already the number on your account.',
  password_changed: 'Your password has been changed. Every other browser has been signed out.',
  no_reset_in_progress:
    'There is no password reset in progress in this browser tab. Start again from “Forgot your password?”.',
  code_missing: 'Enter the code from the text message.',
  code_malformed: 'Enter the code as it is in the text message: digits only.',
});
