/**
 * A separate process that applies the trade store's migrations to the database at argv[2]
 * (test/exchange/trade-store.pg.test.ts starts several at once). It connects, prints `ready`, waits for
 * a line on stdin (so all start migrating at the same moment), then prints what it applied as JSON.
 */
import { once } from 'node:events';
import pg from 'pg';
import { migrate } from '../../src/exchange/pg-migrations.js';

const client = new pg.Client({ connectionString: process.argv[2] });
await client.connect();
try {
  process.stdout.write('ready\n');
  await once(process.stdin, 'data');
  process.stdout.write(`${JSON.stringify(await migrate(client))}\n`);
} finally {
  await client.end();
  process.stdin.destroy();
}
