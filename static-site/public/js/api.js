// Same-origin JSON calls to /api. Never throws: every call resolves to
//   { ok: true, status, data }            on 2xx, or
//   { ok: false, status, problem, reason, attemptsLeft } where `problem` is the slug of an
//     `application/problem+json` answer (`urn:simguard:problem:<slug>`), or
//     'network' when the request did not complete, or 'unexpected' for any other answer.
// The server's `title` is never shown: pages map slugs to their own fixed text (messages.js).

const PROBLEM_PREFIX = 'urn:simguard:problem:';
const SLUG = /^[a-z0-9_]{1,64}$/;

function slugOf(body) {
  if (!body || typeof body.type !== 'string' || !body.type.startsWith(PROBLEM_PREFIX)) {
    return 'unexpected';
  }
  const slug = body.type.slice(PROBLEM_PREFIX.length);
  return SLUG.test(slug) ? slug : 'unexpected';
}

async function readJson(response) {
  const type = response.headers.get('Content-Type') || '';
  if (!/^application\/(problem\+)?json\b/i.test(type)) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

/**
 * @param {string} method
 * @param {string} path  a same-origin path starting with /api/
 * @param {{ body?: unknown, csrf?: string | null }} [options]
 */
async function api(method, path, options = {}) {
  const headers = { Accept: 'application/json, application/problem+json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store', redirect: 'error' };
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(options.body);
  }
  if (options.csrf) headers['X-CSRF-Token'] = options.csrf;

  let response;
  try {
    response = await fetch(path, init);
  } catch {
    return { ok: false, status: 0, problem: 'network', reason: null };
  }
  const data = await readJson(response);
  if (response.ok) return { ok: true, status: response.status, data };
  const reason = data && typeof data.reason === 'string' && SLUG.test(data.reason) ? data.reason : null;
  const attemptsLeft = Number.isInteger(data?.attempts_left) && data.attempts_left >= 0 ? data.attempts_left : null;
  return { ok: false, status: response.status, problem: slugOf(data), reason, attemptsLeft };
}

export const get = (path, options) => api('GET', path, options);
export const post = (path, body, options = {}) => api('POST', path, { ...options, body });
