#!/usr/bin/env bash
# Regenerates shared/data/common-passwords.txt from the zxcvbn-ts common password list.
# Only entries of 12+ code points are kept: the password policy rejects anything shorter by length.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent @zxcvbn-ts/language-common@4.1.3 >/dev/null && tar xzf ./*.tgz)
node - "$tmp/package/src/passwords.json" "$root/shared/data/common-passwords.txt" <<'JS'
const [src, dst] = process.argv.slice(2);
const list = require(src);
const seen = new Set(); const out = [];
for (const p of list) {
  const n = p.normalize('NFKC').toLowerCase();
  if ([...n].length >= 12 && !seen.has(n)) { seen.add(n); out.push(n); }
}
const header = [
  '# Common passwords of 12 or more code points (NFKC, lower-cased), in frequency order.',
  '# Source: @zxcvbn-ts/language-common 4.1.3 src/passwords.json (MIT; (c) 2012-2016 Dan Wheeler and Dropbox, Inc.,',
  '# (c) 2021 @zxcvbn-ts), itself the zxcvbn frequency list. Shorter entries are omitted: the policy rejects them by length.',
  '# Regenerate: scripts/gen-password-blocklist.sh',
];
require('fs').writeFileSync(dst, header.join('\n') + '\n' + out.join('\n') + '\n');
console.log(`${out.length} entries -> ${dst}`);
JS
