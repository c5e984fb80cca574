/**
 * `GET /demo`: a reference end-user page for a Multi-Item Link session, the part Plaid's guide
 * asks integrators to build and no Plaid sample shows. It starts a session, opens Link (the
 * emulator's page in an iframe, or Plaid's own `link-initialize.js`), follows the session live
 * (Items arriving, tokens exchanged, the `/link/token/get` polling fallback) and ends with the
 * payment-account chooser Plaid recommends, even when only one account is eligible.
 *
 * The chooser can also link a different account (issue 15): "Link a different account" opens a
 * single-Item payment Link (`…/payment-link`), whose public token the page hands to the session
 * (`…/payment-link/public-token`) as Link's `onSuccess` gives it; an account waiting for its
 * micro-deposit shows as pending with "Verify", which opens Link in update mode
 * (`…/verification-link`). The emulator's Link page, in an iframe on another origin, reports how
 * it ended with `postMessage` (see `EMULATOR_LINK_MESSAGE` in demo.js), as Plaid's own Link
 * iframe talks to its page.
 *
 * Plain HTML, one small script and one stylesheet served from here (`demo.js`, `demo.css` next
 * to this file): no framework, no CDN for our own code.
 *
 * How the page reaches the session routes without the API key ever being sent to a browser:
 * the page calls this sub-app's own narrow endpoints (`/demo/api/sessions…`), which call the
 * same session service as `/link/sessions` in-process.
 *  - Under `npm start`'s composition only (`keylessDemo`, set by src/main/stack.ts, never derived
 *    from the environment) they need no key from a loopback peer naming a loopback `Host`, not
 *    forwarded by a proxy, so the key stays on the server. They still refuse what a hostile web
 *    page in the same browser could send: a request must carry `X-Linkflow-Demo: 1` (a
 *    cross-origin page cannot add a custom header without a CORS preflight, and nothing here
 *    answers one), must not be marked cross-site by `Sec-Fetch-Site`, and the `Host` check keeps
 *    DNS rebinding out.
 *  - Anywhere else they require `Authorization: Bearer <LINKFLOW_API_KEY>` exactly like the
 *    session routes: the page asks the operator to paste the key, keeps it in a variable of the
 *    page (never in storage or a cookie) and sends it only to these same-origin endpoints.
 *  - Either way, a session's page may act only on the session it created: creating one answers a
 *    `demo_capability` (an HMAC of the session id under a key derived from the API key), which the
 *    page sends back as `X-Linkflow-Demo-Capability`; another session's id answers 403. The API
 *    key itself, which may act on any session through `/link/sessions`, is accepted instead.
 */
import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Context, MiddlewareHandler } from 'hono';
import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import { z } from 'zod';
import { readJson } from '../api/body';
import { isLoopbackHost } from '../api/config';
import type { ApiConfig, DemoConfig } from '../api/deps';
import { ApiError } from '../api/errors';
import { hasValidToken, tokensEqual, unauthorized } from '../api/middleware/auth';
import { limitBody } from '../api/middleware/bodyLimit';
import { isForwarded, isLoopbackAddress, peerAddress } from '../api/peer';
import { createSessionRequestSchema, selectPaymentAccountRequestSchema } from '../api/schemas';
import type { SessionService } from '../api/sessionService';
import type { AppEnv } from '../api/types';
import type { EventDeliveryStore } from '../store/eventDeliveries';

export { demoConfigFromEnv } from './demoConfig';

export const PLAID_LINK_SCRIPT = 'https://cdn.plaid.com/link/v2/stable/link-initialize.js';
export const DEMO_HEADER = 'x-linkflow-demo';
export const DEMO_CAPABILITY_HEADER = 'x-linkflow-demo-capability';

const asset = (name: string) => readFileSync(new URL(`./${name}`, import.meta.url), 'utf8');
const SCRIPT = asset('demo.js');
const STYLE = asset('demo.css');

