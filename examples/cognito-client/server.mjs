// Serves the example sign-in page for a Cognito user pool with simguard's triggers (docs/cognito.md):
// public/, the pinned amazon-cognito-identity-js bundle from node_modules, and /config.json from the
// environment. A real app serves the same files from its own origin (they are static).
//   COGNITO_USER_POOL_ID  the pool (e.g. eu-west-2_AbC123), COGNITO_CLIENT_ID  its app client
//   COGNITO_ENDPOINT      Cognito's endpoint (default: https://cognito-idp.<region>.amazonaws.com/)
//   PORT                  8082
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const PORT = Number(process.env.PORT ?? 8082);
const POOL = process.env.COGNITO_USER_POOL_ID ?? '';
const region = POOL.split('_')[0] || 'eu-west-2';
const ENDPOINT = process.env.COGNITO_ENDPOINT ?? `https://cognito-idp.${region}.amazonaws.com/`;
const config = { userPoolId: POOL, clientId: process.env.COGNITO_CLIENT_ID ?? '', endpoint: ENDPOINT };
const connect = new URL(ENDPOINT).origin;

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.json': 'application/json' };
const FILES = {
  '/config.json': async () => JSON.stringify(config),
  '/vendor/amazon-cognito-identity.min.js': () =>
    readFile(join(here, 'node_modules/amazon-cognito-identity-js/dist/amazon-cognito-identity.min.js')),
};

createServer(async (req, res) => {
  const path = new URL(req.url ?? '/', 'http://x').pathname;
  const name = path === '/' ? '/index.html' : path;
  try {
    const body = FILES[name] ? await FILES[name]() : await readFile(join(here, 'public', normalize(name).replace(/^(\.\.[/\\])+/, '')));
    res.writeHead(200, {
      'Content-Type': TYPES[extname(name)] ?? 'application/octet-stream',
      'Cache-Control': 'no-store',
      // Cognito's API is the only other place the page talks to; the silent check is a navigation.
      'Content-Security-Policy': `default-src 'self'; connect-src 'self' ${connect}; frame-ancestors 'none'; base-uri 'none'`,
      'Referrer-Policy': 'no-referrer',
    });
    res.end(body);
  } catch {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found');
  }
}).listen(PORT, '127.0.0.1', () => console.log(`example Cognito sign-in on http://127.0.0.1:${PORT} (pool ${POOL})`));
