// An example relying site: it keeps its own users and sessions, and asks simguard to prove that the
// person at the browser holds a phone number. Three steps:
//   1. its backend creates a verification (POST /api/v1/verifications, with its API key) and sends
//      the browser to the hosted page simguard answers with;
//   2. the browser comes back to /verified with `simguard_token` (or `simguard_error`) and `state`;
//   3. the backend checks the token against simguard's published keys (jose: ES256 only, our
//      audience, simguard as issuer, unexpired), refuses a token it has seen, and redeems it with
//      simguard, which refuses it the second time too.
// Configuration (environment): SIMGUARD_URL (simguard's public origin), SIMGUARD_SITE_ID,
// SIMGUARD_API_KEY, PORT (8081), PUBLIC_URL (this site's origin, default http://127.0.0.1:PORT).
import { createServer } from 'node:http';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const SIMGUARD_URL = (process.env.SIMGUARD_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
const SITE_ID = process.env.SIMGUARD_SITE_ID ?? 'demo-shop';
const API_KEY = process.env.SIMGUARD_API_KEY ?? '';
const PORT = Number(process.env.PORT ?? 8081);
const PUBLIC_URL = (process.env.PUBLIC_URL ?? `http://127.0.0.1:${PORT}`).replace(/\/$/, '');
const RETURN_URL = `${PUBLIC_URL}/verified`;

// jose fetches the keys once and again when a token names a key it does not know (a rollover).
const keys = createRemoteJWKSet(new URL(`${SIMGUARD_URL}/.well-known/jwks.json`));
/** Result tokens already accepted here (a real site keeps them in its database until they expire). */
const seen = new Map();
/**
 * What this site asked for, by `state`: the verification's id, the number and the purpose. The
 * result must say the same of all three (a real site keeps this in the user's session).
 */
const asked = new Map();

/** The `phone_hash` claim of a number, as simguard computes it (docs/verification-api.md). */
const phoneHash = (e164) => createHash('sha256').update(`simguard-phone:${e164}`).digest('hex');

const PURPOSES = new Set(['recovery', 'login', 'step_up', 'phone_confirmation']);

function page(res, status, title, body) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    // form-action covers the redirect after /start, to simguard's hosted page.
    'Content-Security-Policy': `default-src 'none'; style-src 'unsafe-inline'; form-action 'self' ${SIMGUARD_URL}`,
    'Referrer-Policy': 'no-referrer',
  });
  res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 2rem auto"><h1>${title}</h1>${body}</body></html>`);
}

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function cookie(req, name) {
  const found = (req.headers.cookie ?? '').split(';').map((c) => c.trim().split('=')).find(([k]) => k === name);
  return found ? found.slice(1).join('=') : null;
}

async function form(req) {
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 4096) throw new Error('too large');
  }
  return new URLSearchParams(body);
}

/** Step 1: ask simguard for a verification; the browser goes to its hosted page. */
async function start(req, res) {
  const input = await form(req);
  const phone = input.get('phone') ?? '';
  const purpose = PURPOSES.has(input.get('purpose')) ? input.get('purpose') : 'login';
  // Ties the browser that comes back to the one that left (as OAuth's `state`).
  const state = randomBytes(16).toString('base64url');
  const answer = await fetch(`${SIMGUARD_URL}/api/v1/verifications`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Simguard-Api-Key': API_KEY },
    body: JSON.stringify({ phone, purpose, return_url: RETURN_URL, state }),
  });
  const created = await answer.json().catch(() => ({}));
  if (answer.status !== 201 || typeof created.url !== 'string') {
    return page(res, 502, 'Could not start', `<p id="outcome">simguard said: ${escape(created.type ?? answer.status)}</p>`);
  }
  // In a real site: the signed-in user's own number, and a purpose the site chose for the action.
  asked.set(state, { id: created.id, phone, purpose, until: Date.now() + 15 * 60_000 });
  res.writeHead(303, {
    Location: created.url,
    'Set-Cookie': `verify_state=${state}; HttpOnly; SameSite=Lax; Path=/verified; Max-Age=900`,
    'Cache-Control': 'no-store',
  });
  res.end();
}

