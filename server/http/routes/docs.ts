import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Hono } from 'hono';
// The package's main module also evaluates the whole Swagger UI bundle (10 MB of heap in a
// server that only serves its files); this one only says where they are.
import getAbsoluteFSPath from 'swagger-ui-dist/absolute-path.js';
import type { AppEnv } from '../app-env.ts';
import type { AsyncApiDocument } from '../asyncapi-document.ts';
import type { OpenApiDocument } from '../openapi-document.ts';

const assetsDir = getAbsoluteFSPath();
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
};

export interface DocsDocuments {
  /** The REST reference (built on first use, then kept: routes do not change after start). */
  openapi: () => OpenApiDocument;
  /** The Socket.IO events and Yjs documents. */
  asyncapi: () => AsyncApiDocument;
}

/**
 * The API reference: `/openapi.json` and `/asyncapi.json`, answered directly both at the root
 * and under `/api/v1` (no redirect, so every OpenAPI tool and `curl` without `-L` reads them),
 * `/docs` (Swagger UI from the npm package: no CDN, works offline) and `/docs/events` (the
 * AsyncAPI document as a page).
 */
export function createDocsRoutes(documents: DocsDocuments) {
  return new Hono<AppEnv>()
    .get('/openapi.json', (c) => c.json(documents.openapi()))
    .get('/api/v1/openapi.json', (c) => c.json(documents.openapi()))
    .get('/asyncapi.json', (c) => c.json(documents.asyncapi()))
    .get('/api/v1/asyncapi.json', (c) => c.json(documents.asyncapi()))
    .get('/docs', (c) =>
      c.html(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reelroom API reference</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<p style="font-family: sans-serif; margin: 1rem 2rem">REST below; the realtime events and documents are in <a href="/docs/events">Socket.IO events and Yjs documents</a> (<a href="/asyncapi.json">asyncapi.json</a>).</p>
<div id="reference"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({ url: '/api/v1/openapi.json', dom_id: '#reference', deepLinking: true });</script>
</body>
</html>`),
    )
    .get('/docs/events', (c) => c.html(eventsPage(documents.asyncapi())))
    .get('/docs/assets/:file', async (c) => {
      const file = c.req.param('file');
      const type = ASSETS[file];
      if (!type) return c.json({ error: { code: 'not_found', message: `No asset ${file}` } }, 404);
      const body = await readFile(path.join(assetsDir, file));
      return c.body(body, 200, { 'Content-Type': type, 'Cache-Control': 'public, max-age=86400' });
    });
}

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] ?? ch,
  );

type Ref = { $ref: string };
type Message = { name?: string; title?: string; summary?: string; payload?: unknown };

/** The AsyncAPI document as plain HTML: each channel, its messages and their payload schemas. */
function eventsPage(document: AsyncApiDocument): string {
  const components = document.components.messages as Record<string, Message>;
  const resolve = (ref: Ref) => components[ref.$ref.split('/').pop() ?? ''] ?? {};
  const channels = Object.entries(
    document.channels as Record<
      string,
      { address: string | null; title: string; description?: string; messages: Record<string, Ref> }
    >,
  )
    .map(([, channel]) => {
      const items = Object.values(channel.messages)
        .map((ref) => {
          const message = resolve(ref);
          return `<li><h3><code>${escapeHtml(message.name ?? message.title ?? '')}</code></h3>
<p>${escapeHtml(message.summary ?? '')}</p>
<details><summary>Payload schema</summary><pre>${escapeHtml(JSON.stringify(message.payload, null, 2))}</pre></details></li>`;
        })
        .join('\n');
      return `<section><h2>${escapeHtml(channel.title)} <small><code>${escapeHtml(channel.address ?? '(reply)')}</code></small></h2>
<p>${escapeHtml(channel.description ?? '')}</p><ul>${items}</ul></section>`;
    })
    .join('\n');
  const servers = Object.values(document.servers)
    .map(
      (server) =>
        `<li><code>${escapeHtml(server.pathname)}</code>: ${escapeHtml(server.description)}</li>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reelroom realtime reference</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5}pre{background:#f4f4f5;padding:.75rem;overflow:auto}ul{padding-left:1.2rem}</style>
</head>
<body>
<main>
<h1>${escapeHtml(document.info.title)}</h1>
<p>${escapeHtml(document.info.description)} Machine-readable: <a href="/asyncapi.json">asyncapi.json</a> (AsyncAPI ${escapeHtml(document.asyncapi)}). REST: <a href="/docs">/docs</a>.</p>
<ul>${servers}</ul>
${channels}
</main>
</body>
</html>`;
}
