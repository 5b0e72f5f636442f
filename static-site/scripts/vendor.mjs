// Copies the pinned tru.ID web SDK out of node_modules into public/vendor/ (git-ignored), so the
// site serves it from its own origin (script-src 'self'; no CDN).
import { copyFileSync, mkdirSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = join(root, 'node_modules', '@tru_id', 'tru-sdk-web');
const out = join(root, 'public', 'vendor');

const files = [
  [join(pkg, 'dist', 'tru-id-sdk.mjs'), join(out, 'tru-sdk-web.mjs')],
  [join(pkg, 'LICENSE'), join(out, 'tru-sdk-web.LICENSE')],
];

for (const [from] of files) {
  if (!existsSync(from)) {
    console.error(`missing ${from}: run \`npm --prefix static-site ci\` first`);
    process.exit(1);
  }
}
mkdirSync(out, { recursive: true });
for (const [from, to] of files) {
  copyFileSync(from, to);
  console.log(`vendored ${to}`);
}
