// The `cargo lambda watch` recipe of README.md, exactly: moto's server (DynamoDB, Secrets Manager,
// SQS, SES), the provider sandbox, the table, the secret, the notification queue and the sender's
// identity created by simguard-admin, `cargo lambda watch` with the workspace's router and
// environment, simguard-admin forwarding the queue to the notify function, the site in front of it.
// Then a reset and a login over HTTP through every function, the email the reset sent read back from
// moto's SES, and every event in events/ through `cargo lambda invoke`.
//
// Needs on PATH: cargo, cargo-lambda and moto_server (scripts/test puts .venv/bin first).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { pbkdf2Sync } from 'node:crypto';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TARGET = process.env.CARGO_TARGET_DIR || path.join(ROOT, 'target');
// The ports of the recipe: the workspace metadata's environment names them.
const PORTS = { site: 8080, watch: 9000, sandbox: 9001, moto: 5005 };
const SITE = `http://127.0.0.1:${PORTS.site}`;
const SANDBOX = `http://127.0.0.1:${PORTS.sandbox}`;
const AWS_ENV = {
  AWS_ENDPOINT_URL: `http://127.0.0.1:${PORTS.moto}`,
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
};

const children = [];

function start(name, cmd, args, env = {}) {
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  children.push({ name, child, output: () => output });
  return child;
}

function portFree(port) {
  return new Promise((resolve) => {
    const s = net.createServer().once('error', () => resolve(false)).once('listening', () => s.close(() => resolve(true)));
    s.listen(port, '127.0.0.1');
  });
}

async function waitFor(what, probe, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      if (await probe()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const logs = children.map((c) => `--- ${c.name}\n${c.output().slice(-3000)}`).join('\n');
  throw new Error(`${what} did not come up (${last ?? 'timeout'})\n${logs}`);
}

/** A client with a cookie jar, as a browser on the site's origin. */
class Browser {
  cookies = new Map();
  async fetch(url, { method = 'GET', body, csrf } = {}) {
    const headers = {};
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      headers.origin = SITE;
    }
    if (csrf) headers['x-csrf-token'] = csrf;
    const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
      if (attrs.some((a) => a.trim() === 'Max-Age=0')) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: res.status, location: res.headers.get('location'), json, text };
  }
  post(p, body, csrf) {
    return this.fetch(`${SITE}${p}`, { method: 'POST', body, csrf });
  }
}

before(async () => {
  for (const [name, port] of Object.entries(PORTS)) {
    assert.ok(await portFree(port), `port ${port} (${name}) is taken: the recipe needs it`);
  }
  start('moto', 'moto_server', ['-H', '127.0.0.1', '-p', String(PORTS.moto)]);
  start('sandbox', path.join(TARGET, 'debug/simguard-sandbox'), ['--port', String(PORTS.sandbox)]);
  await waitFor('moto', async () => (await fetch(`${AWS_ENV.AWS_ENDPOINT_URL}/moto-api/`)).ok, 30_000);
  await fetch(`${AWS_ENV.AWS_ENDPOINT_URL}/moto-api/reset`, { method: 'POST' });
  await waitFor('the sandbox', async () => (await fetch(`${SANDBOX}/_sandbox/outbox`)).ok, 30_000);
  const admin = path.join(TARGET, 'debug/simguard-admin');
  await run(admin, ['create-table', 'simguard-local'], { env: { ...process.env, ...AWS_ENV } });
  // The sandbox's own credentials, as the provider secret (README: `simguard-sandbox --print-secret`).
  const { stdout: secret } = await run(path.join(TARGET, 'debug/simguard-sandbox'), ['--print-secret']);
  const put = spawn(admin, ['put-secret', 'simguard/local/providers'], { env: { ...process.env, ...AWS_ENV } });
  put.stdin.end(secret);
  assert.equal(await new Promise((r) => put.on('exit', r)), 0, 'put-secret');
  // The notification queue (its URL is the workspace metadata's SIMGUARD_NOTIFY_QUEUE_URL) and the
  // sender's domain (SIMGUARD_MAIL_FROM is notices@example.com).
  await run(admin, ['create-queue', 'simguard-local-notify'], { env: { ...process.env, ...AWS_ENV } });
  await run(admin, ['verify-sender', 'example.com'], { env: { ...process.env, ...AWS_ENV } });
  start('cargo lambda watch', 'cargo', ['lambda', 'watch', '-A', '127.0.0.1', '-P', String(PORTS.watch), '--disable-cors']);
  start('forward-queue', admin, [
    'forward-queue',
    `${AWS_ENV.AWS_ENDPOINT_URL}/123456789012/simguard-local-notify`,
    `http://127.0.0.1:${PORTS.watch}/2015-03-31/functions/notify/invocations`,
  ], AWS_ENV);
  start('site', path.join(TARGET, 'debug/simguard-local'), ['--api-proxy', `http://127.0.0.1:${PORTS.watch}`], {
    SIMGUARD_LOCAL_PORT: String(PORTS.site),
  });
  // The first call builds and starts the coverage function.
  await waitFor('the functions', async () => (await fetch(`${SITE}/api/coverage`)).status === 200, 600_000);
});

