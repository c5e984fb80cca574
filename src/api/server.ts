/**
 * Serves the app over HTTP with @hono/node-server; resolves once listening. The server bounds
 * what one client can hold: a request must arrive whole within `requestTimeoutMs` (a body sent a
 * byte at a time is cut there, answered 408), its headers within `headersTimeoutMs`, and at most
 * `maxConnections` sockets are open at once (more are closed on arrival).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface HttpLimits {
  /** Default 30 s: far above any genuine request here (bodies are at most a few MiB). */
  requestTimeoutMs?: number;
  /** Default 10 s. */
  headersTimeoutMs?: number;
  /** Default 1024. */
  maxConnections?: number;
}

export function serveApp(
  // biome-ignore lint/suspicious/noExplicitAny: any Hono app, whatever its env type
  app: Hono<any>,
  opts: { hostname: string; port: number } & HttpLimits,
): Promise<RunningServer> {
  const requestTimeout = opts.requestTimeoutMs ?? 30_000;
  const headersTimeout = Math.min(opts.headersTimeoutMs ?? 10_000, requestTimeout);
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        fetch: app.fetch,
        hostname: opts.hostname,
        port: opts.port,
        serverOptions: {
          requestTimeout,
          headersTimeout,
          // Node checks the two timeouts on this period (its default, 30 s, would let a slow body
          // run half a minute past its timeout).
          connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(headersTimeout / 2))),
        },
      },
      (info: AddressInfo) => {
        const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
        resolve({
          url: `http://${host}:${info.port}`,
          port: info.port,
          close: () =>
            new Promise<void>((done, fail) => {
              server.close((err) => (err ? fail(err) : done()));
              // Keep-alive connections would hold close() open.
              (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
            }),
        });
      },
    );
    (server as Server).maxConnections = opts.maxConnections ?? 1024;
    server.once('error', reject);
  });
}
