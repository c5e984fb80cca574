/**
 * `GET /demo` in a real browser, as an end user goes through it: start a session, pick two banks
 * in the emulator's Link page (one whose connection supports Auth, one that does not), finish,
 * see the payment-account chooser with the ineligible accounts greyed and explained, choose, and
 * end on `completed` with the result. When no connected account can move money, the chooser's
 * payment Link: account and routing numbers entered by hand, the micro-deposit verified, then
 * chosen (issue 15). Also the demo endpoints' guards (key, CSRF, Host).
 * The session workflows run on the test run's shared dev server; this file needs no Temporal UI.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SessionView } from '../../src/workflows/types';
import {
  type Browser,
  type BrowserStack,
  ensureChromium,
  launchBrowser,
  screenshot,
  startBrowserStack,
} from './helpers';

/** The browser's own, inside `evaluate` (this project compiles without the DOM library). */
declare const getComputedStyle: (element: unknown) => { color: string; backgroundColor: string };

let stack: BrowserStack;
let browser: Browser;

beforeAll(async () => {
  await ensureChromium();
  // Polling starts after 1.5 s of webhook silence, so the fallback shows within a test.
  stack = await startBrowserStack({ temporal: 'shared', timing: { pollAfterMs: 1_500, pollEveryMs: 500 } });
  browser = await launchBrowser();
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

const WITH_AUTH = 'ins_109508'; // First Platypus Bank: Sandbox user_good (checking, savings, CD, card, …)
const WITHOUT_AUTH = 'ins_linkflow_no_auth'; // Seersucker Credit Union: checking, savings, no Auth
const NO_ACH_ACCOUNTS = 'ins_linkflow_no_auth_accounts'; // Herringbone Bank: Auth, but a card, a loan, a 401k

/** The session view, pending accounts included (issue 15). */
type PaymentLinkView = SessionView;

/** `GET /__emulator/state`'s micro-deposits: the code a user would read on the bank statement. */
interface EmulatorMicrodeposits {
  microdeposits?: Array<{
    item_id: string;
    account_id: string;
    code: string | null;
    attempts_left: number;
    verification_status: string;
  }>;
}

describe('/demo page', () => {
  it('links two banks through the emulator, greys the ineligible accounts, and completes on the chosen one', async () => {
    const { page } = browser;
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    const clientUserId = `demo-browser-${randomUUID().slice(0, 8)}`;

    await page.goto(`${stack.apiUrl}/demo`);
    // The embedded default: no key asked for, none in the page.
    expect(await page.locator('#key-section').isHidden()).toBe(true);
    expect(await page.content()).not.toContain(stack.apiKey);

    await page.locator('#client-user-id').fill(clientUserId);
    await page.locator('input[name="product"][value="auth"]').check();
    await page.locator('#start').click();
    await page
      .locator('#session-id')
      .filter({ hasText: /^link-/ })
      .waitFor();
    const sessionId = (await page.locator('#session-id').textContent()) ?? '';

    // Link is the emulator's page, in an iframe: two banks, one after the other, then Finish.
    const link = page.frameLocator('#link-frame');
    await link.locator(`button[data-institution-id="${WITH_AUTH}"]`).click();
    await link.locator(`button[data-institution-id="${WITHOUT_AUTH}"]`).click();
    await link.locator('#selected li').nth(1).waitFor();
    expect(await link.locator('#selected li').count()).toBe(2);
    await screenshot(page, 'demo-link.png');
    await link.locator('#finish').click();

    // The chooser, even though only Platypus' two accounts are eligible.
    await page.locator('#chooser-section').waitFor();
    expect(await page.locator('#items li[data-item-status="exchanged"]').count()).toBe(2);
    const eligible = page.locator('#accounts li.eligible');
    expect(await eligible.count()).toBe(2);
    await expect
      .poll(() => eligible.allTextContents())
      .toEqual([
        expect.stringMatching(/First Platypus Bank[\s\S]*••0000[\s\S]*Plaid Checking · checking/),
        expect.stringMatching(/First Platypus Bank[\s\S]*••1111[\s\S]*Plaid Saving · savings/),
      ]);

    const noAuth = page.locator('#accounts li.ineligible[data-reason="item_without_auth"]');
    expect(await noAuth.count()).toBe(2);
    await expect
      .poll(() => noAuth.first().textContent())
      .toMatch(/Seersucker Credit Union[\s\S]*this bank's connection doesn't support Auth/);
    expect(await noAuth.first().locator('input[type="radio"]').isDisabled()).toBe(true);
    // Sandbox's user_good Items hold seven accounts that are not checking or savings; the card is one.
    const card = page
      .locator('#accounts li.ineligible[data-reason="not_checking_or_savings"]')
      .filter({ hasText: '••3333' });
    await expect.poll(() => card.textContent()).toMatch(/••3333[\s\S]*not a checking or savings account/);
    expect(await card.locator('input[type="radio"]').isDisabled()).toBe(true);
    // Greyed: the ineligible rows are drawn in the muted colour on a grey background.
    const [rowColor, rowBackground] = await noAuth
      .first()
      .evaluate((li) => [getComputedStyle(li).color, getComputedStyle(li).backgroundColor]);
    expect(rowColor).toBe('rgb(138, 144, 156)');
    expect(rowBackground).toBe('rgb(243, 244, 247)');
    await expect
      .poll(() => page.locator('#timeline').textContent())
      .toContain('Waiting for the user to choose the payment account');

    // The choice runs the update; the page ends on completed with the result.
    expect(await page.locator('#choose').isDisabled()).toBe(true);
    await eligible.filter({ hasText: '••0000' }).locator('label').click();
    await page.locator('#choose').click();
    await page.locator('#status[data-status="completed"]').waitFor();
    await page.locator('body[data-status="completed"]').waitFor();
    await page.locator('#result-section').waitFor();
    await expect
      .poll(() => page.locator('#result-summary').textContent())
      .toBe('Money will move through First Platypus Bank Plaid Checking ••0000 (checking) using auth.');
    const result = JSON.parse((await page.locator('#result').textContent()) ?? '') as Record<string, unknown>;
    expect(result).toMatchObject({ numbers_available: true, account_last4: '0000' });
    await screenshot(page, 'demo.png');

    // The API agrees.
    const view = await stack.api<SessionView>('GET', `/link/sessions/${encodeURIComponent(sessionId)}`);
    expect(view.status).toBe('completed');
    expect(view.client_user_id).toBe(clientUserId);
    expect(view.items.map((i) => i.institution.institution_id).sort()).toEqual([WITH_AUTH, WITHOUT_AUTH]);
    expect(view.payment_account).toMatchObject({ product: 'auth', result: { account_last4: '0000' } });
    expect(errors).toEqual([]);
  }, 120_000);

  it('shows the polling fallback when webhooks go quiet, and still reaches the chooser', async () => {
    const { page } = browser;
    await page.goto(`${stack.apiUrl}/demo`);
    await page.locator('#client-user-id').fill(`demo-quiet-${randomUUID().slice(0, 8)}`);
    await page.locator('input[name="product"][value="processor"]').check();
    await page.locator('#start').click();
    await page
      .locator('#session-id')
      .filter({ hasText: /^link-/ })
      .waitFor();
    const sessionId = (await page.locator('#session-id').textContent()) ?? '';

    // Nothing arrives: after the silence the workflow polls /link/token/get, and the page says so.
    const polling = page.locator('#polling');
    await polling.waitFor();
    await expect
      .poll(() => polling.textContent())
      .toMatch(/^Polling \/link\/token\/get because webhooks went quiet/);
    // The user finishes Link, but every webhook is lost: polling alone finds the Items.
    await stack.emulator('/__emulator/link/complete', {
      link_token: sessionId,
      institutions: [WITH_AUTH, 'ins_109509'],
      webhooks: { drop: true },
    });
    await page.locator('#chooser-section').waitFor();
    expect(await page.locator('#items li[data-item-status="exchanged"]').count()).toBe(2);
    await expect.poll(() => page.locator('#timeline').textContent()).toContain('Webhooks went quiet');
    // Plaid Checking and Plaid Saving at each of the two Sandbox banks.
    expect(await page.locator('#accounts li.eligible').count()).toBe(4);
    await page.locator('#accounts li.eligible').first().locator('label').click();
    await page.locator('#choose').click();
    await page.locator('#status[data-status="completed"]').waitFor();
    await expect.poll(() => page.locator('#result-summary').textContent()).toMatch(/using processor\.$/);
  }, 120_000);

  it('links a different account by hand when none can move money, verifies its micro-deposit, and completes on it', async () => {
    const { page } = browser;
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`${stack.apiUrl}/demo`);
    await page.locator('#client-user-id').fill(`demo-manual-${randomUUID().slice(0, 8)}`);
    await page.locator('input[name="product"][value="auth"]').check();
    await page.locator('#start').click();
    await page
      .locator('#session-id')
      .filter({ hasText: /^link-/ })
      .waitFor();
    const sessionId = (await page.locator('#session-id').textContent()) ?? '';
    const viewOf = () => stack.api<PaymentLinkView>('GET', `/link/sessions/${encodeURIComponent(sessionId)}`);

    // One bank, none of whose accounts can move money.
    const link = page.frameLocator('#link-frame');
    await link.locator(`button[data-institution-id="${NO_ACH_ACCOUNTS}"]`).click();
    await link.locator('#selected li').first().waitFor();
    await link.locator('#finish').click();

    // The session still awaits the payment account; the chooser offers only the payment Link.
    await page.locator('#status[data-status="awaiting_payment_account"]').waitFor();
    await page.locator('#chooser-section').waitFor();
    expect(await page.locator('#accounts li.eligible').count()).toBe(0);
    await expect
      .poll(() => page.locator('#accounts li.ineligible[data-reason="not_checking_or_savings"]').count())
      .toBe(3);
    await expect
      .poll(() => page.locator('#no-eligible').textContent())
      .toMatch(/^None of the connected accounts can move money\. Link a different account/);
    await expect.poll(() => page.locator('#progress-label').textContent()).toMatch(/^No connected account/);
    expect(await page.locator('#choose').isDisabled()).toBe(true);
    const another = page.locator('#payment-link');
    expect(await another.textContent()).toBe('Link a different account');
    await another.click();

    // The payment Link (single Item, Auth): account and routing numbers, a micro-deposit sent.
    await page.locator('#payment-link-frame').waitFor();
    const paymentLink = page.frameLocator('#payment-link-frame');
    await paymentLink.locator('#manual-entry').click();
    await paymentLink.locator('#routing-number').fill('011401533');
    await paymentLink.locator('#account-number').fill('1111222233330000');
    await paymentLink.locator('#account-name').fill('Household Checking');
    await paymentLink.locator('#account-subtype').selectOption('checking');
    await paymentLink.locator('#submit-manual').click();

    // Back on the page: the account is pending, cannot be chosen, and offers "Verify".
    const pending = page.locator('#accounts li.pending');
    await pending.waitFor();
    await page.locator('#payment-link-frame').waitFor({ state: 'hidden' });
    await expect
      .poll(() => pending.getAttribute('data-verification-status'))
      .toBe('pending_manual_verification');
    await expect
      .poll(() => pending.textContent())
      .toMatch(
        /••0000[\s\S]*Household Checking · checking[\s\S]*Pending: enter the code from the micro-deposit/,
      );
    expect(await pending.locator('input[type="radio"]').isDisabled()).toBe(true);
    expect(await page.locator('#choose').isDisabled()).toBe(true);
    const verify = pending.locator('button[data-verify-item]');
    expect(await verify.textContent()).toBe('Verify');
    const itemId = (await verify.getAttribute('data-verify-item')) ?? '';
    expect(itemId).not.toBe('');
    const pendingView = await viewOf();
    expect(pendingView.status).toBe('awaiting_payment_account');
    expect(pendingView.eligible_accounts).toEqual([]);
    expect(pendingView.pending_accounts).toEqual([
      expect.objectContaining({
        item_id: itemId,
        mask: '0000',
        subtype: 'checking',
        verification_status: 'pending_manual_verification',
      }),
    ]);
    await screenshot(page, 'demo-pending.png');

    // The code the user reads on the statement; typed into Link in update mode.
    const deposit = await vi.waitFor(
      async () => {
        const state = await stack.emulator<EmulatorMicrodeposits>('/__emulator/state');
        const found = state.microdeposits?.find((m) => m.item_id === itemId);
        if (!found?.code) throw new Error(`no micro-deposit code for ${itemId} in /__emulator/state yet`);
        return { ...found, code: found.code };
      },
      { timeout: 10_000, interval: 100 },
    );
    expect(deposit.account_id).toBe(pendingView.pending_accounts[0]?.account_id);
    await verify.click();
    await page.locator('#payment-link-frame').waitFor();
    const verification = page.frameLocator('#payment-link-frame');
    await verification.locator('#verification-code').fill(deposit.code);
    await verification.locator('#verify').click();

    // The workflow sees it verified: the account is eligible now, and chosen as any other.
    const verified = page.locator(`#accounts li.eligible[data-account-id="${deposit.account_id}"]`);
    await verified.waitFor({ timeout: 30_000 });
    expect(await page.locator('#accounts li.pending').count()).toBe(0);
    await expect.poll(() => page.locator('#timeline').textContent()).toContain('is verified');
    await verified.locator('label').click();
    await page.locator('#choose').click();
    await page.locator('#status[data-status="completed"]').waitFor();
    await expect
      .poll(() => page.locator('#result-summary').textContent())
      .toMatch(/^Money will move through .*Household Checking ••0000 \(checking\) using auth\.$/);
    const resultText = (await page.locator('#result').textContent()) ?? '';
    expect(JSON.parse(resultText)).toMatchObject({
      numbers_available: true,
      account_last4: '0000',
      routing_last4: '1533',
    });
    // Masked: neither number in full anywhere on the page.
    const html = await page.content();
    expect(html).not.toContain('1111222233330000');
    expect(html).not.toContain('011401533');
    await screenshot(page, 'demo-verified.png');

    const view = await viewOf();
    expect(view.status).toBe('completed');
    expect(view.payment_account).toMatchObject({
      account_id: deposit.account_id,
      item_id: itemId,
      product: 'auth',
      result: { account_last4: '0000' },
    });
    expect(errors).toEqual([]);
  }, 180_000);

  it('never hands the key to the browser: keyless only on loopback of the embedded default, a key elsewhere', async () => {
    const session = { client_user_id: 'guard-user', payment: { product: 'auth' } };
    const post = (headers: Record<string, string>) =>
      fetch(`${stack.apiUrl}/demo/api/sessions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(session),
      });
    // A page on another site cannot add the custom header without a preflight nobody answers.
    expect((await post({})).status).toBe(403);
    expect((await post({ 'x-linkflow-demo': '1', 'sec-fetch-site': 'cross-site' })).status).toBe(403);
    expect((await post({ 'x-linkflow-demo': '1' })).status).toBe(201);

    // DNS rebinding: a non-loopback Host needs the key even on the embedded default.
    const embedded = stack.appWith({});
    const rebound = await embedded.request('/demo/api/sessions/nope', {
      headers: { host: 'attacker.example:3000', 'x-linkflow-demo': '1' },
    });
    expect(rebound.status).toBe(401);

    // Outside the embedded default the page asks for the key and the endpoints require it.
    const production = stack.appWith({ keylessDemo: false });
    const html = await (await production.request('/demo', { headers: { host: '127.0.0.1:3000' } })).text();
    expect(html).toContain('data-key-required="true"');
    expect(html).not.toContain(stack.apiKey);
    const headers = { host: '127.0.0.1:3000', 'x-linkflow-demo': '1' };
    expect((await production.request('/demo/api/sessions/nope', { headers })).status).toBe(401);
    const withKey = await production.request('/demo/api/sessions/link-sandbox-nope', {
      headers: { ...headers, authorization: `Bearer ${stack.apiKey}` },
    });
    expect(withKey.status).not.toBe(401);
    expect(withKey.status).not.toBe(403);

    // The page itself: CSP allows our own script and the emulator's frame, nothing inline.
    const page = await fetch(`${stack.apiUrl}/demo`);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain(`frame-src ${new URL(stack.emulatorUrl).origin}`);
    expect(await page.text()).not.toContain('cdn.plaid.com');
    const plaidHtml = await (
      await stack
        .appWith({ demo: { plaidEnv: 'sandbox' } })
        .request('/demo', { headers: { host: '127.0.0.1' } })
    ).text();
    expect(plaidHtml).toContain(
      '<script src="https://cdn.plaid.com/link/v2/stable/link-initialize.js"></script>',
    );
  });
});
