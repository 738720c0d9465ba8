import { diffInspections } from '../analysis/diff-inspections.js';
import { inspectCheckpoint } from '../analysis/inspect-checkpoint.js';
import type { Inspection } from '../analysis/inspection.js';
import { isAmberError } from '../core/amber-error.js';
import { describeError, EXIT, parseFlags, UsageError, type Io } from './cli-support.js';
import { readIdentities } from './encryption-setup.js';
import { inputsOf, type Input } from './inspect-command.js';
import { renderDiff } from './render-diff.js';

export const DIFF_HELP = `Usage:
  amber diff A B [--json] [--identity FILE] [--config FILE]
      What changed between two checkpoints of one container, from A to B: the container's facts
      and mounts, its processes (matched by pid), their command lines, environments, open files
      and sockets, and the filesystem changes. It first says whether A and B are one container
      (the same id; the same name in the same pod; or, after a restore, the same processes with
      the same command lines and environments) or different containers, and compares them anyway.
      When each was taken, how long it froze the container and its sizes are shown, not compared.

  A, B             a checkpoint archive (plain, gzip or zstd), or a bundle holding one
  --json           one JSON object: {"kinship","same","a","b","container","mounts","processes",
                   "filesystem","checkpoint"}
  --identity FILE  an age identity file, for encrypted archives
  --config FILE    settings YAML (for S3 bundles: endpoint, path style)
Exit 0 no changes, 1 changes, 2 could not run (an input is not a checkpoint, cannot be read or
decrypted, or the arguments are wrong).
`;

const FLAGS = {
  json: { type: 'boolean' },
  identity: { type: 'string' },
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** An input that is there but cannot be compared: exit 2 with this message, no usage hint. */
class Unreadable extends Error {}

async function inspectOne(
  target: string,
  io: Io,
  configFile: string | undefined,
  identities: Awaited<ReturnType<typeof readIdentities>> | undefined,
): Promise<{ input: Input; inspection: Inspection }> {
  const inputs = await inputsOf(target, io, configFile, identities);
  if (inputs.length !== 1) throw new UsageError(`${target} holds ${inputs.length} checkpoint archives; name one of them`);
  const input = inputs[0] as Input;
  try {
    const { inspection } = await inspectCheckpoint(() => input.open());
    return { input, inspection };
  } catch (e) {
    if (isAmberError(e, 'NOT_A_CHECKPOINT')) throw new Unreadable(`${input.name} is not a checkpoint archive: ${describeError(e)}`);
    if (isAmberError(e) && e.code.startsWith('AGE_')) throw new Unreadable(`${input.name} cannot be decrypted: ${describeError(e)}`);
    throw e;
  }
}

export async function diffCommand(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(args, FLAGS);
  if (values.help) {
    io.out(DIFF_HELP);
    return EXIT.OK;
  }
  if (positionals.length !== 2) throw new UsageError('diff needs two checkpoints, A and B');
  const identities = values.identity === undefined ? undefined : await readIdentities(values.identity);
  // one after the other: each is streamed, and two at once would only share the disk
  let a: Awaited<ReturnType<typeof inspectOne>>, b: typeof a;
  try {
    a = await inspectOne(positionals[0] as string, io, values.config, identities);
    b = await inspectOne(positionals[1] as string, io, values.config, identities);
  } catch (e) {
    if (!(e instanceof Unreadable)) throw e;
    io.err(`amber diff: ${e.message}`);
    return EXIT.CANNOT_RUN;
  }
  const diff = diffInspections(a.inspection, b.inspection);
  if (values.json) {
    io.out(JSON.stringify({ ...diff, a: { archive: a.input.name, ...diff.a }, b: { archive: b.input.name, ...diff.b } }, null, 2));
  } else {
    io.out(renderDiff([a.input.name, b.input.name], diff));
  }
  return diff.same ? EXIT.OK : EXIT.NO;
}
