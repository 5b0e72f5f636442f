// scripts/dev hands every argument to simguard-local (`--no-coverage --otp twilio` once silently ran
// the silent path: the script dropped them). No stack, no build: a stand-in `cargo` on PATH records
// what the script runs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

test('scripts/dev passes its arguments to the local stack, each as it was given', () => {
  // The script builds the site's SDK first when it is missing; the browser tests need it built anyway.
  assert.ok(existsSync(join(REPO, 'static-site/public/vendor/tru-sdk-web.mjs')), 'the static site is built');
  const bin = mkdtempSync(join(tmpdir(), 'simguard-dev-'));
  try {
    const cargo = join(bin, 'cargo');
    writeFileSync(cargo, '#!/usr/bin/env bash\nfor a in "$@"; do printf "%s\\n" "$a"; done\n');
    chmodSync(cargo, 0o755);
    const args = ['--no-coverage', '--otp', 'twilio', 'an argument with spaces'];
    const run = spawnSync('bash', [join(REPO, 'scripts/dev'), ...args], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      encoding: 'utf8',
    });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(run.stdout.split('\n').slice(0, -1), ['run', '--quiet', '-p', 'simguard-local', '--', ...args]);
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
});
