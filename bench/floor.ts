/**
 * The HTTP floor, for attribution only: a bare `node:http` server in this process that reads the
 * webhook body, parses it and sends the same signal with the same client — no Hono, no
 * verification, no validation, no logging, no metrics. The gap raw signal -> floor is what HTTP
 * on this machine costs (server, load generator, loopback); floor -> API is linkflow's own.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import type { Keyring } from '../src/crypto';
import { signWebhookSignal } from '../src/temporal/webhookSignalMac';
import { itemAddResultSignal, linkSessionWorkflowId } from '../src/workflows/definitions';

export interface FloorServer {
  url: string;
  close(): Promise<void>;
}

/** `keyring` signs the signals as the API does (the workflow refuses unsigned ones). */
export async function startFloorServer(client: Client, keyring: Keyring): Promise<FloorServer> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            link_token: string;
            public_token: string;
            link_session_id?: string;
          };
          const workflowId = linkSessionWorkflowId(body.link_token);
          await client.workflow.getHandle(workflowId).signal(
            itemAddResultSignal,
            signWebhookSignal(keyring, workflowId, {
              public_token: body.public_token,
              link_session_id: body.link_session_id ?? null,
              received_at: new Date().toISOString(),
            }),
          );
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
        } catch {
          res.writeHead(503).end();
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
