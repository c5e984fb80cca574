/**
 * An HTTP proxy in front of the emulator that can lose a request on its way to Plaid: the
 * connection is reset after the request arrived but before it is forwarded. The caller sees the
 * same ECONNRESET as for an answer lost on the way back (emulator fault `lose_response`), but
 * here Plaid never did the work — the case a retry recovers.
 */
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LossyProxy {
  url: string;
  /** Resets the next `times` requests to `path` before forwarding them. */
  loseRequests(path: string, times?: number): void;
  /** Requests forwarded per path. */
  forwarded: Record<string, number>;
  close(): Promise<void>;
}

export async function startLossyProxy(targetUrl: string): Promise<LossyProxy> {
  const target = new URL(targetUrl);
  const toLose = new Map<string, number>();
  const forwarded: Record<string, number> = {};
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      const left = toLose.get(path) ?? 0;
      if (left > 0) {
        toLose.set(path, left - 1);
        req.socket.resetAndDestroy();
        return;
      }
      forwarded[path] = (forwarded[path] ?? 0) + 1;
      const upstream = request(
        { host: target.hostname, port: target.port, path, method: req.method, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => req.socket.destroy());
      upstream.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    loseRequests(path, times = 1) {
      toLose.set(path, (toLose.get(path) ?? 0) + times);
    },
    forwarded,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
