// Starts the local stack binary (site + API + provider sandbox) on free ports and stops it again.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const E2E_DIR = resolve(here, '..');
export const REPO_DIR = resolve(E2E_DIR, '..');

export const DEMO_PASSWORD = 'correct horse battery staple';

/** The seeded accounts' phone numbers (see local/src/lib.rs). */
export const DEMO_PHONES = Object.freeze({
  'alice@example.com': '+447000000070', // everything passes
  'sam@example.com': '+447000000008', // SIM changed recently: reset and login refused
  'nina@example.com': '+447000000001', // silent reset: no match; SIM unchanged, so the SMS path works
  'erin@example.com': '+447700900099', // tru.ID error: no SIM answer, refused
  'newbie@example.com': '+447700900007', // registered yesterday, never verified, SIM changed: grace once
});

const START_TIMEOUT_MS = 30_000;

/**
 * Starts one of the examples (`examples/<name>/server.mjs`) with `env`, and waits until it prints
 * `ready`. Returns a function that stops it.
 */
export async function startExample(name, env, ready) {
  const child = spawn(process.execPath, [resolve(REPO_DIR, 'examples', name, 'server.mjs')], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  for (const until = Date.now() + 10_000; !ready.test(out); ) {
    if (child.exitCode !== null || Date.now() > until) throw new Error(`examples/${name} did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return () => child.kill('SIGTERM');
}

/** A free port on 127.0.0.1 (for a server the stack must know of before it starts). */
export function freePort() {
  return new Promise((res, rej) => {
    const server = createServer();
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => res(port));
    });
  });
}

export function stackBinary() {
  return process.env.SIMGUARD_LOCAL_BIN
    ? resolve(process.env.SIMGUARD_LOCAL_BIN)
    : resolve(E2E_DIR, '../target/debug/simguard-local');
}

/**
 * @param {{ env?: object, args?: string[] }} [options]  `args`: the stack's flags, e.g.
 *   `['--otp', 'twilio']` or `['--no-coverage']` (resets take the SMS path).
 * @returns {Promise<{ site: string, sandbox: string, output: () => string,
 *   waitForOutput: (re: RegExp, timeoutMs?: number) => Promise<void>, stop: () => Promise<void> }>}
 *   `site` and `sandbox` are origins without a trailing slash.
 */
export async function startStack({ env = {}, args = [] } = {}) {
  const bin = stackBinary();
  if (!existsSync(bin)) {
    throw new Error(`local stack binary not found at ${bin} (set SIMGUARD_LOCAL_BIN)`);
  }
  const staticDir = process.env.SIMGUARD_STATIC_DIR || resolve(REPO_DIR, 'static-site/public');
  if (!existsSync(resolve(staticDir, 'vendor/tru-sdk-web.mjs'))) {
    throw new Error(
      `${staticDir}/vendor/tru-sdk-web.mjs is missing: run \`npm --prefix static-site ci && npm --prefix static-site run build\``,
    );
  }
  const child = spawn(bin, args, {
    env: {
      ...process.env,
      SIMGUARD_LOCAL_PORT: '0',
      SIMGUARD_SANDBOX_PORT: '0',
      SIMGUARD_STATIC_DIR: staticDir,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  let out = '';
  let exited = null;
  const exit = new Promise((res) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      res();
    });
  });
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });

  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (!exited) child.kill('SIGKILL');
    }, 5_000);
    await exit;
    clearTimeout(timer);
  };
  // A test process that dies must not leave the stack behind.
  const onExit = () => {
    if (!exited) child.kill('SIGKILL');
  };
  process.once('exit', onExit);

  try {
    const urls = await new Promise((res, rej) => {
      const timer = setTimeout(
        () => rej(new Error(`local stack did not print its URLs within ${START_TIMEOUT_MS} ms:\n${out}`)),
        START_TIMEOUT_MS,
      );
      const check = () => {
        const site = out.match(/^\s*site:\s+(http:\/\/\S+?)\/?\s*$/m);
        const sandbox = out.match(/^\s*sandbox:\s+(http:\/\/\S+?)\/?(?:\s|$)/m);
        if (site && sandbox) {
          clearTimeout(timer);
          res({ site: site[1], sandbox: sandbox[1] });
        } else if (exited) {
          clearTimeout(timer);
          rej(new Error(`local stack exited (${JSON.stringify(exited)}):\n${out}`));
        }
      };
      child.stdout.on('data', check);
      child.once('exit', check);
      check();
    });
    return {
      ...urls,
      output: () => out,
      /** Resolves once the stack's output matches `re` (it prints its banner after the URLs). */
      waitForOutput: async (re, timeoutMs = 5_000) => {
        for (const until = Date.now() + timeoutMs; !re.test(out); ) {
          if (exited || Date.now() > until) throw new Error(`stack output never matched ${re}:\n${out}`);
          await new Promise((res) => setTimeout(res, 50));
        }
      },
      stop: async () => {
        process.removeListener('exit', onExit);
        await stop();
      },
    };
  } catch (e) {
    await stop();
    process.removeListener('exit', onExit);
    throw e;
  }
}

async function json(url, init) {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${init?.method ?? 'GET'} ${url}: ${res.status}`);
  return res.status === 204 ? null : res.json();
}

/** The emails the stack would have sent: [{to, kind, subject, body}]. */
/** The emails the local stack would have sent, oldest first (its outbox also lists the SMS). */
export const outbox = async (stack) => (await json(`${stack.site}/dev/outbox.json`)).mail;

/** Every tru.ID API call the sandbox received: [{method, path}]. */
export const truidRequests = (stack) => json(`${stack.sandbox}/_sandbox/truid/requests`);

export const setCoverage = (stack, ip, rule) =>
  json(`${stack.sandbox}/_sandbox/truid/coverage/${ip}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ rule }),
  });

/** From now on the operator says this of `phone`'s SIM: `{ match, no_sim_change, sim_change_within }`. */
export const setProfile = (stack, phone, profile) =>
  json(`${stack.sandbox}/_sandbox/truid/profile/${encodeURIComponent(phone)}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(profile),
  });

/** The text messages the sandbox's providers "sent" (to `to`, or all): [{provider, to, code, text, at}], newest last. */
export const smsOutbox = (stack, to) =>
  json(`${stack.sandbox}/_sandbox/outbox${to ? `?to=${encodeURIComponent(to)}` : ''}`);

/** Moves the sandbox's clock (the providers' code expiry); the app's own clock is not affected. */
export const advanceSandboxClock = (stack, seconds) =>
  json(`${stack.sandbox}/_sandbox/clock/advance`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ seconds }),
  });
