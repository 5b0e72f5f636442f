// scripts/deploy-site against stand-ins for the AWS CLI and npm: it reads the stack's outputs and
// parameters, writes site.json (the name and support contact the refusal pages show) into what it
// uploads, syncs the site to the stack's bucket and invalidates the distribution.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { REPO_DIR } from '../lib/stack.mjs';

const run = promisify(execFile);

test('deploy-site uploads the site with the stack\'s name and support contact', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'simguard-deploy-site-'));
  const calls = join(dir, 'calls.log');
  const uploaded = join(dir, 'uploaded-site.json');
  // The AWS CLI, as a stack named "shop" answers it.
  writeFileSync(
    join(dir, 'aws'),
    `#!/usr/bin/env bash
echo "$*" >> '${calls}'
case "$*" in
  *"OutputKey=='SiteBucketName'"*) echo shop-site-bucket ;;
  *"OutputKey=='DistributionId'"*) echo E0SHOP ;;
  *"OutputKey=='SiteUrl'"*) echo https://shop.example ;;
  *"ParameterKey=='SiteName'"*) echo 'Example "Bank"' ;;
  *"ParameterKey=='SupportContact'"*) echo help@bank.example ;;
  *"OutputKey=='SimChangeWindowMinutes'"*) echo 4320 ;;
  "s3 sync "*) cp "$3/site.json" '${uploaded}' ;;
  "cloudfront create-invalidation"*) echo I0INVALIDATION ;;
  *) echo "unexpected: $*" >&2; exit 1 ;;
esac
`,
  );
  // The site's build was run by the test command already.
  writeFileSync(join(dir, 'npm'), '#!/usr/bin/env bash\nexit 0\n');
  chmodSync(join(dir, 'aws'), 0o755);
  chmodSync(join(dir, 'npm'), 0o755);
  try {
    const { stdout } = await run(join(REPO_DIR, 'scripts/deploy-site'), ['shop'], {
      env: { ...process.env, PATH: `${dir}:${process.env.PATH}` },
    });
    assert.match(stdout, /site uploaded: https:\/\/shop.example/);
    assert.deepEqual(JSON.parse(readFileSync(uploaded, 'utf8')), {
      name: 'Example "Bank"',
      support: 'help@bank.example',
      sim_change_window_days: 3,
    });
    const log = readFileSync(calls, 'utf8');
    assert.match(log, /s3 sync \S*static-site\/public s3:\/\/shop-site-bucket --delete/);
    assert.match(log, /cloudfront create-invalidation --distribution-id E0SHOP --paths \/\*/);
  } finally {
    rmSync(join(REPO_DIR, 'static-site/public/site.json'), { force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});