/** Steps 2 and 3: check the result, refuse replays, redeem it. */
async function verified(req, res, query) {
  const expected = cookie(req, 'verify_state') ?? '';
  const got = query.get('state') ?? '';
  const sameBrowser =
    expected.length > 0 && expected.length === got.length && timingSafeEqual(Buffer.from(expected), Buffer.from(got));
  if (!sameBrowser) return page(res, 400, 'Refused', '<p id="outcome">refused: not the browser that started</p>');
  for (const [key, a] of asked) if (a.until < Date.now()) asked.delete(key);
  const request = asked.get(got);
  if (!request) return page(res, 400, 'Refused', '<p id="outcome">refused: no verification asked for</p>');
  const error = query.get('simguard_error');
  if (error) return page(res, 200, 'Not verified', `<p id="outcome">not verified: ${escape(error)}</p>`);
  const token = query.get('simguard_token') ?? '';
  let claims;
  try {
    ({ payload: claims } = await jwtVerify(token, keys, {
      algorithms: ['ES256'],
      issuer: SIMGUARD_URL,
      audience: SITE_ID,
      requiredClaims: ['sub', 'jti', 'iat', 'exp'],
    }));
  } catch (e) {
    return page(res, 400, 'Refused', `<p id="outcome">refused: ${escape(e.code ?? 'invalid token')}</p>`);
  }
  // The proof must be of the verification this site started, for its number and its purpose.
  if (claims.sub !== request.id || claims.phone_hash !== phoneHash(request.phone) || claims.purpose !== request.purpose) {
    return page(res, 400, 'Refused', '<p id="outcome">refused: not the verification asked for</p>');
  }
  for (const [jti, exp] of seen) if (exp * 1000 < Date.now()) seen.delete(jti);
  if (seen.has(claims.jti)) return page(res, 409, 'Refused', '<p id="outcome">refused: replayed token</p>');
  seen.set(claims.jti, claims.exp);
  // simguard marks it used: a token that reached anyone else first is refused here.
  const redeemed = await fetch(`${SIMGUARD_URL}/api/v1/verifications/redeem`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Simguard-Api-Key': API_KEY },
    body: JSON.stringify({ token }),
  });
  if (redeemed.status !== 200) {
    const problem = await redeemed.json().catch(() => ({}));
    return page(res, 409, 'Refused', `<p id="outcome">refused by simguard: ${escape(problem.type ?? redeemed.status)}</p>`);
  }
  page(
    res,
    200,
    'Phone verified',
    `<p id="outcome">verified: ${escape(claims.method)} for ${escape(claims.purpose)}, SIM ${escape(claims.sim_change)}</p>
<p>Verification <code>${escape(claims.sub)}</code>. <a href="/">Again</a></p>`,
  );
}

const HOME = `<form method="post" action="/start">
<p><label>Mobile number (E.164) <input name="phone" value="+447000000070" required></label></p>
<p><label>Why <select name="purpose"><option>login</option><option>recovery</option><option>step_up</option><option>phone_confirmation</option></select></label></p>
<p><button type="submit">Verify my phone with simguard</button></p></form>`;

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', PUBLIC_URL);
  try {
    if (req.method === 'GET' && url.pathname === '/') return page(res, 200, 'Example shop', HOME);
    if (req.method === 'POST' && url.pathname === '/start') return await start(req, res);
    if (req.method === 'GET' && url.pathname === '/verified') return await verified(req, res, url.searchParams);
    page(res, 404, 'Not found', '<p>Nothing here.</p>');
  } catch (e) {
    page(res, 500, 'Error', `<p id="outcome">error: ${escape(e.message)}</p>`);
  }
});

server.listen(PORT, '127.0.0.1', () => {
  console.log(`example relying site on ${PUBLIC_URL} (simguard at ${SIMGUARD_URL}, site ${SITE_ID})`);
});
