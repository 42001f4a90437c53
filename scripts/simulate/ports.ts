/**
 * Free loopback ports for the simulator: one for a redis-server (never the
 * default 6379/26379) and one offset at which every service's port is free,
 * so all `main` processes of a run share a `QT_HTTP_PORT_OFFSET`.
 */
import { createServer } from 'node:net';
import { SERVICES } from '../../src/actors/services.js';

const RESERVED = new Set([6379, 26379]);

/** A port the kernel hands out on 127.0.0.1 right now, never a reserved Redis port. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
        const address = server.address();
        const port = typeof address === 'object' && address !== null ? address.port : 0;
        server.close(() => resolve(port));
      });
    });
    if (!RESERVED.has(port)) return port;
  }
}

/** True when `port` can be bound on loopback now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** An offset at which every service's base port is free now and none of `avoid` is used. */
export async function freeServiceOffset(avoid: readonly number[] = []): Promise<number> {
  const bases = Object.values(SERVICES).map((s) => s.port);
  for (let attempt = 0; attempt < 50; attempt++) {
    const offset = (await freePort()) - 8001;
    const ports = bases.map((b) => b + offset);
    if (ports.some((p) => avoid.includes(p) || RESERVED.has(p) || p > 65_535)) continue;
    if ((await Promise.all(ports.map(bindable))).every(Boolean)) return offset;
  }
  throw new Error('no port offset with every service port free');
}
