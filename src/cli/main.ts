#!/usr/bin/env node
/** Entry point of `qt` (the package's bin; `node dist/cli/main.js`). The program is src/cli/program.ts. */
import { runCli } from './program.js';

runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
  // The command is over: a handle it left open (a socket to a peer that never answers) must not keep qt
  // alive. Unref'd, this fires only if something else still holds the process, after output has drained.
  setTimeout(() => process.exit(code), 1_000).unref();
});
