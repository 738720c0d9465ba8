import { describeError, EXIT, processIo, UsageError, version, type Io } from './cli-support.js';
import { policyCommand } from './policy-command.js';
import { serveCommand } from './serve-command.js';
import { verifyCommand } from './verify-command.js';
import { demoCommand } from './demo-command.js';

const HELP = `amber ${version()} — preserve suspect Kubernetes containers as signed evidence

Usage: amber <command> [options]

Commands:
  serve              all-in-one: alert intake, policies, embedded capture queue
  policy validate    check the policy set exactly as serve does at start-up
  policy test FILE…  show which policies an alert matches and what it would capture
  demo               the whole flow against a simulated cluster: alert → sealed, verified bundle
  verify TARGET      check an evidence bundle's signature, hashes and custody chain

Run 'amber <command> --help' for a command's options.
Exit codes: 0 ok, 1 the answer is "no" (invalid input), 2 could not run.
`;

const COMMANDS: Record<string, (args: readonly string[], io: Io) => Promise<number>> = {
  serve: serveCommand,
  policy: policyCommand,
  verify: verifyCommand,
  demo: demoCommand,
};

export async function runCli(argv: readonly string[], io: Io = processIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io.out(HELP);
    return command === undefined ? EXIT.CANNOT_RUN : EXIT.OK;
  }
  if (command === '--version' || command === '-v') {
    io.out(version());
    return EXIT.OK;
  }
  const run = COMMANDS[command];
  if (!run) {
    io.err(`amber: unknown command '${command}'\n\n${HELP}`);
    return EXIT.CANNOT_RUN;
  }
  try {
    return await run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`amber ${command}: ${e.message} (see 'amber ${command} --help')`);
      return EXIT.CANNOT_RUN;
    }
    io.err(`amber ${command}: ${describeError(e)}`);
    return EXIT.CANNOT_RUN;
  }
}
