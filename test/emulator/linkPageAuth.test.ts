/**
 * The emulator's Link page for non-credential Auth, in Chromium: manual entry completes a Same-Day
 * Micro-deposit Link and hands the public token to the framing page; the update-mode page verifies
 * the code, showing the attempts left after a wrong one.
 */
import { CountryCode, type PlaidApi, Products } from 'plaid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StartedEmulator, startEmulator } from '../../src/emulator/index';
import { createPlaidClient } from '../../src/plaid/client';
import { type Browser, launchBrowser } from '../browser/helpers';
import { control, type Json } from './helpers';

describe('emulator Link page: manual account entry and micro-deposit verification', () => {
  let started: StartedEmulator;
  let plaid: PlaidApi;
  let browser: Browser;

  beforeAll(async () => {
    started = await startEmulator({ port: 0, seed: 21 });
    plaid = createPlaidClient({ basePath: started.url, clientId: 'test', secret: 'test' });
    browser = await launchBrowser();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await started?.close();
  });

  it('manual entry, then verification in update mode', async () => {
    const { page } = browser;
    const linkToken = (
      await plaid.linkTokenCreate({
        user: { client_user_id: 'page-payer' },
        client_name: 'linkflow tests',
        language: 'en',
        country_codes: [CountryCode.Us],
        products: [Products.Auth],
        auth: { same_day_microdeposits_enabled: true },
      })
    ).data.link_token;
    // A framing page, as /demo frames the Link page: it collects what the page hands back.
    await page.goto(`${started.url}/__emulator/institutions`);
    const src = `${started.url}/__emulator/link?link_token=${linkToken}`;
    // Browser-side code as text: the test's TypeScript has no DOM types.
    await page.evaluate(`
      window.linkMessages = [];
      window.addEventListener('message', (e) => window.linkMessages.push(e.data));
      document.body.innerHTML = '<iframe id="link" style="width:900px;height:900px" src=${JSON.stringify(src)}></iframe>';
    `);
    const link = page.frameLocator('#link');
    await link.locator('#manual-entry').click();
    await link.locator('#routing-number').fill('021000021');
    await link.locator('#account-number').fill('1234567890');
    await link.locator('#account-name').fill('Alberta Charleson');
    await link.locator('#account-subtype').selectOption('savings');
    expect(await link.locator('#submit-manual').textContent()).toBe('Send micro-deposit');
    await link.locator('#submit-manual').click();
    await link.locator('body[data-state="finished"]').waitFor();
    await page.waitForFunction('window.linkMessages.length > 0');
    const [message] = (await page.evaluate('window.linkMessages')) as Json[];
    expect(message).toMatchObject({ source: 'plaid-emulator-link', event: 'SUCCESS', link_token: linkToken });
    expect(message.public_token).toMatch(/^public-sandbox-/);
    expect(message.result.items[0].accounts[0]).toMatchObject({
      mask: '7890',
      subtype: 'savings',
      verification_status: 'pending_manual_verification',
    });

    const { access_token } = (await plaid.itemPublicTokenExchange({ public_token: message.public_token }))
      .data;
    const code: string = (await control(started.url, '/__emulator/state')).body.microdeposits[0].code;
    const update = (
      await plaid.linkTokenCreate({
        user: { client_user_id: 'page-payer' },
        client_name: 'linkflow tests',
        language: 'en',
        country_codes: [CountryCode.Us],
        access_token,
      })
    ).data.link_token;
    await page.goto(`${started.url}/__emulator/link?link_token=${update}`);
    await page.locator('body[data-state="verifying"]').waitFor();
    await page.locator('#verification-code').fill(code === 'QQQ' ? 'WWW' : 'QQQ');
    await page.locator('#verify').click();
    await page.locator('#verify-error', { hasText: '2 attempts left' }).waitFor();
    await page.locator('#verification-code').fill(code);
    await page.locator('#verify').click();
    await page.locator('body[data-state="finished"]').waitFor();
    const accounts = (await plaid.accountsGet({ access_token })).data.accounts;
    expect(accounts[0]?.verification_status).toBe('manually_verified');
  }, 60_000);
});
