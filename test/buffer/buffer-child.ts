/**
 * A disk buffer in its own process, so tests can prove the cross-process
 * lock and SIGKILL durability. argv: mode path
 * - hold:   opens the buffer, prints `ready`, then idles until killed.
 * - append: opens the buffer, prints `ready`, then appends events n = 0, 1,
 *           2, ... (concurrent calls, group-committed) and prints `ok <n>`
 *           once append n has resolved, until killed.
 * - open:   tries to open, prints `opened` or `error <code> <message>`, exits.
 */
import { DiskBuffer } from '../../src/buffer/disk-buffer.js';
import { isQtError } from '../../src/errors.js';

const [mode, path] = process.argv.slice(2) as [string, string];

function open(): DiskBuffer | undefined {
  try {
    return DiskBuffer.open({ path });
  } catch (err) {
    const code = isQtError(err) ? err.code : 'UNEXPECTED';
    process.stdout.write(`error ${code} ${(err as Error).message}\n`);
    return undefined;
  }
}

const buffer = open();
if (!buffer) process.exit(0);
if (mode === 'open') {
  process.stdout.write('opened\n');
  await buffer.close();
  process.exit(0);
}
process.stdout.write('ready\n');
if (mode === 'hold') setInterval(() => {}, 60_000);
if (mode === 'append') {
  let n = 0;
  // Several appends in flight per turn, so kills land between and inside group commits.
  const loop = async (): Promise<void> => {
    for (;;) {
      const mine = n++;
      await buffer.append([
        { topic: mine % 2 ? 'odd' : 'even', type: 'test.appended', seq: null, body: `{"n":${mine}}` },
      ]);
      process.stdout.write(`ok ${mine}\n`);
    }
  };
  for (let i = 0; i < 8; i++) void loop();
}
