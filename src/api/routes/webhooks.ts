/**
 * `POST /webhooks/plaid`: verify, parse, and hand LINK webhooks to their session's workflow as
 * signals. 200 only once the signal call has returned (the event is in the workflow's history) or
 * the event is deliberately dropped (unknown session, other webhook types); 503 when Temporal
 * cannot take it now, so Plaid retries. A webhook for a session whose run already closed starts
 * the session again (signal-with-start), so its public token is still exchanged.
 */
import { type SignalDefinition, WorkflowNotFoundError } from '@temporalio/client';
import { Hono } from 'hono';
import type { ApiMetrics } from '../../observability/metrics';
import { reopenLinkSession } from '../../temporal/reopenLinkSession';
import {
  itemAddResultSignal,
  itemVerificationSignal,
  linkSessionWorkflowId,
  sessionFinishedSignal,
} from '../../workflows/definitions';
import type {
  ItemAddResultSignal,
  ItemVerificationSignal,
  SessionFinishedSignal,
} from '../../workflows/types';
import type { Clock, TemporalDeps, WebhookSignalSigner } from '../deps';
import { ApiError, isTemporalUnavailable, temporalUnavailable } from '../errors';
import { isLinkToken } from '../ids';
import { limitBody } from '../middleware/bodyLimit';
import { peerAddress } from '../peer';
import {
  authVerificationWebhookSchema,
  itemAddResultWebhookSchema,
  sessionFinishedWebhookSchema,
  webhookEnvelopeSchema,
} from '../schemas';
import type { AppEnv } from '../types';
import { isTransientVerificationFailure, type WebhookVerifier } from '../webhookVerifier';

export interface WebhookRoutesDeps {
  temporal: TemporalDeps;
  /** null when `PLAID_VERIFY_WEBHOOKS=false`. */
  verifier: WebhookVerifier | null;
  metrics: ApiMetrics;
  clock: Clock;
  maxBodyBytes: number;
  temporalTimeoutMs: number;
  /** Adds the MAC the workflow requires (see src/temporal/webhookSignalMac.ts). */
  signSignal?: WebhookSignalSigner;
  /**
   * The session an Item was linked in (the item store), for Plaid's AUTH webhooks, which name an
   * Item and no link token. Without it AUTH webhooks are acknowledged and dropped (logged).
   */
  findItemSession?: (itemId: string) => Promise<string | null>;
}

type Outcome = 'delivered' | 'ignored' | 'unknown_session' | 'reopened' | 'session_closed';

const decoder = new TextDecoder('utf-8', { fatal: true });

function malformed(message: string): ApiError {
  return new ApiError(400, 'MALFORMED_WEBHOOK', message);
}

