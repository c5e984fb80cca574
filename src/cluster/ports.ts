/** Ports for the cluster's processes: the fixed ones checked free first, the internal ones picked. */
import { createServer } from 'node:net';

/** A TCP port free on loopback right now (the OS picks it; the caller binds it soon after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Fails with a one-line explanation naming the variable that moves it. */
export async function requirePortFree(port: number, what: string, variable: string): Promise<void> {
  if (!(await portFree(port))) {
    throw new Error(`Port ${port} (${what}) is already in use on 127.0.0.1: set ${variable} to a free port.`);
  }
}
