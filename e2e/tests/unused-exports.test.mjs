// Every name the site's modules (static-site/public/js) export is imported by another file of the
// static site: an export nothing imports is either dead or should be private to its module. No
// browser, no stack: the files are read as text. Handles `export const|let|var|function|class NAME`,
// `export { a, b as c }`, `export default`, and imports as `import { a, b as c } from`, `import X from`,
// `import * as ns from` and `import('…')` (the last two use every export), `export { … } from`.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const SITE = resolve(dirname(fileURLToPath(import.meta.url)), '../../static-site');
const PUBLIC = join(SITE, 'public');
const MODULES = join(PUBLIC, 'js');

/** Every file under `dir` whose name ends in one of `exts`, node_modules left out. */
function files(dir, exts) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : files(path, exts);
    return exts.some((ext) => entry.name.endsWith(ext)) ? [path] : [];
  });
}

/** The names `source` exports. */
function exportedNames(source) {
  const names = new Set();
  const declared = /^export\s+(?:async\s+)?(?:const|let|var|function\s*\*?|class)\s*([A-Za-z_$][\w$]*)/gm;
  for (const [, name] of source.matchAll(declared)) names.add(name);
  for (const [, list] of source.matchAll(/^export\s*\{([^}]*)\}/gm)) {
    for (const item of list.split(',')) {
      const name = item.trim().split(/\s+as\s+/).pop().trim();
      if (name) names.add(name);
    }
  }
  if (/^export\s+default\b/m.test(source)) names.add('default');
  return names;
}

/** The module a specifier names, from the file `from`: relative, or absolute from the site's root. */
function resolveSpecifier(specifier, from) {
  if (specifier.startsWith('./') || specifier.startsWith('../')) return resolve(dirname(from), specifier);
  if (specifier.startsWith('/')) return join(PUBLIC, specifier);
  return null;
}

/** Imports in `source`: [{ module, names }], names '*' for every export. */
function importsOf(source, file) {
  const found = [];
  const add = (specifier, names) => {
    const module = resolveSpecifier(specifier, file);
    if (module) found.push({ module, names });
  };
  const statement = /\b(import|export)\s*([\w$*{},\s]*?)\s*from\s*['"]([^'"]+)['"]/g;
  for (const [, keyword, clause, specifier] of source.matchAll(statement)) {
    const names = [];
    if (/\*/.test(clause)) names.push('*');
    const braces = clause.match(/\{([^}]*)\}/);
    for (const item of braces ? braces[1].split(',') : []) {
      // The exporting module's name is the one before `as`.
      const name = item.trim().split(/\s+as\s+/)[0].trim();
      if (name) names.push(name);
    }
    // `import X from` (or `import X, { … } from`): the default export.
    if (keyword === 'import' && /^[A-Za-z_$][\w$]*\s*(,|$)/.test(clause.trim())) names.push('default');
    add(specifier, names);
  }
  for (const [, specifier] of source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) add(specifier, ['*']);
  return found;
}

test('every export of the site\'s modules is imported by another file', () => {
  const modules = files(MODULES, ['.js', '.mjs']);
  assert.ok(modules.length > 0, `no modules under ${MODULES}`);

  const used = new Map(modules.map((m) => [m, new Set()]));
  for (const file of files(SITE, ['.js', '.mjs', '.html'])) {
    for (const { module, names } of importsOf(readFileSync(file, 'utf8'), file)) {
      if (module === file || !used.has(module)) continue;
      for (const name of names) used.get(module).add(name);
    }
  }

  const unused = modules.flatMap((module) => {
    const imported = used.get(module);
    if (imported.has('*')) return [];
    return [...exportedNames(readFileSync(module, 'utf8'))]
      .filter((name) => !imported.has(name))
      .map((name) => `${relative(SITE, module)}: ${name}`);
  });
  assert.deepEqual(unused, [], `exported but imported by no other file:\n${unused.join('\n')}`);
});

test('the parsing finds exports and imports in every form it handles', () => {
  assert.deepEqual(
    [...exportedNames('export const A = 1;\nexport async function b() {}\nexport class C {}\nexport { d, e as f };\nexport default 1;\n')],
    ['A', 'b', 'C', 'd', 'f', 'default'],
  );
  const file = join(MODULES, 'x.js');
  const source = [
    "import { a, b as c } from './m.js';",
    "import {\n  d,\n  e,\n} from '../js/m.js';",
    "import * as ns from '/js/n.js';",
    "import D, { f } from './o.js';",
    "export { g } from './p.js';",
    "const lazy = () => import('./q.js');",
    "import { h } from 'bare-package';",
  ].join('\n');
  assert.deepEqual(importsOf(source, file), [
    { module: join(MODULES, 'm.js'), names: ['a', 'b'] },
    { module: join(MODULES, 'm.js'), names: ['d', 'e'] },
    { module: join(MODULES, 'n.js'), names: ['*'] },
    { module: join(MODULES, 'o.js'), names: ['f', 'default'] },
    { module: join(MODULES, 'p.js'), names: ['g'] },
    { module: join(MODULES, 'q.js'), names: ['*'] },
  ]);
});
