/**
 * A customer's event receiver for tests: a real HTTP server on loopback that verifies every POST
 * with the `standardwebhooks` package (as the README tells customers to), records each attempt,
 * and can be taken "down" (answering 503) to simulate an outage.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { Webhook } from 'standardwebhooks';

export interface ReceivedAttempt {
  webhookId: string;
  webhookTimestamp: string;
  /** What the receiver answered. */
  status: number;
  /** Signature check passed. */
  verified: boolean;
  body: { type: string; timestamp: string; data: Record<string, unknown> } | null;
  at: number;
}

export interface EventReceiver {
  url: string;
  secret: string;
  attempts: ReceivedAttempt[];
  /** Verified events accepted (200), first acceptance per webhook-id. */
  delivered(): ReceivedAttempt[];
  setDown(down: boolean): void;
  close(): Promise<void>;
}

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

export async function startEventReceiver(secret: string): Promise<EventReceiver> {
  const webhook = new Webhook(secret);
  const attempts: ReceivedAttempt[] = [];
  let down = false;
  const server: Server = createServer(async (req, res) => {
    const raw = await readBody(req);
    const headers = {
      'webhook-id': String(req.headers['webhook-id'] ?? ''),
      'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
      'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
    };
    let body: ReceivedAttempt['body'] = null;
    let verified = false;
    try {
      body = webhook.verify(raw, headers) as ReceivedAttempt['body'];
      verified = true;
    } catch {
      verified = false;
    }
    const status = !verified ? 400 : down ? 503 : 200;
    attempts.push({
      webhookId: headers['webhook-id'],
      webhookTimestamp: headers['webhook-timestamp'],
      status,
      verified,
      body,
      at: Date.now(),
    });
    res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'no');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/linkflow-events`,
    secret,
    attempts,
    delivered() {
      const seen = new Set<string>();
      return attempts.filter((a) => {
        if (a.status !== 200 || seen.has(a.webhookId)) return false;
        seen.add(a.webhookId);
        return true;
      });
    },
    setDown(value) {
      down = value;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
