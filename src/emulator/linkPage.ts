/**
 * `GET /__emulator/link?link_token=…`: a plain page where a person plays Link, as it unfolds at
 * Plaid: the first pick opens a Link session, each institution picked adds its Item at once
 * (`ITEM_ADD_RESULT` goes out then), and "Finish" (SUCCESS) or "Exit" (EXITED) ends the session —
 * the `/__emulator/link/sessions` control routes, step by step.
 *
 * Non-credential Auth: a single-Item token that enabled Same-Day Micro-deposits (or Database Auth)
 * offers "Enter account numbers manually" (`#manual-entry`): a form (`#routing-number`,
 * `#account-number`, `#account-name`, `#account-subtype`, `#submit-manual`) that completes the
 * flow through `POST /__emulator/link/complete` with `auth_flow`. An update-mode token whose Item
 * awaits manual verification shows `#verification-code` and `#verify` instead; a wrong code shows
 * the error and the attempts left in `#verify-error`.
 *
 * Stable hooks for browser tests: `[data-institution-id]` buttons, `#finish`, `#exit`,
 * `#selected` (one `li[data-institution-id]` per pick), `#result`, and `body[data-state]`
 * ("choosing" | "verifying" → "finished" | "error"); once finished, `body[data-public-token]`
 * holds the public token of a single-Item result.
 *
 * Handing the result back: when the page ends (finish, exit, manual entry, verification) it posts
 * a message to `window.parent` (the page is framed) or else `window.opener` (a popup):
 * `{ source: "plaid-emulator-link", event: "SUCCESS" | "EXIT" | "VERIFIED" | "VERIFICATION_FAILED",
 *    link_token, link_session_id, public_token, public_tokens, result }`, `result` being the
 * control route's JSON answer.
 */
