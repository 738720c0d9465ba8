#!/usr/bin/env node
// The `amber` binary: nothing but the entry point; everything else is in run-cli.ts.
import { describeError, EXIT } from './cli-support.js';
import { runCli } from './run-cli.js';

// The AWS SDK warns on every start that its releases after January 2027 need Node 22. amber's
// lockfile pins a release that supports Node 20, so the warning only clutters the CLI's stderr.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`amber: ${describeError(e)}\n`);
    process.exitCode = EXIT.CANNOT_RUN;
  },
);
