// The SMS path shared by the reset (forgot.html, reset/result.html), sign-in (login.html) and phone
// change (account.html, then the code page for the new number) pages: the SIM-swap gate, then a code
// sent, then the code page. Only fixed codes go into the URLs built
// here; the server's words are never shown.
import { post } from './api.js';
import { BLOCKED, SENDING_CODE, SIM_CHECKING, lookup } from './messages.js';
import { clearFlowCsrf, isAllowedNext, safeNext, storeCodeDestination } from './ui.js';

const FLOWS = Object.freeze(['reset', 'login', 'phone']);

export const isFlow = (value) => typeof value === 'string' && FLOWS.includes(value);

/** A phone change's step for its new number (`n=new` in the pages' URLs). */
const isNewNumber = (flow, number) => flow === 'phone' && number === 'new';

/**
 * /verify-code.html?flow=…[&next=…][&n=new], `next` only when it is on the allowlist, `n=new` for a
 * phone change's new number.
 */
function codePageUrl(flow, next, number = null) {
  const query = new URLSearchParams({ flow });
  if (flow === 'login' && isAllowedNext(next)) query.set('next', next);
  if (isNewNumber(flow, number)) query.set('n', 'new');
  return `/verify-code.html?${query}`;
}

/** /blocked.html?r=…&flow=…[&n=new]; an unknown reason is left out (the page then shows its generic text). */
export function blockedUrl(reason, flow, number = null) {
  const query = new URLSearchParams();
  if (lookup(BLOCKED, reason)) query.set('r', reason);
  if (isFlow(flow)) query.set('flow', flow);
  if (isNewNumber(flow, number)) query.set('n', 'new');
  return `/blocked.html?${query}`;
}

/**
 * Runs sim-check then otp-start for the flow whose CSRF token is `csrf`, calling `step(text)` before
 * each. Resolves to `{ go: url }` (the code page, or the blocked page) or `{ failed: result }` (an
 * api.js answer to put in the page's own words). Never throws.
 */
export async function startSmsPath({ flow, csrf, next = null, number = null, step = () => {} }) {
  step(SIM_CHECKING);
  const sim = await post('/api/sim-check', {}, { csrf });
  if (!sim.ok) return { failed: sim };
  if (sim.data?.next === 'blocked') return { go: blockedUrl(sim.data.reason, flow, sim.data.number) };
  // A remembered browser whose SIM check passed: signed in, no code.
  if (flow === 'login' && sim.data?.next === 'signed_in') {
    clearFlowCsrf('login');
    return { go: safeNext(next) };
  }
  if (sim.data?.next !== 'otp') return { failed: { ok: false, status: sim.status, problem: 'unexpected' } };

  step(SENDING_CODE);
  const sent = await post('/api/otp/start', {}, { csrf });
  if (!sent.ok) return { failed: sent };
  storeCodeDestination(flow, sent.data?.to_ending);
  return { go: codePageUrl(flow, next, number) };
}

/** Problems after which this flow cannot go on: the page should offer to start again. */
export const flowEnded = (result) => result.problem === 'flow_invalid' || result.problem === 'csrf_rejected';
