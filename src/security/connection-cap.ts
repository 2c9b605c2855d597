import type { Server } from 'node:net';
import proxyaddr from '@fastify/proxy-addr';

/**
 * At most `max` open connections per client address (issue #20 item 3, slowloris: 250 trickling sockets from one
 * address left fresh connections from others unanswered). A connection over the cap is closed as it opens, before
 * any byte is read. The trusted reverse proxies (TRUST_PROXY) are exempt: every client behind them shares their
 * address, and the proxy bounds its own clients.
 */
export function capConnectionsPerAddress(server: Server, max: number, trustedProxies: readonly string[] | undefined): void {
  const isProxy = trustedProxies && trustedProxies.length > 0 ? proxyaddr.compile([...trustedProxies]) : (): boolean => false;
  const open = new Map<string, number>();
  server.on('connection', (socket) => {
    const address = socket.remoteAddress ?? '';
    if (isProxy(address, 0)) return;
    const count = (open.get(address) ?? 0) + 1;
    if (count > max) {
      socket.destroy();
      return;
    }
    open.set(address, count);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left > 0) open.set(address, left);
      else open.delete(address);
    });
  });
}
