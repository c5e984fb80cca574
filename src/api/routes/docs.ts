/**
 * `/openapi.json` and `/docs`: a self-contained page (no CDN; machines may have no internet) that
 * lists the routes from the OpenAPI document and has a small try-it form.
 */
import { Hono } from 'hono';
import { buildOpenApiDocument } from '../openapi';
import type { AppEnv } from '../types';

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>linkflow API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 960px; padding: 0 1rem; color: #1d2330; }
h1 { font-size: 1.4rem; } code, pre, textarea, input, select { font-family: ui-monospace, monospace; font-size: 13px; }
.route { border: 1px solid #d9dde5; border-radius: 6px; margin: .5rem 0; padding: .5rem .75rem; }
.method { display: inline-block; min-width: 4.5rem; font-weight: 600; }
.get { color: #0a7d32; } .post { color: #a15c00; } .delete { color: #b3261e; }
details pre { background: #f5f6f8; padding: .5rem; overflow: auto; max-height: 20rem; }
form { display: grid; gap: .5rem; border: 1px solid #d9dde5; border-radius: 6px; padding: .75rem; }
form .row { display: flex; gap: .5rem; } form input[name=path] { flex: 1; }
textarea { min-height: 8rem; } #result { white-space: pre-wrap; background: #f5f6f8; padding: .5rem; min-height: 2rem; }
</style>
</head>
<body>
<h1>linkflow API</h1>
<p>Session and Item routes need <code>Authorization: Bearer &lt;LINKFLOW_API_KEY&gt;</code>; secret reads (<code>/items/:item_id/access-token</code>, <code>/link/sessions/:session_id/payment-account/credentials</code>, <code>/audit/secret-reads</code>) need <code>LINKFLOW_SECRETS_API_KEY</code> instead, and are audited. Errors are <code>{ "error": { "code", "message" } }</code>. Machine-readable: <a href="/openapi.json">/openapi.json</a>.</p>
<h2>Try it</h2>
<form id="try">
  <div class="row">
    <select name="method"><option>GET</option><option>POST</option><option>DELETE</option></select>
    <input name="path" value="/healthz" aria-label="path">
  </div>
  <input name="key" type="password" placeholder="API key (kept in this page only)" autocomplete="off" aria-label="API key">
  <input name="idem" placeholder="Idempotency-Key (optional)" aria-label="Idempotency-Key">
  <textarea name="body" placeholder='{"client_user_id": "user-123"}' aria-label="JSON body"></textarea>
  <button type="submit">Send</button>
  <div id="result" aria-live="polite"></div>
</form>
<h2>Routes</h2>
<div id="routes">Loading…</div>
<script src="/docs/app.js"></script>
</body>
</html>
`;

const SCRIPT = `'use strict';
(async function () {
  const form = document.getElementById('try');
  const result = document.getElementById('result');
  const routes = document.getElementById('routes');
  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  try {
    const doc = await (await fetch('/openapi.json')).json();
    routes.textContent = '';
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const box = el('div', { class: 'route' });
        box.append(el('span', { class: 'method ' + method }, method.toUpperCase()), el('code', {}, path), document.createTextNode(' — ' + (op.summary || '')));
        const d = el('details');
        d.append(el('summary', {}, 'details'), el('pre', {}, JSON.stringify(op, null, 2)));
        box.append(d);
        const use = el('button', { type: 'button' }, 'use');
        use.addEventListener('click', () => {
          form.method.value = method.toUpperCase();
          form.path.value = path.replace('{session_id}', 'link-sandbox-00000000-0000-0000-0000-000000000000');
          form.body.value = method === 'post' && path === '/link/sessions' ? '{\\n  "client_user_id": "user-123"\\n}' : '';
          form.scrollIntoView();
        });
        box.append(use);
        routes.append(box);
      }
    }
  } catch (err) {
    routes.textContent = 'Could not load /openapi.json: ' + err;
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const headers = {};
    if (form.key.value) headers.authorization = 'Bearer ' + form.key.value;
    if (form.idem.value) headers['idempotency-key'] = form.idem.value;
    const init = { method: form.method.value, headers };
    if (form.method.value !== 'GET' && form.body.value.trim()) {
      headers['content-type'] = 'application/json';
      init.body = form.body.value;
    }
    result.textContent = '…';
    try {
      const res = await fetch(form.path.value, init);
      const text = await res.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch {}
      result.textContent = res.status + ' ' + res.statusText + '\\n\\n' + shown;
    } catch (err) {
      result.textContent = String(err);
    }
  });
})();
`;

const CSP =
  "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

export function docsRoutes(): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const document = buildOpenApiDocument();
  app.get('/openapi.json', (c) => c.json(document));
  app.get('/docs', (c) => c.html(PAGE, 200, { 'Content-Security-Policy': CSP }));
  app.get('/docs/app.js', (c) =>
    c.body(SCRIPT, 200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Content-Security-Policy': CSP }),
  );
  return app;
}
