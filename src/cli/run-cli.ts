import { describeError, EXIT, processIo, UsageError, version, type Io } from './cli-support.js';

const HELP = `amber ${version()} — preserve suspect Kubernetes containers as signed evidence

Usage: amber <command> [options]

Commands:
  serve              all-in-one: alert intake, policies, embedded capture queue
  responder          in a cluster: intake and policies; creates Capture resources
  agent              in a cluster, one per node: runs the Captures of its node
  policy validate    check the policy set exactly as serve does at start-up
  policy test FILE…  show which policies an alert matches and what it would capture
  demo               the whole flow against a simulated cluster: alert → sealed, verified bundle
  verify TARGET      check an evidence bundle's signature, hashes and custody chain
  inspect TARGET     what a checkpoint holds: processes, connections, dropped files, memory search
  diff A B           what changed between two checkpoints: processes, command lines, files, sockets
  restore TARGET     a verified capture as a checkpoint image (OCI layout, registry), a sandbox pod or a local Podman
  jwks               print the public key set that verifies the manifests

Run 'amber <command> --help' for a command's options.
Exit codes: 0 ok, 1 the answer is "no" (invalid input), 2 could not run.
`;

type Command = (args: readonly string[], io: Io) => Promise<number>;

/**
 * Each command is loaded when it runs: the Kubernetes client alone takes over a second to import,
 * which `amber verify` and `amber --version` should not pay, nor a restarted agent more than once.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./roles/serve-command.js')).serveCommand,
  responder: async () => (await import('./roles/responder-command.js')).responderCommand,
  agent: async () => (await import('./roles/agent-command.js')).agentCommand,
  policy: async () => (await import('./policy-command.js')).policyCommand,
  verify: async () => (await import('./verify-command.js')).verifyCommand,
  demo: async () => (await import('./demo-command.js')).demoCommand,
  jwks: async () => (await import('./jwks-command.js')).jwksCommand,
  inspect: async () => (await import('./inspect-command.js')).inspectCommand,
  diff: async () => (await import('./diff-command.js')).diffCommand,
  restore: async () => (await import('./restore-command.js')).restoreCommand,
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
  const load = COMMANDS[command];
  if (!load) {
    io.err(`amber: unknown command '${command}'\n\n${HELP}`);
    return EXIT.CANNOT_RUN;
  }
  try {
    return await (
      await load()
    )(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`amber ${command}: ${e.message} (see 'amber ${command} --help')`);
      return EXIT.CANNOT_RUN;
    }
    io.err(`amber ${command}: ${describeError(e)}`);
    return EXIT.CANNOT_RUN;
  }
}
