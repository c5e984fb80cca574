// linkflow /demo, the browser side: start a session, open Link, follow the session, let the user
// pick the payment account. Served as is by src/web/demoPage.ts; no framework, no build step.
(() => {
  const body = document.body;
  const linkMode = body.dataset.linkMode;
  const emulatorUrl = body.dataset.emulatorUrl;
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

  /** The operator's API key when the page needs one: in this variable only, never stored. */
  let apiKey = null;
  let sessionId = null;
  /** The capability the server returned for the session this page created (see demoPage.ts). */
  let capability = null;
  let previous = null;
  let timer = null;
  let choosing = false;
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
    try {
      const view = await api('GET', `/sessions/${encodeURIComponent(sessionId)}`);
      if (started !== epoch || (previous && TERMINAL.includes(previous.status))) return;
      render(view);
      if (TERMINAL.includes(view.status)) return;
    } catch (err) {
      showError(`Could not read the session: ${err.message} (retrying)`);
    }
    const slow = previous?.status === 'awaiting_payment_account';
    timer = setTimeout(follow, slow ? 2000 : 700);
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
      if (item.status === 'failed') {
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
    if (!prev || prev.status !== view.status) {
      if (view.status === 'awaiting_payment_account') {
        const all = view.eligible_accounts.length + view.ineligible_accounts.length;
        log(
          `Eligibility checked: ${view.eligible_accounts.length} of ${all} account(s) can move money`,
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
    $('progress-label').textContent = STATUS_TEXT[view.status] ?? view.status;

    const polling = $('polling');
    polling.hidden = !view.polling.active;
    polling.textContent = `Polling /link/token/get because webhooks went quiet (${view.polling.polls} poll(s) so far)`;

    const items = view.items.map((item) =>
      el(
        'li',
        { className: item.status, 'data-item-status': item.status },
        item.status === 'failed'
          ? `${item.institution?.name ?? 'A bank'}: failed (${item.error?.code ?? 'error'})`
          : item.institution?.name
            ? `${item.institution.name}: token exchanged · ${item.accounts.map(accountText).join(', ') || 'no accounts'}`
            : `Item ${item.item_id ?? ''}: token exchanged, reading its accounts…`,
      ),
    );
    $('items').replaceChildren(...(items.length ? items : [el('li', { className: 'muted' }, 'none yet')]));

    if (view.status !== 'waiting_for_user' && view.status !== 'linking') $('link-frame').hidden = true;
    if (view.status === 'awaiting_payment_account' && !choosing) renderChooser(view);
    if (TERMINAL.includes(view.status)) finish(view);
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

  function renderChooser(view) {
    const section = $('chooser-section');
    if (!section.hidden) return;
    const only = view.eligible_accounts.length === 1;
    const rows = [
      ...view.eligible_accounts.map((a) => accountRow(a, true, only)),
      ...view.ineligible_accounts.map((a) => accountRow(a, false, false)),
    ];
    if (view.eligible_accounts.length === 0) {
      rows.unshift(
        el(
          'li',
          { className: 'muted' },
          'None of the connected accounts can move money. Connect another bank.',
        ),
      );
    }
    $('accounts').replaceChildren(...rows);
    $('choose').disabled = !only;
    section.hidden = false;
  }

  async function choose(event) {
    event.preventDefault();
    const picked = document.querySelector('input[name="account"]:checked');
    if (!picked) return;
    choosing = true;
    $('choose').disabled = true;
    for (const input of document.querySelectorAll('input[name="account"]')) input.disabled = true;
    const account = previous?.eligible_accounts.find((a) => a.account_id === picked.value);
    log(
      `Account chosen: ${account ? `${account.institution_name} ${accountText(account)}` : picked.value}`,
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
      $('choose').disabled = false;
      for (const row of document.querySelectorAll('li.eligible input')) row.disabled = false;
      showError(`The payment account could not be set: ${err.message}`);
      follow();
    }
  }

  function finish(view) {
    clearTimeout(timer);
    $('chooser-section').hidden = view.status !== 'completed' || view.payment_account === null;
    $('result-section').hidden = false;
    const pa = view.payment_account;
    if (view.status === 'completed' && pa) {
      const account = view.eligible_accounts.find((a) => a.account_id === pa.account_id);
      $('result-summary').textContent = `Money will move through ${
        account ? `${account.institution_name} ${accountText(account)} (${account.subtype})` : pa.account_id
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
  $('accounts').addEventListener('change', () => {
    $('choose').disabled = !document.querySelector('input[name="account"]:checked');
  });
})();
