// The return page of a silent check whose provider puts its result in the URL's fragment (Vonage):
// no server sees a fragment, so this page reads it, removes it from the address bar and history,
// and posts it to the callback, which acts only for this browser's own flow and check.
import { postToCallback } from './silent.js';

const fragment = new URLSearchParams(window.location.hash.slice(1));
history.replaceState(null, '', window.location.pathname);
const params = {};
for (const name of ['request_id', 'code', 'error']) {
  const value = fragment.get(name);
  if (value !== null) params[name] = value;
}
if (Object.keys(params).length === 0) params.error = 'no_result';
await postToCallback(params);
