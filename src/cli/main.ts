#!/usr/bin/env node
/** Entry point of `qt` (the package's bin; `node dist/cli/main.js`). The program is src/cli/program.ts. */
import { runCli } from './program.js';

runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
