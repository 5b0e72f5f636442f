// The sign-in page: the password by SRP (Cognito checks it; it never leaves the browser in clear),
// then simguard's rounds (challenge.js).
/* global AmazonCognitoIdentity */
import { callbacks, pool, say } from './challenge.js';

const $ = (id) => document.getElementById(id);

$('password-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  say('Signing in…');
  const user = new AmazonCognitoIdentity.CognitoUser({ Username: $('email').value.trim(), Pool: await pool() });
  user.setAuthenticationFlowType('CUSTOM_AUTH');
  const details = new AmazonCognitoIdentity.AuthenticationDetails({
    Username: $('email').value.trim(),
    Password: $('password').value,
    // Ask for the silent check only where it can work: on mobile data.
    ClientMetadata: { method: $('mobile-data').checked ? 'silent' : 'sms' },
  });
  user.authenticateUser(details, callbacks(user));
});
