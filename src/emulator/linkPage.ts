/**
 * `GET /__emulator/link?link_token=…`: a plain page where a person plays Link, as it unfolds at
 * Plaid: the first pick opens a Link session, each institution picked adds its Item at once
 * (`ITEM_ADD_RESULT` goes out then), and "Finish" (SUCCESS) or "Exit" (EXITED) ends the session —
 * the `/__emulator/link/sessions` control routes, step by step.
 * Stable hooks for browser tests: `[data-institution-id]` buttons, `#finish`, `#exit`,
 * `#selected` (one `li[data-institution-id]` per pick), `#result`, and `body[data-state]`
 * ("choosing" → "finished" | "error").
 */
import type { Hono } from 'hono';
import type { EmulatorContext } from './context';
import { PlaidApiError } from './errors';
import { CATALOGUE, unsupportedRequiredProducts } from './fixtures';
import { findLinkToken } from './routes/linkTokens';

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function errorPage(message: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Link (emulator)</title></head>
<body data-state="error"><h1>Link cannot start</h1><p id="error">${escapeHtml(message)}</p></body></html>`;
}

const STYLE = `
body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; color: #111; }
h1 { font-size: 1.4rem; } .muted { color: #666; font-size: .9rem; }
ul.institutions { list-style: none; padding: 0; display: grid; gap: .5rem; }
ul.institutions button { width: 100%; text-align: left; padding: .7rem 1rem; border: 1px solid #ccc; border-radius: .5rem; background: #fff; cursor: pointer; }
ul.institutions button:disabled { cursor: not-allowed; opacity: .5; }
ul.institutions button:not(:disabled):hover { border-color: #000; }
.actions { display: flex; gap: .75rem; margin-top: 1.5rem; }
.actions button { padding: .6rem 1.4rem; border-radius: .5rem; border: 1px solid #000; cursor: pointer; }
#finish { background: #000; color: #fff; } #finish:disabled { opacity: .4; cursor: not-allowed; }
#result { margin-top: 1.5rem; white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: .85rem; }
`;

const SCRIPT = `
const linkToken = document.body.dataset.linkToken;
const multi = document.body.dataset.multiItem === 'true';
const picked = [];
const list = document.getElementById('selected');
const finish = document.getElementById('finish');
const exit = document.getElementById('exit');
const result = document.getElementById('result');
let sessionId = null;
// Clicks are played in order, one request at a time, as a person goes through Link.
let queue = Promise.resolve();
function later(step) { queue = queue.then(step).catch(fail); }
function fail(err) {
  document.body.dataset.state = 'error';
  result.textContent = err.message || String(err);
  for (const b of document.querySelectorAll('button')) b.disabled = true;
}
async function post(path, body) {
  const res = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const json = await res.json();
  if (!res.ok) throw new Error(json.error_message || 'Link failed');
  return json;
}
async function session() {
  if (!sessionId) {
    sessionId = (await post('/__emulator/link/sessions', { link_token: linkToken })).link_session_id;
    document.body.dataset.linkSessionId = sessionId;
  }
  return sessionId;
}
function render() {
  list.replaceChildren(...picked.map((p) => {
    const li = document.createElement('li');
    li.dataset.institutionId = p.id;
    li.textContent = p.name;
    return li;
  }));
  finish.disabled = picked.length === 0;
  for (const b of document.querySelectorAll('button[data-institution-id]')) {
    if (b.dataset.eligible === 'true') b.disabled = !multi && picked.length >= 1;
  }
}
for (const b of document.querySelectorAll('button[data-institution-id]')) {
  b.addEventListener('click', () => later(async () => {
    const id = await session();
    await post('/__emulator/link/sessions/' + id + '/items', { institution_id: b.dataset.institutionId });
    picked.push({ id: b.dataset.institutionId, name: b.dataset.institutionName });
    render();
  }));
}
function complete(status) {
  finish.disabled = true; exit.disabled = true;
  for (const b of document.querySelectorAll('button[data-institution-id]')) b.disabled = true;
  later(async () => {
    const id = await session();
    const body = await post('/__emulator/link/sessions/' + id + '/finish', { status });
    document.body.dataset.state = 'finished';
    result.textContent = (status === 'SUCCESS' ? 'Connected ' : 'Exited after connecting ') + body.public_tokens.length + ' institution(s).\\n' + JSON.stringify(body, null, 2);
  });
}
finish.addEventListener('click', () => complete('SUCCESS'));
exit.addEventListener('click', () => complete('EXITED'));
render();
`;

export function registerLinkPage(app: Hono, ctx: EmulatorContext): void {
  app.get('/__emulator/link', (c) => {
    const linkToken = c.req.query('link_token') ?? '';
    let token: ReturnType<typeof findLinkToken>;
    try {
      token = findLinkToken(ctx, linkToken);
      if (ctx.now() >= token.expires_at) throw new PlaidApiError('INVALID_LINK_TOKEN');
    } catch (err) {
      const message = err instanceof PlaidApiError ? `${err.code}: ${err.message}` : String(err);
      return c.html(errorPage(message), 400);
    }
    const buttons = CATALOGUE.map((inst) => {
      const missing = unsupportedRequiredProducts(inst, token.products);
      const eligible = missing.length === 0;
      const accounts = inst.accounts.map((a) => `${a.name} ••${a.mask}`).join(', ');
      const note = eligible ? accounts : `not available: does not support ${missing.join(', ')}`;
      return `<li><button type="button" data-institution-id="${escapeHtml(inst.institution_id)}" data-institution-name="${escapeHtml(inst.name)}" data-eligible="${eligible}"${eligible ? '' : ' disabled'}>
<strong>${escapeHtml(inst.name)}</strong><br><span class="muted">${escapeHtml(note)}</span></button></li>`;
    }).join('\n');
    const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Link (emulator) — ${escapeHtml(token.client_name)}</title><style>${STYLE}</style></head>
<body data-state="choosing" data-link-token="${escapeHtml(token.link_token)}" data-multi-item="${token.enable_multi_item_link}">
<h1>${escapeHtml(token.client_name)} uses Plaid to connect your accounts</h1>
<p class="muted">Emulated Link · ${token.enable_multi_item_link ? 'add one institution after another, then finish' : 'choose one institution'} · products: ${escapeHtml(token.products.join(', ') || 'none')}</p>
<ul class="institutions">${buttons}</ul>
<h2>Connected so far</h2><ol id="selected"></ol>
<div class="actions"><button type="button" id="finish" disabled>Finish</button><button type="button" id="exit">Exit</button></div>
<div id="result" role="status"></div>
<script type="module">${SCRIPT}</script>
</body></html>`;
    return c.html(html);
  });
}