import type { Hono } from 'hono';
import { enabledManualFlows, itemAwaitingCode } from './authFlows';
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
form.manual { display: grid; gap: .6rem; max-width: 24rem; margin-top: 1rem; }
form.manual label { display: grid; gap: .2rem; font-size: .9rem; }
form.manual input, form.manual select { padding: .5rem; border: 1px solid #ccc; border-radius: .4rem; }
#manual-entry, #submit-manual, #verify { padding: .6rem 1.4rem; border-radius: .5rem; border: 1px solid #000; cursor: pointer; background: #fff; }
#submit-manual, #verify { background: #000; color: #fff; }
.error { color: #b00020; }
`;

/** Shared by every variant of the page: requests, and handing the result to whoever opened Link. */
const COMMON_SCRIPT = `
const linkToken = document.body.dataset.linkToken;
const result = document.getElementById('result');
async function post(path, body) {
  const res = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const json = await res.json();
  if (!res.ok) { const e = new Error(json.display_message || json.error_message || 'Link failed'); e.body = json; throw e; }
  return json;
}
function handBack(event, body) {
  const tokens = body.public_tokens || (body.public_token ? [body.public_token] : []);
  if (tokens.length === 1) document.body.dataset.publicToken = tokens[0];
  const message = { source: 'plaid-emulator-link', event, link_token: linkToken, link_session_id: body.link_session_id || null,
    public_token: tokens[0] || null, public_tokens: tokens, result: body };
  const target = window.parent !== window ? window.parent : window.opener;
  if (target) target.postMessage(message, '*');
}
`;

const MANUAL_SCRIPT = `
const manualButton = document.getElementById('manual-entry');
const manualForm = document.getElementById('manual-form');
manualButton.addEventListener('click', () => { manualForm.hidden = false; manualButton.disabled = true; });
manualForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const submit = document.getElementById('submit-manual');
  submit.disabled = true;
  const field = (id) => document.getElementById(id).value.trim();
  const account = { subtype: field('account-subtype') };
  if (field('routing-number')) account.routing = field('routing-number');
  if (field('account-number')) account.account = field('account-number');
  if (field('account-name')) account.name = field('account-name');
  try {
    const body = await post('/__emulator/link/complete', { link_token: linkToken, auth_flow: manualForm.dataset.authFlow, account });
    document.body.dataset.state = 'finished';
    for (const b of document.querySelectorAll('button')) b.disabled = true;
    result.textContent = (manualForm.dataset.authFlow === 'same_day_microdeposits'
      ? 'Micro-deposit on its way: come back with the code from your statement.\\n'
      : 'Account numbers verified.\\n') + JSON.stringify(body, null, 2);
    handBack('SUCCESS', body);
  } catch (err) {
    submit.disabled = false;
    document.getElementById('manual-error').textContent = err.message;
  }
});
`;

const VERIFY_SCRIPT = `
const verifyButton = document.getElementById('verify');
const verifyError = document.getElementById('verify-error');
document.body.dataset.state = 'verifying';
verifyButton.addEventListener('click', async () => {
  verifyButton.disabled = true;
  try {
    const body = await post('/__emulator/link/complete', { link_token: linkToken, verification_code: document.getElementById('verification-code').value.trim() });
    document.body.dataset.state = 'finished';
    verifyError.textContent = '';
    result.textContent = 'Account verified.\\n' + JSON.stringify(body, null, 2);
    handBack('VERIFIED', body);
  } catch (err) {
    verifyError.textContent = err.message;
    if (err.body && err.body.error_code === 'TOO_MANY_VERIFICATION_ATTEMPTS') {
      document.body.dataset.state = 'error';
      handBack('VERIFICATION_FAILED', { error: err.body });
    } else {
      verifyButton.disabled = false;
    }
  }
});
`;

const SCRIPT = `
const multi = document.body.dataset.multiItem === 'true';
const picked = [];
const list = document.getElementById('selected');
const finish = document.getElementById('finish');
const exit = document.getElementById('exit');
let sessionId = null;
// Clicks are played in order, one request at a time, as a person goes through Link.
let queue = Promise.resolve();
function later(step) { queue = queue.then(step).catch(fail); }
function fail(err) {
  document.body.dataset.state = 'error';
  result.textContent = err.message || String(err);
  for (const b of document.querySelectorAll('button')) b.disabled = true;
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
    handBack(status === 'SUCCESS' ? 'SUCCESS' : 'EXIT', { ...body, link_session_id: id });
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
    const head = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Link (emulator) — ${escapeHtml(token.client_name)}</title><style>${STYLE}</style></head>`;
    const bodyAttrs = `data-link-token="${escapeHtml(token.link_token)}" data-multi-item="${token.enable_multi_item_link}"`;
    const awaiting = itemAwaitingCode(ctx, token);
    if (awaiting) {
      const account = awaiting.accounts.find((a) => a.verification_status === 'pending_manual_verification');
      const html = `${head}
<body data-state="verifying" ${bodyAttrs} data-item-id="${escapeHtml(awaiting.item_id)}">
<h1>Verify your account</h1>
<p class="muted">Emulated Link · update mode · enter the three-letter code from the $0.01 deposit's description on ${escapeHtml(account ? `${account.name} ••${account.mask}` : 'your account')}</p>
<form class="manual" onsubmit="return false">
<label>Code <input id="verification-code" autocomplete="off" maxlength="3" required></label>
<button type="button" id="verify">Verify</button>
<p id="verify-error" class="error" role="alert"></p>
</form>
<div id="result" role="status"></div>
<script type="module">${COMMON_SCRIPT}${VERIFY_SCRIPT}</script>
</body></html>`;
      return c.html(html);
    }
    const flows = enabledManualFlows(token);
    const manualFlow = flows.includes('same_day_microdeposits')
      ? 'same_day_microdeposits'
      : flows.includes('database_auth')
        ? 'database_auth'
        : null;
    const manual = manualFlow
      ? `<h2>Can't find your bank?</h2>
<button type="button" id="manual-entry">Enter account numbers manually</button>
<form id="manual-form" class="manual" data-auth-flow="${manualFlow}" hidden>
<label>Routing number <input id="routing-number" inputmode="numeric" pattern="[0-9]{9}" placeholder="011401533"></label>
<label>Account number <input id="account-number" inputmode="numeric" pattern="[0-9]{4,17}"></label>
<label>Name on the account <input id="account-name" autocomplete="name"></label>
<label>Account type <select id="account-subtype"><option value="checking">Checking</option><option value="savings">Savings</option></select></label>
<button type="submit" id="submit-manual">${manualFlow === 'same_day_microdeposits' ? 'Send micro-deposit' : 'Verify account numbers'}</button>
<p id="manual-error" class="error" role="alert"></p>
</form>`
      : '';
    const html = `${head}
<body data-state="choosing" ${bodyAttrs}>
<h1>${escapeHtml(token.client_name)} uses Plaid to connect your accounts</h1>
<p class="muted">Emulated Link · ${token.enable_multi_item_link ? 'add one institution after another, then finish' : 'choose one institution'} · products: ${escapeHtml(token.products.join(', ') || 'none')}</p>
<ul class="institutions">${buttons}</ul>
<h2>Connected so far</h2><ol id="selected"></ol>
<div class="actions"><button type="button" id="finish" disabled>Finish</button><button type="button" id="exit">Exit</button></div>
${manual}
<div id="result" role="status"></div>
<script type="module">${COMMON_SCRIPT}${SCRIPT}${manualFlow ? MANUAL_SCRIPT : ''}</script>
</body></html>`;
    return c.html(html);
  });
}
