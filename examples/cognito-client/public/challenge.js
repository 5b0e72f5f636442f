// simguard's rounds of a Cognito sign-in (docs/cognito.md), shared by the sign-in page and the page
// the silent check returns to. The Cognito session survives the silent check's navigation in
// sessionStorage (this tab only), and is rebuilt on the return page.
/* global AmazonCognitoIdentity */

const KEY = 'simguard.cognito';
const $ = (id) => document.getElementById(id);

export async function pool() {
  const config = await (await fetch('/config.json', { cache: 'no-store' })).json();
  return new AmazonCognitoIdentity.CognitoUserPool({
    UserPoolId: config.userPoolId,
    ClientId: config.clientId,
    endpoint: config.endpoint,
  });
}

export function say(text, error = '') {
  $('status').textContent = text;
  $('error').textContent = error;
}

function signedIn(session) {
  sessionStorage.removeItem(KEY);
  const email = session.getIdToken().decodePayload().email ?? '';
  $('code-form').hidden = true;
  say(`Signed in as ${email}.`);
}

const WHY = {
  sim_changed: 'The SIM card for your number changed recently, so your phone cannot be used to sign in yet.',
  sim_unavailable: 'We could not check your SIM with your mobile network. Try again later.',
  phone_unverified: 'Your account has no verified mobile number.',
  rate_limited: 'Too many codes were sent to your number. Try again later.',
  phone_not_supported: 'We cannot send text messages to your number.',
  sms_unavailable: 'We cannot send codes right now. Try again later.',
};

/** Why simguard refused this sign-in, once a round said so: kept over Cognito's generic failure. */
let refusal = null;

/** Callbacks for every Cognito answer: tokens, a failure, or simguard's next round. */
export function callbacks(user) {
  return {
    onSuccess: signedIn,
    onFailure: (err) => {
      sessionStorage.removeItem(KEY);
      $('code-form').hidden = true;
      say('', refusal ?? `Sign-in refused (${err?.code ?? 'error'}).`);
      refusal = null;
    },
    customChallenge: (params) => round(user, params),
  };
}

/** One round: the silent check (navigate to the operator), a code to type, or a refusal. */
function round(user, params) {
  if (params.next === 'silent' && /^https:\/\/|^http:\/\/127\.0\.0\.1[:/]/.test(params.check_url ?? '')) {
    sessionStorage.setItem(KEY, JSON.stringify({ username: user.getUsername(), session: user.Session }));
    say('Checking your phone with your mobile network…');
    window.location.assign(params.check_url);
    return;
  }
  if (params.next === 'sms') {
    const ending = /^[0-9]{2}$/.test(params.to_ending ?? '') ? ` ending ${params.to_ending}` : '';
    const form = $('code-form');
    // The same code again after a wrong one (simguard sends one code per sign-in).
    if (form.hidden) say(`We sent a code by text message to your phone${ending}.`);
    else say(`We sent a code by text message to your phone${ending}.`, 'That code is not right. Try again.');
    form.hidden = false;
    $('code').focus();
    form.onsubmit = (event) => {
      event.preventDefault();
      user.sendCustomChallengeAnswer($('code').value.trim(), callbacks(user));
    };
    return;
  }
  // A refusal: answer it, so that Cognito ends the sign-in.
  refusal = `Sign-in refused. ${WHY[params.reason] ?? 'Your phone could not be checked.'}`;
  say('Ending the sign-in…');
  user.sendCustomChallengeAnswer('-', callbacks(user));
}

/** On the return page: the redirect's parameters are the answer to the round that started it. */
export async function resume() {
  const kept = JSON.parse(sessionStorage.getItem(KEY) ?? 'null');
  // tru.ID and CAMARA put their result in the query; Vonage in the fragment.
  const answer = (window.location.search || window.location.hash).slice(1);
  history.replaceState(null, '', window.location.pathname);
  if (!kept || !answer) {
    say('', 'There is no sign-in in progress in this tab.');
    return;
  }
  const user = new AmazonCognitoIdentity.CognitoUser({ Username: kept.username, Pool: await pool() });
  user.setAuthenticationFlowType('CUSTOM_AUTH');
  user.Session = kept.session;
  user.sendCustomChallengeAnswer(answer, callbacks(user));
}
