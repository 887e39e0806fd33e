import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import type { AppEnv } from '../app-env.ts';

const demoDir = fileURLToPath(new URL('../../../client-sdk/demo/', import.meta.url));

interface Asset {
  body: string;
  etag: string;
}

/**
 * Loads an asset on first use and keeps it for the life of the process: the page and its bundle
 * change only with the code. A failed load is not kept, so the next request tries again.
 */
function lazyAsset(load: () => Promise<string>): () => Promise<Asset> {
  let asset: Promise<Asset> | undefined;
  return () => {
    if (!asset) {
      asset = load().then((body) => ({
        body,
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
      }));
      asset.catch(() => {
        asset = undefined;
      });
    }
    return asset;
  };
}

const page = lazyAsset(() => readFile(`${demoDir}index.html`, 'utf8'));

/**
 * Bundles `client-sdk/demo/main.ts` (the SDK, socket.io-client, y-websocket and yjs) for the
 * browser with esbuild, imported only when the page is first asked for so start-up does not
 * pay for it. No build step: `npm start` serves it from a fresh clone.
 */
const bundle = lazyAsset(async () => {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [`${demoDir}main.ts`],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const [output] = result.outputFiles;
  if (!output) throw new Error('esbuild produced no output for the demo page');
  return output.text;
});

/**
 * The web app at `/` and its script at `/app.js`: a team member signs in, co-edits a project's
 * script, follows the plan, sees who is here, talks with the coach and makes videos. Same origin
 * as the API, so it needs no CORS. `/demo`, its old address, redirects here.
 */
export const demoRoutes = new Hono<AppEnv>()
  .get('/', async (c) => {
    const { body, etag } = await page();
    if (c.req.header('if-none-match') === etag) return c.body(null, 304, { ETag: etag });
    return c.html(body, 200, { ETag: etag, 'Cache-Control': 'no-cache' });
  })
  .get('/demo', (c) => c.redirect('/', 302))
  .get('/app.js', async (c) => {
    const { body, etag } = await bundle();
    if (c.req.header('if-none-match') === etag) return c.body(null, 304, { ETag: etag });
    return c.body(body, 200, {
      'Content-Type': 'text/javascript; charset=utf-8',
      ETag: etag,
      'Cache-Control': 'no-cache',
    });
  });
