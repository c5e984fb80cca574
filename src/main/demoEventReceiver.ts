/**
 * `npm run demo`'s stand-in for the customer's backend: a small HTTP receiver on loopback that
 * verifies each linkflow event with the `standardwebhooks` package (as the README shows) and
 * reports it, so the demo's timeline shows the events a lender's backend would get.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { Webhook } from 'standardwebhooks';

export interface DemoEvent {
  webhookId: string;
  type: string;
  data: Record<string, unknown>;
}

export interface DemoEventReceiver {
  url: string;
  secret: string;
  received: DemoEvent[];
  close(): Promise<void>;
}

export async function startDemoEventReceiver(onEvent: (e: DemoEvent) => void): Promise<DemoEventReceiver> {
  const secret = `whsec_${randomBytes(32).toString('base64')}`;
  const webhook = new Webhook(secret);
  const received: DemoEvent[] = [];
  const seen = new Set<string>();
  const server = createServer(async (req, res) => {
    let raw = '';
    for await (const chunk of req) raw += chunk;
    let body: { type: string; data: Record<string, unknown> };
    try {
      body = webhook.verify(raw, req.headers as Record<string, string>) as typeof body;
    } catch {
      res.writeHead(400).end();
      return;
    }
    const webhookId = String(req.headers['webhook-id']);
    if (!seen.has(webhookId)) {
      seen.add(webhookId);
      const event = { webhookId, type: body.type, data: body.data };
      received.push(event);
      onEvent(event);
    }
    res.writeHead(204).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/events`,
    secret,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
