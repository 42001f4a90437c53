import { createServer } from 'node:net';

/**
 * Ports a test fixture must never hand out, even if the kernel offers them: the default Redis and
 * Redis Sentinel ports may belong to a developer's (or the machine's) real server, and tests must
 * never be able to confuse a server they own with one they do not.
 */
export const RESERVED_PORTS: ReadonlySet<number> = new Set([6379, 26379]);

/**
 * Finds a TCP port on `host` that is free right now, by letting the kernel pick one (listen on port 0)
 * and closing the listener again.
 *
 * The port is only free at the moment of the check: another process may grab it before the caller
 * binds it, so callers must be prepared to retry on EADDRINUSE.
 */
export async function getFreePort(host = '127.0.0.1', exclude: ReadonlySet<number> = RESERVED_PORTS): Promise<number> {
  // A handful of attempts is plenty: the kernel hands out ephemeral ports, and only the reserved set
  // can make us skip one.
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await listenOnEphemeralPort(host);
    if (!exclude.has(port)) return port;
  }
  throw new Error(`getFreePort: no usable free port on ${host} after 20 attempts`);
}

function listenOnEphemeralPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    // exclusive: true so that, under the cluster module, we really probe the kernel and not a shared handle.
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close((err) => {
        if (err) reject(err);
        else if (port === undefined) reject(new Error('getFreePort: listener reported no port'));
        else resolve(port);
      });
    });
  });
}