export interface DemoRoutesDeps {
  service: SessionService;
  config: ApiConfig;
  /** The per-caller limit on session creation (see src/api/rateLimit.ts). */
  creationLimit?: MiddlewareHandler<AppEnv>;
  /** Outbound events (issue 14): whether they are on, and their deliveries, for the events panel. */
  events?: { enabled: boolean; store: Pick<EventDeliveryStore, 'listEventDeliveries'> };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function hostnameOf(hostHeader: string | undefined): string | null {
  if (!hostHeader) return null;
  try {
    return new URL(`http://${hostHeader}`).hostname;
  } catch {
    return null;
  }
}

/**
 * True when this request may use the demo endpoints without a key: `npm start`'s composition,
 * a loopback peer, a loopback Host, and no proxy in between.
 */
function keyless(c: Context, config: ApiConfig): boolean {
  if (!config.keylessDemo || isForwarded(c) || !isLoopbackAddress(peerAddress(c))) return false;
  const host = hostnameOf(c.req.header('host'));
  return host !== null && isLoopbackHost(host);
}

/** The capability a demo page gets for the one session it created. */
export function demoCapability(apiKey: string, sessionId: string): string {
  const key = createHash('sha256').update('linkflow demo capability\n').update(apiKey).digest();
  return createHmac('sha256', key).update(sessionId, 'utf8').digest('base64url');
}

function originOf(url: string | undefined): string | null {
  if (!url) return null;
  try {
    return new URL(url).origin;
  } catch {
    return null;
  }
}

function contentSecurityPolicy(demo: DemoConfig): string {
  const emulator = demo.plaidEnv === 'emulator' ? originOf(demo.emulatorUrl) : null;
  const plaid = demo.plaidEnv !== 'emulator';
  return [
    "default-src 'none'",
    `script-src 'self'${plaid ? ' https://cdn.plaid.com' : ''}`,
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self'${plaid ? ' https://*.plaid.com' : ''}`,
    `frame-src ${plaid ? 'https://cdn.plaid.com https://*.plaid.com' : (emulator ?? "'none'")}`,
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'self'",
  ].join('; ');
}

function page(demo: DemoConfig, keyRequired: boolean): string {
  const emulated = demo.plaidEnv === 'emulator';
  const linkNote = emulated
    ? `Link is the Plaid emulator's page (${escapeHtml(demo.emulatorUrl ?? '')}).`
    : `Link is Plaid's own (${escapeHtml(demo.plaidEnv)}), loaded from cdn.plaid.com.`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>linkflow demo — Multi-Item Link</title>
<link rel="stylesheet" href="/demo/demo.css">
</head>
<body data-link-mode="${emulated ? 'emulator' : 'plaid'}" data-emulator-url="${escapeHtml(demo.emulatorUrl ?? '')}" data-key-required="${keyRequired}" data-status="idle">
<header>
  <h1>Connect your banks</h1>
  <p class="muted">linkflow reference page: a Multi-Item Link session run as a Temporal workflow, then the payment-account choice. ${linkNote}</p>
</header>

<section id="key-section"${keyRequired ? '' : ' hidden'}>
  <h2>API key</h2>
  <p class="muted">This API is not on the embedded default, so the page needs the operator's API key. It stays in this page's memory only and is sent to this server alone.</p>
  <label>API key <input id="api-key" type="password" autocomplete="off" spellcheck="false"></label>
</section>

<section id="start-section">
  <h2>1. Start a session</h2>
  <form id="start-form">
    <label>Your user id (<code>client_user_id</code>) <input id="client-user-id" name="client_user_id" required maxlength="128" autocomplete="off"></label>
    <fieldset>
      <legend>How money will move</legend>
      <label><input type="radio" name="product" value="auth" checked> Auth (account and routing numbers)</label>
      <label><input type="radio" name="product" value="processor"> Processor token <input id="processor" name="processor" value="dwolla" aria-label="processor"></label>
      <label><input type="radio" name="product" value="transfer"> Transfer (debit $12.34, ACH)</label>
    </fieldset>
    <button type="submit" id="start">Start session</button>
  </form>
</section>

<section id="link-section" hidden>
  <h2>2. Link your banks</h2>
  <p class="muted" id="link-hint"></p>
  <iframe id="link-frame" title="Plaid Link" hidden></iframe>
</section>

<section id="progress-section" hidden>
  <h2>Session <span id="status" class="status" data-status="idle" role="status">idle</span></h2>
  <p class="muted">Session id <code id="session-id"></code></p>
  <p id="polling" class="polling" hidden></p>
  <div class="progress"><progress id="progress" max="5" value="0"></progress> <span id="progress-label"></span></div>
  <h3>Items</h3>
  <ul id="items" class="items"><li class="muted">none yet</li></ul>
  <h3>Timeline</h3>
  <ol id="timeline" class="timeline"></ol>
</section>

<section id="chooser-section" hidden>
  <h2>3. Where should money move?</h2>
  <p class="muted">Pick the account to use for payments. Only checking and savings accounts at banks whose connection supports Auth can move money. Another account can be linked here, by its bank or by its account and routing numbers (verified with a micro-deposit).</p>
  <form id="chooser">
    <ul id="accounts" class="accounts"></ul>
    <div class="actions">
      <button type="submit" id="choose" disabled>Use this account</button>
      <button type="button" id="payment-link" class="secondary">Link a different account</button>
    </div>
  </form>
  <div id="payment-link-section" hidden>
    <p class="muted" id="payment-link-hint"></p>
    <iframe id="payment-link-frame" title="Plaid Link: payment account" hidden></iframe>
    <button type="button" id="payment-link-close" class="secondary">Close Link</button>
  </div>
</section>

<section id="result-section" hidden>
  <h2>Done</h2>
  <p id="result-summary"></p>
  <pre id="result"></pre>
</section>

<section id="events-section" hidden>
  <h2>Events sent to your backend</h2>
  <p id="events-note"></p>
  <ul id="events" aria-live="polite"></ul>
</section>

<p id="error" class="error" role="alert" hidden></p>
${emulated ? '' : `<script src="${PLAID_LINK_SCRIPT}"></script>\n`}<script src="/demo/demo.js"></script>
</body>
</html>
`;
}

/** The CSRF / DNS-rebinding guard and the key check of the demo endpoints (see the file comment). */
function demoAccess(config: ApiConfig) {
  return createMiddleware<AppEnv>(async (c, next) => {
    if (c.req.header(DEMO_HEADER) !== '1') {
      throw new ApiError(403, 'DEMO_HEADER_REQUIRED', `demo endpoints need the ${DEMO_HEADER}: 1 header`);
    }
    const site = c.req.header('sec-fetch-site');
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      throw new ApiError(403, 'CROSS_SITE_REQUEST', 'demo endpoints answer their own page only');
    }
    if (!keyless(c, config) && !hasValidToken(c, [config.apiKey])) {
      c.header('WWW-Authenticate', 'Bearer realm="linkflow"');
      throw unauthorized();
    }
    await next();
  });
}

/** Acting on a session takes the capability its page got at creation (or the API key). */
function sessionCapability(config: ApiConfig) {
  return createMiddleware<AppEnv>(async (c, next) => {
    const presented = c.req.header(DEMO_CAPABILITY_HEADER) ?? '';
    const sessionId = c.req.param('session_id') ?? '';
    const mine = presented !== '' && tokensEqual(presented, demoCapability(config.apiKey, sessionId));
    if (!mine && !hasValidToken(c, [config.apiKey])) {
      throw new ApiError(403, 'NOT_THIS_PAGES_SESSION', 'this page did not create that session');
    }
    await next();
  });
}

export function createDemoRoutes(deps: DemoRoutesDeps): Hono<AppEnv> {
  const { service, config } = deps;
  const demo: DemoConfig = config.demo ?? { plaidEnv: 'sandbox' };
  const csp = contentSecurityPolicy(demo);
  const app = new Hono<AppEnv>();

  app.get('/', (c) => {
    c.header('Content-Security-Policy', csp);
    c.header('Cache-Control', 'no-store');
    return c.html(page(demo, !keyless(c, config)));
  });
  app.get('/demo.js', (c) => {
    c.header('Content-Type', 'text/javascript; charset=utf-8');
    c.header('Cache-Control', 'no-cache');
    return c.body(SCRIPT);
  });
  app.get('/demo.css', (c) => {
    c.header('Content-Type', 'text/css; charset=utf-8');
    c.header('Cache-Control', 'no-cache');
    return c.body(STYLE);
  });

  app.use('/api/*', demoAccess(config), limitBody(config.jsonMaxBodyBytes ?? 64 * 1024));
  app.post('/api/sessions', deps.creationLimit ?? (async (_c, next) => next()), async (c) => {
    const request = await readJson(c, createSessionRequestSchema);
    const result = await service.createSession(request, null);
    c.var.log.info({ session_id: result.body.session_id }, 'demo: link session created');
    const demo_capability = demoCapability(config.apiKey, result.body.session_id);
    return c.json({ ...result.body, demo_capability }, result.status);
  });
  app.use('/api/sessions/:session_id', sessionCapability(config));
  app.use('/api/sessions/:session_id/*', sessionCapability(config));
  app.get('/api/sessions/:session_id', async (c) =>
    c.json(await service.getSession(c.req.param('session_id'))),
  );
  app.get('/api/sessions/:session_id/events', async (c) =>
    c.json({
      enabled: deps.events?.enabled ?? false,
      events: deps.events ? await deps.events.store.listEventDeliveries(c.req.param('session_id')) : [],
    }),
  );
  app.post('/api/sessions/:session_id/payment-account', async (c) => {
    const sessionId = c.req.param('session_id');
    const { account_id } = await readJson(c, selectPaymentAccountRequestSchema);
    const view = await service.selectPaymentAccount(sessionId, account_id);
    c.var.log.info({ session_id: sessionId, account_id }, 'demo: payment account selected');
    return c.json(view);
  });

  // Issue 15: the chooser's "Link a different account" and the micro-deposit "Verify".
  app.post('/api/sessions/:session_id/payment-link', async (c) => {
    const sessionId = c.req.param('session_id');
    const body = await service.createPaymentLink(sessionId);
    c.var.log.info({ session_id: sessionId }, 'demo: payment link token created');
    return c.json({ link_token: body.link_token, expiration: body.expiration }, 201);
  });
  app.post('/api/sessions/:session_id/payment-link/public-token', async (c) => {
    const sessionId = c.req.param('session_id');
    const { public_token } = await readJson(c, paymentPublicTokenSchema);
    await service.addPaymentLinkPublicToken(sessionId, public_token);
    c.var.log.info({ session_id: sessionId }, 'demo: payment link public token handed over');
    return c.json({}, 202);
  });
  app.post('/api/sessions/:session_id/verification-link', async (c) => {
    const sessionId = c.req.param('session_id');
    const { item_id } = await readJson(c, verificationLinkSchema);
    const body = await service.createVerificationLink(sessionId, item_id);
    c.var.log.info({ session_id: sessionId, item_id }, 'demo: verification link token created');
    return c.json({ link_token: body.link_token }, 201);
  });
  // After update mode: the session reads the Item now rather than at its next refresh.
  app.post('/api/sessions/:session_id/items/:item_id/refresh', async (c) => {
    await service.refreshItem(c.req.param('session_id'), c.req.param('item_id'));
    return c.json({}, 202);
  });
  return app;
}

const NO_CONTROL_CHARS = /^[^\p{Cc}]*$/u;
const demoText = (max: number) => z.string().min(1).max(max).regex(NO_CONTROL_CHARS);
/** Same shapes as the session routes' bodies; the service validates what it does with them. */
const paymentPublicTokenSchema = z.strictObject({ public_token: demoText(256) });
const verificationLinkSchema = z.strictObject({ item_id: demoText(128) });
