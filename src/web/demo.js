// linkflow /demo, the browser side: start a session, open Link, follow the session, let the user
// pick the payment account. Served as is by src/web/demoPage.ts; no framework, no build step.
(() => {
  const body = document.body;
  const linkMode = body.dataset.linkMode;
  const emulatorUrl = body.dataset.emulatorUrl;
  const emulatorOrigin = (() => {
    try {
      return new URL(emulatorUrl).origin;
    } catch {
      return null;
    }
  })();
  /**
   * How the emulator's Link page (an iframe on the emulator's origin) tells this page how it ended,
   * as Plaid's Link iframe talks to link-initialize.js (src/emulator/linkPage.ts):
   * `postMessage({ source: EMULATOR_LINK_MESSAGE, event: 'SUCCESS' | 'EXIT' | 'VERIFIED' |
   * 'VERIFICATION_FAILED', link_token, link_session_id, public_token, public_tokens, result }, '*')`.
   */
  const EMULATOR_LINK_MESSAGE = 'plaid-emulator-link';
  const $ = (id) => document.getElementById(id);

  const STATUS_TEXT = {
    waiting_for_user: 'Link is open: waiting for the user to connect a bank',
    linking: 'Items are arriving',
    exchanging: 'Exchanging public tokens for access tokens',
    awaiting_payment_account: 'Waiting for the user to choose the payment account',
    completed: 'Completed',
    exited: 'The user left Link without connecting a bank',
    expired: 'Nothing happened in time: the session expired',
    failed: 'The session failed',
  };
  const STEP = { waiting_for_user: 1, linking: 2, exchanging: 3, awaiting_payment_account: 4, completed: 5 };
  const TERMINAL = ['completed', 'exited', 'expired', 'failed'];
  const REASONS = {
    not_checking_or_savings: 'not a checking or savings account',
    item_without_auth: "this bank's connection doesn't support Auth",
  };
  /** Plaid's `verification_status` of an account that is not verified yet, in words. */
  const VERIFICATION_TEXT = {
    pending_manual_verification: 'Pending: enter the code from the micro-deposit to verify it',
    pending_automatic_verification:
      'Pending: verifying automatically with a micro-deposit (1–2 business days)',
    unsent: 'Pending: the micro-deposit has not been sent yet',
    verification_expired: 'Verification expired: link the account again',
    verification_failed: 'Verification failed: link the account again',
    database_insights_pending: 'Pending: the bank is checking the account numbers',
  };
  const verificationText = (status) =>
    VERIFICATION_TEXT[status] ?? `Not verified yet (${String(status ?? 'unknown').replaceAll('_', ' ')})`;

  /** The operator's API key when the page needs one: in this variable only, never stored. */
  let apiKey = null;
  let sessionId = null;
  /** The capability the server returned for the session this page created (see demoPage.ts). */
  let capability = null;
  let previous = null;
  let timer = null;
  let choosing = false;
  /**
   * The Link opened from the chooser: `{ kind: 'payment' | 'verification', linkToken, itemId?,
   * handler?, done }`; null when none is open.
   */
  let sideLink = null;
  /** A payment or verification Link token is being asked for. */
  let opening = false;
  const linkBusy = () => sideLink !== null || opening;
  /**
   * Items whose micro-deposit code was entered (item id → when): shown as being checked until the
   * view moves on, or for a minute at most (then Verify is offered again).
   */
  const verifying = new Map();
  const VERIFYING_MS = 60_000;
  const isVerifying = (itemId) =>
    Date.now() - (verifying.get(itemId) ?? Number.NEGATIVE_INFINITY) < VERIFYING_MS;
  /** What the chooser last drew, so a poll redraws it only when its accounts changed. */
  let chooserKey = null;
  let following = false;
  /** When this page last handed linkflow something to do (a public token, a verification). */
  let actedAt = 0;
  /** Bumped by the payment-account choice, so a read started before it cannot undo its result. */
  let epoch = 0;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === false || value === null || value === undefined) continue;
      if (name === 'className') node.className = value;
      else node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children) node.append(child);
    return node;
  }

  function showError(message) {
    $('error').textContent = message;
    $('error').hidden = message === null;
  }

  async function api(method, path, payload) {
    const headers = { 'X-Linkflow-Demo': '1' };
    if (payload !== undefined) headers['Content-Type'] = 'application/json';
    if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
    if (capability) headers['X-Linkflow-Demo-Capability'] = capability;
    const res = await fetch(`/demo/api${path}`, {
      method,
      headers,
      body: payload === undefined ? undefined : JSON.stringify(payload),
    });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      if (res.status === 401) $('key-section').hidden = false;
      const err = new Error(data?.error?.message ?? `HTTP ${res.status}`);
      err.status = res.status;
      throw err;
    }
    return data;
  }

  function log(text, kind) {
    const time = new Date().toLocaleTimeString();
    $('timeline').append(el('li', { 'data-event': kind || 'info' }, el('time', {}, time), text));
  }

  function paymentChoice() {
    const product = document.querySelector('input[name="product"]:checked').value;
    if (product === 'processor') return { product, processor: $('processor').value.trim() || 'dwolla' };
    if (product === 'transfer') {
      return { product, amount: '12.34', type: 'debit', network: 'ach', legal_name: 'Demo User' };
    }
    return { product: 'auth' };
  }

  async function start(event) {
    event.preventDefault();
    showError(null);
    const key = $('api-key').value.trim();
    apiKey = key || null;
    $('start').disabled = true;
    try {
      const session = await api('POST', '/sessions', {
        client_user_id: $('client-user-id').value.trim(),
        client_name: 'linkflow demo',
        payment: paymentChoice(),
      });
      sessionId = session.session_id;
      capability = session.demo_capability;
      body.dataset.sessionId = sessionId;
      $('session-id').textContent = sessionId;
      $('progress-section').hidden = false;
      log(
        `Session created for ${$('client-user-id').value.trim()} (Plaid user ${session.user_id})`,
        'created',
      );
      openLink(session.link_token);
      follow();
      followEvents(0);
    } catch (err) {
      $('start').disabled = false;
      showError(`Could not start the session: ${err.message}`);
    }
  }

  function openLink(linkToken) {
    $('link-section').hidden = false;
    if (linkMode === 'emulator') {
      const frame = $('link-frame');
      frame.src = `${emulatorUrl}/__emulator/link?link_token=${encodeURIComponent(linkToken)}`;
      frame.hidden = false;
      $('link-hint').textContent =
        'Emulated Link: add one bank after another, then Finish. linkflow learns each Item from webhooks.';
      log('Link opened (Plaid emulator)', 'link');
      return;
    }
    if (typeof window.Plaid === 'undefined') {
      showError('Plaid Link could not be loaded from cdn.plaid.com.');
      return;
    }
    $('link-hint').textContent = 'Plaid Link is open in its own window layer.';
    const handler = window.Plaid.create({
      token: linkToken,
      // Multi-Item Link hands the public tokens to the backend (webhooks, /link/token/get), not to
      // this callback: the page only notes that Link closed and keeps following the session.
      onSuccess: (_publicToken, metadata) => {
        const count = metadata?.institution ? 1 : 0;
        log(
          `Link finished${count ? ` (${metadata.institution.name})` : ''}; linkflow takes it from here`,
          'link',
        );
      },
      onExit: (error) => {
        log(error ? `Link closed with ${error.error_code}` : 'Link closed', 'link');
      },
    });
    handler.open();
    log('Link opened (Plaid)', 'link');
  }

  async function follow() {
    clearTimeout(timer);
    const started = epoch;
    following = true;
    try {
      const view = await api('GET', `/sessions/${encodeURIComponent(sessionId)}`);
      if (started !== epoch || (previous && TERMINAL.includes(previous.status))) return;
      render(view);
      if (TERMINAL.includes(view.status)) return;
    } catch (err) {
      showError(`Could not read the session: ${err.message} (retrying)`);
    } finally {
      following = false;
    }
    // Waiting for a person is slow; waiting for linkflow after the page acted is not.
    const slow = previous?.status === 'awaiting_payment_account' && Date.now() - actedAt > 30_000;
    timer = setTimeout(follow, slow ? 2000 : 700);
  }

  /** Reads the session soon after this page changed it, without a second polling loop. */
  function poke() {
    actedAt = Date.now();
    if (following || (previous && TERMINAL.includes(previous.status))) return;
    follow();
  }

  /** The events linkflow sent to LINKFLOW_EVENTS_URL for this session, polled for a while after the end. */
  async function followEvents(afterEnd) {
    const current = sessionId;
    try {
      const { enabled, events } = await api('GET', `/sessions/${encodeURIComponent(current)}/events`);
      if (current !== sessionId) return;
      $('events-section').hidden = false;
      $('events-note').textContent = enabled
        ? 'Each signed per Standard Webhooks, delivered by its own Temporal workflow (retried with the same webhook-id).'
        : 'Outbound events are off: set LINKFLOW_EVENTS_URL and LINKFLOW_EVENTS_SECRET.';
      $('events').replaceChildren(
        ...events.map((e) =>
          el(
            'li',
            { 'data-event-state': e.state },
            `${e.type} — ${e.state.replace('_', ' ')}${e.attempts > 1 ? ` after ${e.attempts} attempts` : ''}${
              e.state === 'delivered' || !e.last_error ? '' : ` (${e.last_error})`
            }`,
          ),
        ),
      );
      if (!enabled) return;
    } catch {
      // The session view shows errors; the events panel just tries again.
    }
    const ended = previous && TERMINAL.includes(previous.status);
    if (afterEnd < 10) setTimeout(() => followEvents(ended ? afterEnd + 1 : 0), 1000);
  }

  function itemKey(item, index) {
    return item.item_id ?? `#${index}`;
  }

  function accountText(a) {
    return `${a.name ?? 'Account'} ••${a.mask ?? '??'}`;
  }

  function diff(prev, view) {
    const before = new Map((prev?.items ?? []).map((item, index) => [itemKey(item, index), item]));
    view.items.forEach((item, index) => {
      const old = before.get(itemKey(item, index));
      const name = item.institution?.name ?? item.institution?.institution_id;
      const accounts = `${item.accounts.length} account(s)`;
      if (item.status === 'duplicate') {
        if (old?.status !== 'duplicate') {
          log(
            `${name ?? 'A bank'} is already linked${item.duplicate_of ? ` (Item ${item.duplicate_of})` : ''}: not connected twice`,
            'item-duplicate',
          );
        }
      } else if (item.status === 'failed') {
        if (old?.status !== 'failed') {
          log(
            `Item from ${name ?? 'a bank'} failed: ${item.error?.code ?? 'error'} ${item.error?.message ?? ''}`,
            'item-failed',
          );
        }
      } else if (!old) {
        log(
          name
            ? `Item added: ${name}, token exchanged (${accounts})`
            : 'Public token exchanged for a new Item',
          'item',
        );
      } else if (name && !(old.institution?.name ?? old.institution?.institution_id)) {
        log(`Item described: ${name} (${accounts})`, 'item');
      }
    });
    if (view.polling.active && !(prev?.polling.active ?? false)) {
      log('Webhooks went quiet: polling /link/token/get', 'polling');
    }
    if (view.polling.polls > (prev?.polling.polls ?? 0)) {
      log(`Looked at /link/token/get (${view.polling.polls} time(s))`, 'poll');
    }
    for (const e of view.errors.slice(prev?.errors.length ?? 0))
      log(`Error ${e.code}: ${e.message}`, 'error');
    const pendingBefore = new Map((prev?.pending_accounts ?? []).map((a) => [a.account_id, a]));
    for (const a of view.pending_accounts ?? []) {
      const old = pendingBefore.get(a.account_id);
      if (old?.verification_status === a.verification_status) continue;
      log(
        `${a.institution_name ?? 'New account'} ${accountText(a)}: ${verificationText(a.verification_status)}`,
        'pending',
      );
    }
    const eligibleBefore = new Set((prev?.eligible_accounts ?? []).map((a) => a.account_id));
    for (const a of view.eligible_accounts) {
      if (pendingBefore.has(a.account_id) && !eligibleBefore.has(a.account_id)) {
        log(
          `${a.institution_name ?? 'Account'} ${accountText(a)} is verified: it can move money now`,
          'verified',
        );
      }
    }
    if (!prev || prev.status !== view.status) {
      if (view.status === 'awaiting_payment_account') {
        const pending = view.pending_accounts?.length ?? 0;
        const all = view.eligible_accounts.length + view.ineligible_accounts.length + pending;
        log(
          `Eligibility checked: ${view.eligible_accounts.length} of ${all} account(s) can move money${
            pending ? `, ${pending} waiting for verification` : ''
          }${view.eligible_accounts.length === 0 ? '; another account can be linked for payments' : ''}`,
          'eligibility',
        );
      }
      log(STATUS_TEXT[view.status] ?? view.status, `status:${view.status}`);
    }
  }

  function render(view) {
    diff(previous, view);
    previous = view;
    body.dataset.status = view.status;
    const status = $('status');
    status.dataset.status = view.status;
    status.textContent = view.status.replaceAll('_', ' ');

    const step = STEP[view.status] ?? 0;
    $('progress').value = step;
    $('progress-label').textContent =
      view.status === 'awaiting_payment_account' && view.eligible_accounts.length === 0
        ? 'No connected account can move money yet: link a different account for payments'
        : (STATUS_TEXT[view.status] ?? view.status);

    const polling = $('polling');
    polling.hidden = !view.polling.active;
    polling.textContent = `Polling /link/token/get because webhooks went quiet (${view.polling.polls} poll(s) so far)`;

    const items = view.items.map((item) =>
      el(
        'li',
        {
          className: item.status,
          'data-item-status': item.status,
          'data-item-id': item.item_id,
          'data-duplicate-of': item.status === 'duplicate' ? (item.duplicate_of ?? '') : null,
        },
        itemText(item),
      ),
    );
    $('items').replaceChildren(...(items.length ? items : [el('li', { className: 'muted' }, 'none yet')]));

    if (view.status !== 'waiting_for_user' && view.status !== 'linking') $('link-frame').hidden = true;
    // A code entered counts as being checked until the Item's account is no longer waiting for it.
    for (const itemId of verifying.keys()) {
      const waiting = (view.pending_accounts ?? []).some(
        (a) => a.item_id === itemId && a.verification_status === 'pending_manual_verification',
      );
      if (!waiting || !isVerifying(itemId)) verifying.delete(itemId);
    }
    if (view.status === 'awaiting_payment_account' && !choosing) renderChooser(view);
    if (TERMINAL.includes(view.status)) finish(view);
  }

  function itemText(item) {
    const name = item.institution?.name;
    if (item.status === 'duplicate') {
      return `${name ?? 'A bank'}: already linked${item.duplicate_of ? ` (Item ${item.duplicate_of})` : ''}, not connected twice`;
    }
    if (item.status === 'failed') return `${name ?? 'A bank'}: failed (${item.error?.code ?? 'error'})`;
    if (item.status === 'outcome_unknown') {
      return `${name ?? 'A bank'}: the exchange's outcome is unknown (${item.error?.code ?? 'EXCHANGE_OUTCOME_UNKNOWN'})`;
    }
    if (!name && item.accounts.length === 0)
      return `Item ${item.item_id ?? ''}: token exchanged, reading its accounts…`;
    const accounts = item.accounts.map((a) =>
      a.verification_status?.startsWith('pending') ? `${accountText(a)} (not verified yet)` : accountText(a),
    );
    return `${name ?? 'Account entered by hand'}: token exchanged · ${accounts.join(', ') || 'no accounts'}`;
  }

  function accountRow(account, eligible, checked) {
    const input = el('input', {
      type: 'radio',
      name: 'account',
      value: account.account_id,
      disabled: !eligible,
      checked,
    });
    const label = el(
      'label',
      {},
      input,
      el('span', { className: 'institution' }, account.institution_name ?? 'Unknown bank'),
      el('span', { className: 'mask' }, `••${account.mask ?? '??'}`),
      el(
        'span',
        { className: 'detail' },
        `${account.name ?? 'Account'} · ${account.subtype ?? 'unknown type'}`,
      ),
    );
    if (!eligible) {
      label.append(el('span', { className: 'reason' }, REASONS[account.reason] ?? account.reason));
    }
    return el(
      'li',
      {
        className: eligible ? 'account eligible' : 'account ineligible',
        'data-account-id': account.account_id,
        'data-reason': eligible ? null : account.reason,
        'aria-disabled': eligible ? null : 'true',
      },
      label,
    );
  }

  function pendingRow(account) {
    const manual = account.verification_status === 'pending_manual_verification';
    const checking = isVerifying(account.item_id);
    const label = el(
      'label',
      {},
      el('input', { type: 'radio', name: 'account', value: account.account_id, disabled: true }),
      el('span', { className: 'institution' }, account.institution_name ?? 'Account entered by hand'),
      el('span', { className: 'mask' }, `••${account.mask ?? '??'}`),
      el(
        'span',
        { className: 'detail' },
        `${account.name ?? 'Account'} · ${account.subtype ?? 'unknown type'}`,
      ),
      el(
        'span',
        { className: 'verification' },
        checking
          ? 'Code entered: waiting for the bank to confirm it'
          : verificationText(account.verification_status),
      ),
    );
    const row = el(
      'li',
      {
        className: 'account pending',
        'data-account-id': account.account_id,
        'data-item-id': account.item_id,
        'data-verification-status': account.verification_status,
        // Not aria-disabled: the row's Verify button is live; its radio is disabled instead.
      },
      label,
    );
    if (manual) {
      row.append(
        el(
          'button',
          {
            type: 'button',
            className: 'verify',
            'data-verify-item': account.item_id,
            disabled: checking || linkBusy(),
          },
          'Verify',
        ),
      );
    }
    return row;
  }

  /** Draws the chooser, again whenever its accounts change (a linked account arrives, one is verified). */
  function renderChooser(view) {
    const eligible = view.eligible_accounts;
    const eligibleIds = new Set(eligible.map((a) => a.account_id));
    const pending = (view.pending_accounts ?? []).filter((a) => !eligibleIds.has(a.account_id));
    const key = JSON.stringify([
      eligible.map((a) => a.account_id),
      view.ineligible_accounts.map((a) => [a.account_id, a.reason]),
      pending.map((a) => [a.account_id, a.verification_status, isVerifying(a.item_id)]),
    ]);
    if (key !== chooserKey) {
      chooserKey = key;
      const picked = document.querySelector('input[name="account"]:checked')?.value;
      const keep = eligibleIds.has(picked) ? picked : eligible.length === 1 ? eligible[0].account_id : null;
      const rows = [
        ...eligible.map((a) => accountRow(a, true, a.account_id === keep)),
        ...pending.map(pendingRow),
        ...view.ineligible_accounts.map((a) => accountRow(a, false, false)),
      ];
      if (eligible.length === 0) {
        rows.unshift(
          el(
            'li',
            { className: 'muted', id: 'no-eligible' },
            pending.length
              ? 'No account can move money until one is verified. Or link a different account.'
              : 'None of the connected accounts can move money. Link a different account: pick its bank, or enter its account and routing numbers.',
          ),
        );
      }
      $('accounts').replaceChildren(...rows);
    }
    updateChooserButtons();
    $('chooser-section').hidden = false;
  }

  function updateChooserButtons() {
    $('choose').disabled = choosing || !document.querySelector('input[name="account"]:checked');
    $('payment-link').disabled = choosing || linkBusy();
    $('payment-link').hidden = choosing;
    for (const button of document.querySelectorAll('button[data-verify-item]')) {
      button.disabled = choosing || linkBusy() || isVerifying(button.dataset.verifyItem);
    }
  }

  // ---- The payment Link and the micro-deposit verification, opened from the chooser ----

  async function startPaymentLink() {
    if (linkBusy() || choosing) return;
    showError(null);
    opening = true;
    updateChooserButtons();
    try {
      const { link_token } = await api('POST', `/sessions/${encodeURIComponent(sessionId)}/payment-link`);
      opening = false;
      log('Link opened for a different account (payment Link)', 'payment-link');
      openSideLink({ kind: 'payment', linkToken: link_token, done: false });
    } catch (err) {
      opening = false;
      updateChooserButtons();
      showError(`Could not open Link for a different account: ${err.message}`);
    }
  }

  async function startVerification(itemId) {
    if (linkBusy() || choosing) return;
    showError(null);
    opening = true;
    updateChooserButtons();
    try {
      const { link_token } = await api(
        'POST',
        `/sessions/${encodeURIComponent(sessionId)}/verification-link`,
        {
          item_id: itemId,
        },
      );
      opening = false;
      log('Link opened to verify the micro-deposit', 'verification-link');
      openSideLink({ kind: 'verification', linkToken: link_token, itemId, done: false });
    } catch (err) {
      opening = false;
      updateChooserButtons();
      showError(`Could not open Link to verify the account: ${err.message}`);
    }
  }

  function openSideLink(flow) {
    sideLink = flow;
    updateChooserButtons();
    $('payment-link-section').hidden = false;
    $('payment-link-hint').textContent =
      flow.kind === 'payment'
        ? 'Connect the account money should move through: pick its bank, or enter its account and routing numbers.'
        : 'Enter the code shown next to the micro-deposit on the bank statement.';
    if (linkMode === 'emulator') {
      const frame = $('payment-link-frame');
      frame.src = `${emulatorUrl}/__emulator/link?link_token=${encodeURIComponent(flow.linkToken)}`;
      frame.hidden = false;
      return;
    }
    if (typeof window.Plaid === 'undefined') {
      closeSideLink();
      showError('Plaid Link could not be loaded from cdn.plaid.com.');
      return;
    }
    flow.handler = window.Plaid.create({
      token: flow.linkToken,
      onSuccess: (publicToken, metadata) => sideLinkSucceeded(flow, publicToken, metadata),
      onExit: (error) => sideLinkExited(flow, error),
    });
    flow.handler.open();
  }

  function closeSideLink() {
    const flow = sideLink;
    sideLink = null;
    flow?.handler?.destroy?.();
    const frame = $('payment-link-frame');
    frame.hidden = true;
    frame.removeAttribute('src');
    $('payment-link-section').hidden = true;
    updateChooserButtons();
  }

  async function sideLinkSucceeded(flow, publicToken, metadata) {
    if (flow.done || flow !== sideLink) return;
    flow.done = true;
    closeSideLink();
    if (flow.kind === 'verification') {
      verifying.set(flow.itemId, Date.now());
      chooserKey = null;
      log('Micro-deposit code entered; linkflow shows the account once it is verified', 'verification');
      if (previous) renderChooser(previous);
      // Best effort: the session also reads the Item on its own while the verification Link lives.
      api(
        'POST',
        `/sessions/${encodeURIComponent(sessionId)}/items/${encodeURIComponent(flow.itemId)}/refresh`,
        {},
      ).catch(() => {});
      poke();
      return;
    }
    if (!publicToken) {
      showError('Link finished without a public token: nothing was linked.');
      return;
    }
    const what = metadata?.institution?.name ? ` at ${metadata.institution.name}` : '';
    try {
      await api('POST', `/sessions/${encodeURIComponent(sessionId)}/payment-link/public-token`, {
        public_token: publicToken,
      });
      log(`Account linked${what}; linkflow exchanges its token and checks it`, 'payment-link');
    } catch (err) {
      showError(`The linked account could not be handed to linkflow: ${err.message}`);
    }
    poke();
  }

  function sideLinkExited(flow, error) {
    if (flow.done || flow !== sideLink) return;
    flow.done = true;
    log(
      error?.error_code ? `Link closed with ${error.error_code}` : 'Link closed without linking an account',
      'link',
    );
    closeSideLink();
  }

  /** The emulator's Link page (in the iframe) says how it ended; see EMULATOR_LINK_MESSAGE. */
  function onLinkMessage(event) {
    if (linkMode !== 'emulator' || event.origin !== emulatorOrigin) return;
    const data = event.data;
    if (!data || typeof data !== 'object' || data.source !== EMULATOR_LINK_MESSAGE) return;
    const flow = sideLink;
    if (
      !flow ||
      event.source !== $('payment-link-frame').contentWindow ||
      data.link_token !== flow.linkToken
    ) {
      return;
    }
    if (data.event === 'SUCCESS' || data.event === 'VERIFIED') {
      // Link's onSuccess metadata, as far as the emulator's answer tells it.
      const institution = data.result?.items?.[0]?.institution ?? null;
      sideLinkSucceeded(flow, data.public_token ?? data.public_tokens?.[0] ?? null, { institution });
    } else if (data.event === 'EXIT' || data.event === 'VERIFICATION_FAILED') {
      sideLinkExited(flow, data.result?.error ?? null);
    }
  }

  async function choose(event) {
    event.preventDefault();
    const picked = document.querySelector('input[name="account"]:checked');
    if (!picked) return;
    choosing = true;
    if (sideLink) closeSideLink();
    updateChooserButtons();
    for (const input of document.querySelectorAll('input[name="account"]')) input.disabled = true;
    const account = previous?.eligible_accounts.find((a) => a.account_id === picked.value);
    log(
      `Account chosen: ${account ? `${account.institution_name ?? 'entered by hand,'} ${accountText(account)}` : picked.value}`,
      'chosen',
    );
    clearTimeout(timer);
    epoch++;
    try {
      const view = await api('POST', `/sessions/${encodeURIComponent(sessionId)}/payment-account`, {
        account_id: picked.value,
      });
      render(view);
      if (!TERMINAL.includes(view.status)) follow();
    } catch (err) {
      choosing = false;
      for (const row of document.querySelectorAll('li.eligible input')) row.disabled = false;
      updateChooserButtons();
      showError(`The payment account could not be set: ${err.message}`);
      follow();
    }
  }

  function finish(view) {
    clearTimeout(timer);
    if (sideLink) closeSideLink();
    $('payment-link').hidden = true;
    for (const button of document.querySelectorAll('button[data-verify-item]')) button.disabled = true;
    $('chooser-section').hidden = view.status !== 'completed' || view.payment_account === null;
    $('result-section').hidden = false;
    const pa = view.payment_account;
    if (view.status === 'completed' && pa) {
      const account = view.eligible_accounts.find((a) => a.account_id === pa.account_id);
      $('result-summary').textContent = `Money will move through ${
        account
          ? `${account.institution_name ?? 'the account entered by hand,'} ${accountText(account)} (${account.subtype})`
          : pa.account_id
      } using ${pa.product}.`;
      $('result').textContent = JSON.stringify(pa.result, null, 2);
      log(`Payment account set up with ${pa.product}`, 'payment');
    } else {
      $('result-summary').textContent = STATUS_TEXT[view.status] ?? view.status;
      $('result').textContent = JSON.stringify({ status: view.status, errors: view.errors }, null, 2);
    }
  }

  $('client-user-id').value = `demo-user-${Math.random().toString(36).slice(2, 8)}`;
  $('start-form').addEventListener('submit', start);
  $('chooser').addEventListener('submit', choose);
  $('accounts').addEventListener('change', updateChooserButtons);
  $('accounts').addEventListener('click', (event) => {
    const button = event.target.closest?.('button[data-verify-item]');
    if (button && !button.disabled) startVerification(button.dataset.verifyItem);
  });
  $('payment-link').addEventListener('click', startPaymentLink);
  $('payment-link-close').addEventListener('click', () => {
    if (sideLink) sideLinkExited(sideLink, null);
  });
  window.addEventListener('message', onLinkMessage);
})();
