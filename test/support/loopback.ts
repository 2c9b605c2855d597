import type { Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';

/**
 * Servers on 127.0.0.1 for the tests and their global setups. freePort: a port free right now, for a service
 * whose own configuration (PUBLIC_BASE_URL, the tokens' aud) must name it before it starts.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolvePort(port));
    });
  });
}

/** Listens on a free port of 127.0.0.1 and answers the server's base URL. */
export async function listen(server: Server): Promise<string> {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Closes the server and every connection still open on it (keep-alive ones would hold close() up). */
export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((ok) => server.close(() => ok()));
}
