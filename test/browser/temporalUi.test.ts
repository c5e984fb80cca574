/**
 * The Temporal UI as a person uses it on the embedded default: a completed three-Item session's
 * page shows payloads decoded through linkflow's codec endpoint and the current-details table the
 * workflow publishes, and the workflow list finds the session by its search attributes.
 * This file runs its own dev server with the UI, whose codec endpoint is this file's API.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { linkSessionWorkflowId } from '../../src/workflows/definitions';
import type { SessionView } from '../../src/workflows/types';
import {
  type Browser,
  type BrowserStack,
  ensureChromium,
  launchBrowser,
  screenshot,
  startBrowserStack,
} from './helpers';

let stack: BrowserStack;
let browser: Browser;

beforeAll(async () => {
  await ensureChromium();
  stack = await startBrowserStack({ temporal: 'own-with-ui' });
  browser = await launchBrowser();
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

interface Catalogue {
  institutions: Array<{ institution_id: string; name: string }>;
}

describe('Temporal UI', () => {
  it('shows a completed three-Item session decoded, with its current details, and finds it by search attributes', async () => {
    const uiUrl = stack.uiUrl as string;
    const clientUserId = `ui-user-${randomUUID().slice(0, 8)}`;

    // A whole session through the API: three institutions, webhooks verified, auth on one account.
    const created = await stack.api<{ session_id: string; link_token: string }>('POST', '/link/sessions', {
      client_user_id: clientUserId,
      payment: { product: 'auth' },
    });
    const picks = (await stack.emulator<Catalogue>('/__emulator/institutions')).institutions.slice(0, 3);
    await stack.emulator('/__emulator/link/complete', {
      link_token: created.link_token,
      institutions: picks.map((i) => i.institution_id),
    });
    const awaiting = await stack.waitForStatus(created.session_id, 'awaiting_payment_account');
    expect(awaiting.items).toHaveLength(3);
    const chosen = awaiting.eligible_accounts[0];
    if (!chosen) throw new Error('no eligible account');
    const done = await stack.api<SessionView>(
      'POST',
      `/link/sessions/${encodeURIComponent(created.session_id)}/payment-account`,
      { account_id: chosen.account_id },
    );
    expect(done.status).toBe('completed');
    const workflowId = linkSessionWorkflowId(created.session_id);

    const { page } = browser;
    const workflowUrl = `${uiUrl}/namespaces/${stack.namespace}/workflows/${encodeURIComponent(workflowId)}`;
    await page.goto(workflowUrl);
    await page.getByRole('heading', { name: workflowId }).waitFor();
    // Payloads are AES-GCM encrypted in history: readable only if the UI's codec call worked.
    const main = page.locator('main');
    await expect
      .poll(() => main.textContent(), { timeout: 30_000 })
      .toContain(`"clientUserId": "${clientUserId}"`);
    await screenshot(page, 'temporal-ui.png');

    // Current details: the markdown table of Items, rendered by the UI.
    await page.getByText('User Metadata', { exact: true }).click();
    const details = page.frameLocator('iframe[title="output"][src*="Institution"]');
    await details.locator('th', { hasText: 'Institution' }).waitFor();
    for (const inst of picks) {
      await details.locator('td', { hasText: inst.name }).first().waitFor();
    }
    await expect.poll(() => details.locator('body').textContent()).toContain('completed · 3 Item(s)');
    await screenshot(page, 'temporal-ui-details.png');

    // The workflow list, filtered by the session's search attributes.
    const query = `LinkSessionStatus="completed" AND ClientUserId="${clientUserId}"`;
    await page.goto(`${uiUrl}/namespaces/${stack.namespace}/workflows?query=${encodeURIComponent(query)}`);
    await page.getByRole('link', { name: workflowId }).first().waitFor();
    await expect.poll(() => page.locator('main').textContent()).toContain('linkSessionWorkflow');
    await screenshot(page, 'temporal-ui-list.png');

    // The same user with another status finds nothing.
    const none = `LinkSessionStatus="awaiting_payment_account" AND ClientUserId="${clientUserId}"`;
    await page.goto(`${uiUrl}/namespaces/${stack.namespace}/workflows?query=${encodeURIComponent(none)}`);
    await page.getByText('No Results', { exact: true }).waitFor();
    expect(await page.getByRole('link', { name: workflowId }).count()).toBe(0);

    // What the UI does with its endpoint's token, curl with a forged Origin cannot (issue 17).
    const history = await stack.client.workflow.getHandle(workflowId).fetchHistory();
    const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    if (!input?.data || !input.metadata) throw new Error('no workflow input in history');
    const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
    const body = JSON.stringify({
      payloads: [
        {
          metadata: Object.fromEntries(Object.entries(input.metadata).map(([k, v]) => [k, b64(v)])),
          data: b64(input.data),
        },
      ],
    });
    const uiOrigin = new URL(uiUrl).origin;
    const post = (path: string) =>
      fetch(`${stack.apiUrl}${path}`, {
        method: 'POST',
        headers: { origin: uiOrigin, 'content-type': 'application/json', 'x-namespace': stack.namespace },
        body,
      });
    const forged = await post('/codec/decode');
    expect(forged.status).toBe(403);
    expect(await forged.text()).not.toContain(clientUserId);
    const viaUiEndpoint = await post(`/codec/ui/${stack.codecToken}/decode`);
    expect(viaUiEndpoint.status).toBe(200);
    const [decoded] = ((await viaUiEndpoint.json()) as { payloads: Array<{ data: string }> }).payloads;
    expect(Buffer.from(decoded?.data ?? '', 'base64').toString()).toContain(clientUserId);
  }, 180_000);
});