after(() => {
  for (const { child } of children.reverse()) {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {}
  }
});

test('a reset and a login through every function, on DynamoDB and Secrets Manager', { timeout: 900_000 }, async () => {
  const b = new Browser();
  const email = `watch-${Date.now()}@example.com`;
  const phone = '+447700900002'; // the sandbox passes it (even last digit)
  let r = await b.post('/api/register', { email, phone, password: 'the watch recipe passphrase' });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual((await b.fetch(`${SITE}/api/coverage`)).json, { silent: true });

  // The silent reset: create-check, the operator's redirect, callback, reset-password.
  r = await b.post('/api/reset/check', { email });
  assert.equal(r.json?.next, 'silent', r.text);
  const csrf = r.json.csrf;
  const operator = await fetch(r.json.check_url, { redirect: 'manual' });
  const callback = operator.headers.get('location');
  assert.ok(callback?.startsWith(`${SITE}/api/reset/callback?`), callback);
  r = await b.fetch(callback);
  assert.equal(r.status, 303);
  assert.equal(r.location, '/reset/new-password.html');
  r = await b.post('/api/reset/password', { password: 'a new watch passphrase' }, csrf);
  assert.deepEqual([r.status, r.json], [200, { status: 'password_changed' }]);
  // The owner is told, by email: queued by reset-password, sent by notify through moto's SES.
  await waitFor('the password-changed email', async () => {
    const data = await (await fetch(`${AWS_ENV.AWS_ENDPOINT_URL}/moto-api/data.json`)).json();
    const mail = (data.ses?.Message ?? []).filter((m) => m.destinations?.ToAddresses?.includes(email));
    return mail.some((m) => m.subject === 'Your password was changed' && m.source === '"simguard" <notices@example.com>');
  }, 300_000);

  // Login 2FA: account, sim-check, otp-start, the code from the sandbox, otp-verify, me.
  const l = new Browser();
  assert.equal((await l.post('/api/login', { email, password: 'the watch recipe passphrase' })).status, 401);
  r = await l.post('/api/login', { email, password: 'a new watch passphrase' });
  assert.equal(r.json?.next, 'second_factor', r.text);
  const flow = r.json.csrf;
  assert.deepEqual((await l.post('/api/sim-check', {}, flow)).json, { next: 'otp' });
  assert.deepEqual((await l.post('/api/otp/start', {}, flow)).json, { status: 'sent', to_ending: '02' });
  const sms = await (await fetch(`${SANDBOX}/_sandbox/outbox?to=${encodeURIComponent(phone)}`)).json();
  assert.ok(sms.length >= 1, 'an SMS in the sandbox outbox');
  r = await l.post('/api/otp/verify', { code: sms.at(-1).code }, flow);
  assert.equal(r.json?.next, 'signed_in', r.text);
  r = await l.fetch(`${SITE}/api/me`);
  assert.deepEqual([r.status, r.json?.email], [200, email]);

  // Support gives the account a new number (a lost phone): the session ends; the next sign-in texts
  // the new number.
  const admin = path.join(TARGET, 'debug/simguard-admin');
  await run(admin, ['set-phone', 'simguard-local', email, '+447700900004'], { env: { ...process.env, ...AWS_ENV } });
  assert.equal((await l.fetch(`${SITE}/api/me`)).status, 401);
  r = await l.post('/api/login', { email, password: 'a new watch passphrase' });
  const again = r.json.csrf;
  assert.deepEqual((await l.post('/api/sim-check', {}, again)).json, { next: 'otp' });
  assert.deepEqual((await l.post('/api/otp/start', {}, again)).json, { status: 'sent', to_ending: '04' });
});

// A site's existing users brought in with simguard-admin import-users (docs/import.md): a dry run,
// the import, a re-run that changes nothing, and the imported password signing in through the functions.
test('existing users imported with simguard-admin sign in with their old password', { timeout: 300_000 }, async () => {
  // The old site's hash: PBKDF2-SHA256 as a PHC string (unpadded standard base64).
  const b64 = (buf) => buf.toString('base64').replace(/=+$/, '');
  const salt = Buffer.from('an old site salt');
  const hash = pbkdf2Sync('the old site password', salt, 1000, 32, 'sha256');
  const phc = `$pbkdf2-sha256$i=1000,l=32$${b64(salt)}$${b64(hash)}`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'simguard-import-'));
  const file = path.join(dir, 'users.csv');
  writeFileSync(file, `email,phone,password_hash\nold.user@example.com,+447700900010,"${phc}"\nbroken@example.com,12,"${phc}"\n`);
  const admin = path.join(TARGET, 'debug/simguard-admin');
  const env = { env: { ...process.env, ...AWS_ENV } };
  let { stdout } = await run(admin, ['import-users', 'simguard-local', file, '--dry-run'], env);
  assert.match(stdout, /^line 3: bad_phone b•••@example\.com$/m);
  assert.match(stdout, /would create 1, unchanged 0, rejected 1 \(dry run: nothing written\)/);
  ({ stdout } = await run(admin, ['import-users', 'simguard-local', file], env));
  assert.match(stdout, /created 1, unchanged 0, rejected 1$/m);
  ({ stdout } = await run(admin, ['import-users', 'simguard-local', file], env));
  assert.match(stdout, /created 0, unchanged 1, rejected 1$/m);

  const b = new Browser();
  assert.equal((await b.post('/api/login', { email: 'old.user@example.com', password: 'not the old password' })).status, 401);
  for (let i = 0; i < 2; i += 1) {
    // The first sign-in verifies the old hash and replaces it; the second uses simguard's own.
    const r = await b.post('/api/login', { email: 'old.user@example.com', password: 'the old site password' });
    assert.equal(r.json?.next, 'second_factor', r.text);
  }
});

