#!/usr/bin/env node
// The `amber` binary: nothing but the entry point; everything else is in run-cli.ts.
import { describeError, EXIT } from './cli-support.js';
import { runCli } from './run-cli.js';

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`amber: ${describeError(e)}\n`);
    process.exitCode = EXIT.CANNOT_RUN;
  },
);