export function webhookRoutes(deps: WebhookRoutesDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const { metrics, temporal } = deps;
  const sign: WebhookSignalSigner = deps.signSignal ?? ((_workflowId, signal) => signal);

  async function signal<Args extends unknown[]>(
    linkToken: string,
    definition: SignalDefinition<Args>,
    args: Args,
    code: string,
  ): Promise<Outcome> {
    const handle = temporal.client.workflow.getHandle(linkSessionWorkflowId(linkToken));
    const stopTimer = metrics.signalLatency.startTimer({ signal: definition.name });
    const bounded = <T>(fn: () => Promise<T>) =>
      temporal.client.withDeadline(Date.now() + deps.temporalTimeoutMs, fn);
    try {
      try {
        await bounded(() => handle.signal(definition, ...args));
        stopTimer();
        return 'delivered';
      } catch (err) {
        // Both "never existed" and "already closed" arrive as WorkflowNotFoundError. A closed
        // session is started again so the token is exchanged, never acknowledged and dropped.
        if (!(err instanceof WorkflowNotFoundError)) throw err;
        return await bounded(() =>
          reopenLinkSession(temporal.client, temporal.taskQueue, linkToken, definition, args),
        );
      }
    } catch (err) {
      metrics.webhooks.inc({ webhook_code: code, outcome: 'temporal_unavailable' });
      if (isTemporalUnavailable(err)) throw temporalUnavailable(err);
      throw new ApiError(503, 'SIGNAL_FAILED', err instanceof Error ? err.message : String(err), {
        retryable: true,
      });
    }
  }

  /**
   * An AUTH webhook only asks a session to read its Item again. A session that already closed
   * has nothing waiting on it: the webhook is acknowledged (Plaid must not retry it for days).
   */
  async function signalOpenSession(
    sessionId: string,
    payload: ItemVerificationSignal,
    code: string,
  ): Promise<Outcome> {
    const workflowId = linkSessionWorkflowId(sessionId);
    const handle = temporal.client.workflow.getHandle(workflowId);
    try {
      await temporal.client.withDeadline(Date.now() + deps.temporalTimeoutMs, () =>
        handle.signal(itemVerificationSignal, sign(workflowId, payload)),
      );
      return 'delivered';
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return 'session_closed';
      metrics.webhooks.inc({ webhook_code: code, outcome: 'temporal_unavailable' });
      if (isTemporalUnavailable(err)) throw temporalUnavailable(err);
      throw new ApiError(503, 'SIGNAL_FAILED', err instanceof Error ? err.message : String(err), {
        retryable: true,
      });
    }
  }

  app.post('/webhooks/plaid', limitBody(deps.maxBodyBytes), async (c) => {
    const log = c.var.log;
    const raw = new Uint8Array(await c.req.arrayBuffer());

    if (deps.verifier) {
      const result = await deps.verifier.verify(
        raw,
        c.req.header('plaid-verification'),
        peerAddress(c) ?? undefined,
      );
      if (!result.ok) {
        metrics.webhookVerificationFailures.inc({ reason: result.reason });
        metrics.webhooks.inc({ webhook_code: 'unverified', outcome: 'rejected' });
        if (isTransientVerificationFailure(result.reason)) {
          log.error({ reason: result.reason }, 'webhook could not be verified now; asking Plaid to retry');
          throw new ApiError(503, 'VERIFICATION_UNAVAILABLE', 'the webhook could not be verified now', {
            retryable: true,
          });
        }
        log.warn({ reason: result.reason }, 'webhook rejected: verification failed');
        throw new ApiError(401, 'WEBHOOK_VERIFICATION_FAILED', 'Plaid-Verification did not verify');
      }
    }

    let body: unknown;
    try {
      body = JSON.parse(decoder.decode(raw));
    } catch {
      metrics.webhooks.inc({ webhook_code: 'unparsed', outcome: 'malformed' });
      throw malformed('the webhook body is not JSON');
    }
    const envelope = webhookEnvelopeSchema.safeParse(body);
    if (!envelope.success) {
      metrics.webhooks.inc({ webhook_code: 'unparsed', outcome: 'malformed' });
      throw malformed('the webhook has no webhook_type/webhook_code');
    }
    const { webhook_type: type, webhook_code: code } = envelope.data;
    const receivedAt = deps.clock.now().toISOString();

    const finish = (outcome: Outcome, extra: Record<string, unknown> = {}) => {
      metrics.webhooks.inc({ webhook_code: code, outcome });
      const line = { webhook_type: type, webhook_code: code, outcome, ...extra };
      if (outcome === 'delivered') log.info(line, 'webhook handed to its session');
      else
        log.info(
          { ...line, webhook: body },
          `webhook ${outcome === 'ignored' ? 'ignored' : 'for no open session, dropped'}`,
        );
      return c.json({ received: true, outcome }, 200);
    };

    const fail = (message: string) => {
      metrics.webhooks.inc({ webhook_code: code, outcome: 'malformed' });
      return malformed(message);
    };

    if (type === 'AUTH' && (code === 'AUTOMATICALLY_VERIFIED' || code === 'VERIFICATION_EXPIRED')) {
      const parsed = authVerificationWebhookSchema.safeParse(body);
      if (!parsed.success) throw fail(`${code}: ${parsed.error.issues[0]?.path.join('.')} invalid`);
      const w = parsed.data;
      let sessionId: string | null = null;
      try {
        sessionId = deps.findItemSession ? await deps.findItemSession(w.item_id) : null;
      } catch (err) {
        // Plaid retries a non-200: the webhook is not lost while the store is unreachable.
        log.error({ err, item_id: w.item_id }, 'could not look up the Item of an AUTH webhook');
        throw new ApiError(503, 'STORE_UNAVAILABLE', 'the Item of this webhook could not be looked up now', {
          retryable: true,
        });
      }
      if (!sessionId || !isLinkToken(sessionId)) return finish('unknown_session', { item_id: w.item_id });
      const payload: ItemVerificationSignal = { item_id: w.item_id, reason: code, received_at: receivedAt };
      const outcome = await signalOpenSession(sessionId, payload, code);
      return finish(outcome, { session_id: sessionId, item_id: w.item_id, account_id: w.account_id ?? null });
    }

    if (type !== 'LINK' || (code !== 'ITEM_ADD_RESULT' && code !== 'SESSION_FINISHED'))
      return finish('ignored');

    if (code === 'ITEM_ADD_RESULT') {
      const parsed = itemAddResultWebhookSchema.safeParse(body);
      if (!parsed.success) throw fail(`ITEM_ADD_RESULT: ${parsed.error.issues[0]?.path.join('.')} invalid`);
      const w = parsed.data;
      if (!isLinkToken(w.link_token))
        return finish('unknown_session', { link_session_id: w.link_session_id });
      const payload: ItemAddResultSignal = {
        public_token: w.public_token,
        link_session_id: w.link_session_id ?? null,
        received_at: receivedAt,
      };
      const outcome = await signal(
        w.link_token,
        itemAddResultSignal,
        [sign(linkSessionWorkflowId(w.link_token), payload)],
        code,
      );
      return finish(outcome, { session_id: w.link_token, link_session_id: payload.link_session_id });
    }

    const parsed = sessionFinishedWebhookSchema.safeParse(body);
    if (!parsed.success) throw fail(`SESSION_FINISHED: ${parsed.error.issues[0]?.path.join('.')} invalid`);
    const w = parsed.data;
    if (!isLinkToken(w.link_token)) return finish('unknown_session', { link_session_id: w.link_session_id });
    const payload: SessionFinishedSignal = {
      status: w.status,
      link_session_id: w.link_session_id ?? null,
      public_tokens: [...new Set([...(w.public_tokens ?? []), ...(w.public_token ? [w.public_token] : [])])],
      received_at: receivedAt,
    };
    const outcome = await signal(
      w.link_token,
      sessionFinishedSignal,
      [sign(linkSessionWorkflowId(w.link_token), payload)],
      code,
    );
    return finish(outcome, {
      session_id: w.link_token,
      link_session_id: payload.link_session_id,
      status: w.status,
    });
  });

  return app;
}