// A relying site set up with simguard-admin (docs/verification-api.md): its return URL, an API key
// that starts verifications through the functions, the key listed and revoked; then a result-token
// key rollover's first two steps, and a step that would leave no key to sign with, refused.
test('a relying site and its keys, set up and revoked with simguard-admin', { timeout: 300_000 }, async () => {
  const admin = path.join(TARGET, 'debug/simguard-admin');
  const env = { env: { ...process.env, ...AWS_ENV } };
  let { stdout, stderr } = await run(admin, ['put-site', 'simguard-local', 'shop', 'Example Shop', 'http://127.0.0.1:8099/back'], env);
  assert.match(stdout, /^site shop registered with 1 return URL\(s\)$/m);
  ({ stdout, stderr } = await run(admin, ['create-api-key', 'simguard-local', 'shop'], env));
  const apiKey = stdout.trim();
  const keyId = /key (\S+) for site shop/.exec(stderr)?.[1];
  assert.ok(apiKey && keyId, stderr);
  const start = (key) =>
    fetch(`${SITE}/api/v1/verifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-simguard-api-key': key },
      body: JSON.stringify({ phone: '+447000000070', purpose: 'login', return_url: 'http://127.0.0.1:8099/back' }),
    });
  let r = await start(apiKey);
  const started = await r.text();
  assert.equal(r.status, 201, started);
  assert.ok(JSON.parse(started).url.startsWith(`${SITE}/verify/#`), started);
  ({ stdout } = await run(admin, ['list-api-keys', 'simguard-local', 'shop'], env));
  assert.match(stdout, new RegExp(`^${keyId} created at \\d+ active$`, 'm'));
  ({ stdout } = await run(admin, ['revoke-api-key', 'simguard-local', 'shop', keyId], env));
  assert.match(stdout, /revoked/);
  r = await start(apiKey);
  assert.equal(r.status, 401, await r.text());

  // A rollover's first steps on the recipe's secret; the key that signs cannot be retired.
  await run(admin, ['rotate-signing-key', 'simguard/local/providers', 'stage', 'recipe-next'], env);
  ({ stdout } = await run(admin, ['rotate-signing-key', 'simguard/local/providers', 'promote', 'recipe-next'], env));
  assert.match(stdout, /now signing with recipe-next/);
  await assert.rejects(run(admin, ['rotate-signing-key', 'simguard/local/providers', 'retire', 'recipe-next'], env), /cannot be retired/);
});

/** What a Cognito trigger's answer decides, in the words of its event's name. */
function cognitoOutcome({ triggerSource, response: r }) {
  if (triggerSource.startsWith('Define')) {
    if (r.issueTokens) return 'tokens';
    if (r.failAuthentication) return 'fail';
    return String(r.challengeName).toLowerCase().replaceAll('_', '-');
  }
  if (triggerSource.startsWith('Create')) return r.publicChallengeParameters?.next;
  return r.answerCorrect ? 'right' : 'wrong';
}

test('every event in events/ answers the status its name documents', { timeout: 600_000 }, async () => {
  const dir = path.join(ROOT, 'events');
  const functions = readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
  assert.ok(functions.length >= 9, `one folder per function: ${functions}`);
  const results = [];
  for (const fn of functions) {
    const files = readdirSync(path.join(dir, fn)).filter((f) => f.endsWith('.json'));
    assert.ok(files.length >= 1, `${fn} has an event`);
    for (const file of files) {
      // An API event names the status it gets; a queue event how many messages the consumer hands back;
      // a Cognito trigger's event what the trigger decides (events/README.md).
      const queue = file.endsWith('-handed-back.json');
      const cognito = fn === 'cognito-auth';
      const named = file.split('.').at(-2);
      const want = cognito ? named : Number(queue ? named.replace('-handed-back', '') : named);
      const { stdout } = await run(
        'cargo',
        ['lambda', 'invoke', '--invoke-address', '127.0.0.1', '--invoke-port', String(PORTS.watch), fn, '--data-file', path.join(dir, fn, file)],
        { cwd: ROOT },
      );
      const answer = JSON.parse(stdout);
      const got = cognito ? cognitoOutcome(answer) : queue ? answer.batchItemFailures.length : answer.statusCode;
      results.push(`${fn}/${file}: ${got}`);
      assert.equal(got, want, `${fn}/${file}`);
    }
  }
  assert.ok(results.length >= 16, results.join('\n'));
});
