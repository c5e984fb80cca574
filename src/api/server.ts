/** Serves the app over HTTP with @hono/node-server; resolves once listening. */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';

export interface RunningServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

// biome-ignore lint/suspicious/noExplicitAny: any Hono app, whatever its env type
export function serveApp(app: Hono<any>, opts: { hostname: string; port: number }): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    const server = serve(
      { fetch: app.fetch, hostname: opts.hostname, port: opts.port },
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
    server.once('error', reject);
  });
}
