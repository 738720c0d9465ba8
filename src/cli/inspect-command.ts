import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { inspectCheckpoint } from '../analysis/inspect-checkpoint.js';
import { readFileChunks } from '../analysis/archive/read-file-chunks.js';
import type { Inspection, MemoryMatch } from '../analysis/inspection.js';
import { triageIndicators, type Indicator } from '../analysis/triage-indicators.js';
import type { IndicatorList, ListKind, ListSpec } from '../analysis/lists/indicator-list.js';
import { IndicatorLists } from '../analysis/lists/indicator-lists.js';
import { ListMatcher } from '../analysis/lists/list-matcher.js';
import { loadYaraRules } from '../analysis/yara/load-yara-rules.js';
import type { YaraFindings } from '../analysis/yara/yara-findings.js';
import { yaraIndicators } from '../analysis/yara/yara-indicators.js';
import type { YaraRules } from '../analysis/yara/yara-rules.js';
import { yaraXEngine } from '../analysis/yara/yara-x-engine.js';
import type { Settings } from '../config/settings.js';
import { isAmberError } from '../core/amber-error.js';
import { createAgeDecryptStream } from '../evidence/age/age-decrypt.js';
import type { AgeIdentity } from '../evidence/age/age-keys.js';
import { readIdentities } from './encryption-setup.js';
import { describeError, EXIT, parseFlags, UsageError, type Io } from './cli-support.js';
import { renderInspection, renderMatches } from './render-inspection.js';

export const INSPECT_HELP = `Usage:
  amber inspect ARCHIVE|BUNDLE [--json] [--search TEXT|/REGEX/flags] [--pid N] [--yara FILE|DIR]… [--list KIND:FILE]…
                [--identity FILE] [--config FILE]
      Reads a checkpoint archive without CRIU and without restoring anything: the container
      (engine, OCI runtime, image, pod, addresses, mounts, annotations), the process tree with
      command lines and environments, open files and connections (with their queues) per
      process, the filesystem changes, the checkpoint's sizes, CRIU's dump statistics, and
      triage indicators. The archive is streamed (any size, flat memory). Damaged parts are
      reported as warnings.

  ARCHIVE          a checkpoint archive as CRI-O, containerd or Podman wrote it: plain, gzip or
                   zstd (told by its first bytes, not its name)
  BUNDLE           an evidence bundle: its directory, file:// URI or s3://bucket/…/<capture-id>
                   (every checkpoint-<container>.tar in it is read)
  --json           one JSON object: {"container","processes","rootfsDiff","mounts","checkpointSize",
                   "compression","stats","warnings","indicators"}
                   (a bundle with several archives: {"checkpoints":[…]} of those)
  --search S       search all process memory for TEXT, or /REGEX/flags; prints each match's
                   process, address and surrounding bytes ({"matches":[…]} with --json)
  --yara FILE|DIR  scan every process's memory and every added or changed file with the YARA
                   rules in FILE, or in DIR's .yar/.yara files (repeatable); the matches are
                   indicators, listed with their process, address and mapping or path
                   ({"yara":{"matches":[…],"incomplete":[…]}} with --json)
  --pid N          only this process (and, with --search, only its memory)
  --list KIND:FILE an indicator list to match (repeatable): sha256:FILE (files in the rootfs diff,
                   and processes running them), address:FILE (sockets), domain:FILE (memory);
                   matches are indicators naming the list (the file's name) and the entry
  --identity FILE  an age identity file: reads encrypted archives (checkpoint-….tar.age, or an
                   ARCHIVE.age file) by decrypting them as a stream
  --config FILE    settings YAML (for S3: endpoint, path style; its analysis.lists are matched too)
Exit 0 read (with or without warnings), 1 not a checkpoint, 2 could not run.
`;

const FLAGS = {
  json: { type: 'boolean' },
  search: { type: 'string' },
  yara: { type: 'string', multiple: true },
  pid: { type: 'string' },
  identity: { type: 'string' },
  config: { type: 'string' },
  list: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface Input {
  readonly name: string;
  open(): Promise<Readable | AsyncIterable<Buffer>>;
}

export async function inspectCommand(args: readonly string[], io: Io): Promise<number> {
  const { values, positionals } = parseFlags(args, FLAGS);
  if (values.help) {
    io.out(INSPECT_HELP);
    return EXIT.OK;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'inspect needs an ARCHIVE or BUNDLE' : 'inspect takes one ARCHIVE or BUNDLE');
  let pid: number | undefined;
  if (values.pid !== undefined) {
    pid = Number(values.pid);
    if (!Number.isInteger(pid) || pid <= 0) throw new UsageError(`--pid must be a process id, not '${values.pid}'`);
  }
  if (values.search === '') throw new UsageError('--search needs a text or a /regex/');
  const identities = values.identity === undefined ? undefined : await readIdentities(values.identity);
  const inputs = await inputsOf(positionals[0] as string, io, values.config, identities);
  const yara = await rulesOf(values.yara ?? []);
  const options = { ...(values.search !== undefined ? { search: values.search } : {}), ...(pid !== undefined ? { pid } : {}), ...(yara && { yara }) };
  const lists = await listsOf(values.list ?? [], values.config, io);

  const results: { input: Input; inspection: Inspection; matches?: MemoryMatch[]; yara?: YaraFindings; indicators: Indicator[] }[] = [];
  for (const input of inputs) {
    try {
      const matcher = new ListMatcher(lists);
      const { inspection, matches, yara: found } = await inspectCheckpoint(() => input.open(), { ...options, ...(matcher.scan && { scan: matcher.scan }) });
      const indicators = [...triageIndicators(inspection), ...matcher.indicators(inspection), ...(found ? yaraIndicators(found) : [])];
      results.push({ input, inspection, indicators, ...(matches ? { matches } : {}), ...(found ? { yara: found } : {}) });
    } catch (e) {
      if (isAmberError(e) && e.code.startsWith('AGE_')) {
        io.err(`amber inspect: ${input.name} cannot be decrypted: ${describeError(e)}`);
        return EXIT.CANNOT_RUN;
      }
      if (isAmberError(e, 'NOT_A_CHECKPOINT')) {
        io.err(`amber inspect: ${input.name} is not a checkpoint archive: ${describeError(e)}`);
        return EXIT.NO;
      }
      if (e instanceof UsageError) throw e;
      if (isAmberError(e, 'SEARCH_BAD_PATTERN')) throw new UsageError(describeError(e));
      throw e;
    }
  }

  if (values.search !== undefined) {
    const matches = results.flatMap((r) => (r.matches ?? []).map((m) => ({ ...(results.length > 1 ? { archive: r.input.name } : {}), ...m })));
    const warnings = results.flatMap((r) => r.inspection.warnings);
    const yara = results.flatMap((r) => (r.yara ? [{ ...(results.length > 1 ? { archive: r.input.name } : {}), ...r.yara }] : []));
    const found = yara.length === 0 ? {} : { yara: yara.length === 1 && results.length === 1 ? yara[0] : yara };
    if (values.json) io.out(JSON.stringify({ matches, ...found, ...(warnings.length > 0 ? { warnings } : {}) }, null, 2));
    else io.out(renderMatches(matches, warnings));
    return EXIT.OK;
  }
  if (values.json) {
    const objects = results.map((r) => ({
      ...(results.length > 1 ? { archive: r.input.name } : {}),
      ...r.inspection,
      indicators: r.indicators,
      ...(r.yara ? { yara: r.yara } : {}),
    }));
    io.out(JSON.stringify(objects.length === 1 ? objects[0] : { checkpoints: objects }, null, 2));
  } else {
    io.out(results.map((r) => renderInspection(r.input.name, r.inspection, r.indicators, r.yara)).join('\n'));
  }
  return EXIT.OK;
}

/** The rules of --yara, compiled before any archive is read: a bad rule is the caller's to fix (file and line), not an archive's fault. */
async function rulesOf(paths: readonly string[]): Promise<YaraRules | undefined> {
  try {
    return await loadYaraRules(paths, yaraXEngine());
  } catch (e) {
    if (isAmberError(e, 'YARA_RULES_INVALID')) throw new UsageError(describeError(e));
    throw e;
  }
}

/**
 * The settings (and the bundle stores below) are imported only when they are used: with TypeBox and
 * the S3 SDK they take half a second to load, which an archive on disk need not pay.
 */
async function settingsOf(configFile: string | undefined, io: Io): Promise<Settings> {
  const { loadSettings } = await import('../config/load-settings.js');
  return loadSettings({ flags: {}, env: io.env, configFile });
}

/**
 * `--list KIND:FILE` (named after the file) and the --config file's `analysis.lists`, loaded as a
 * server loads them: a bad line is a usage error naming the file and line.
 */
async function listsOf(given: readonly string[], configFile: string | undefined, io: Io): Promise<readonly IndicatorList[]> {
  const specs: ListSpec[] = given.map((arg) => {
    const m = /^(sha256|address|domain):(.+)$/.exec(arg);
    if (!m) throw new UsageError(`--list takes KIND:FILE with KIND sha256, address or domain, not '${arg}'`);
    return { name: basename(m[2] as string), kind: m[1] as ListKind, path: m[2] as string };
  });
  if (configFile !== undefined) specs.push(...(await settingsOf(configFile, io)).analysis.lists);
  try {
    return await (await IndicatorLists.load(specs)).current();
  } catch (e) {
    if (isAmberError(e) && (e.code.startsWith('INDICATOR_LIST_') || e.code === 'CONFIG_INVALID')) throw new UsageError(describeError(e));
    throw e;
  }
}

/**
 * A plain file is an archive; a directory, file:// or s3:// target is a bundle. Encrypted ones
 * (`.age`) are decrypted on the fly with the identities; without them they are a usage error.
 */
export async function inputsOf(target: string, io: Io, configFile: string | undefined, identities: readonly AgeIdentity[] | undefined): Promise<Input[]> {
  const decrypting = (name: string, open: () => Promise<Readable>): Input => {
    if (!name.endsWith('.age')) return { name, open };
    if (identities === undefined) throw new UsageError(`${name} is encrypted: pass --identity FILE (an age identity of one of its recipients)`);
    return {
      name,
      open: async () => {
        const decrypt = createAgeDecryptStream(identities);
        const body = await open();
        body.on('error', (e) => decrypt.destroy(e));
        return body.pipe(decrypt);
      },
    };
  };
  if (!target.startsWith('s3://')) {
    const path = target.startsWith('file://') ? fileURLToPath(target) : resolve(target);
    const s = await stat(path).catch(() => undefined);
    if (s?.isFile()) {
      // readFileChunks reuses its buffers (about 3× a read stream): only for inspectCheckpoint, which copies what it keeps
      if (!path.endsWith('.age')) return [{ name: path, open: async () => readFileChunks(path) }];
      return [decrypting(path, async () => createReadStream(path, { highWaterMark: 1024 * 1024 }))];
    }
  }
  const s3 = target.startsWith('s3://') ? (await settingsOf(configFile, io)).s3 : (await import('../config/settings.js')).DEFAULT_SETTINGS.s3;
  const { source } = await (await import('./bundle-target.js')).openBundleTarget(target, s3);
  const archives = (await source.list()).filter((n) => /^checkpoint-.+\.tar(\.age)?$/.test(n));
  if (archives.length === 0) throw new UsageError(`${source.location} holds no checkpoint-<container>.tar`);
  return archives.map((name) => decrypting(`${source.location}/${name}`, () => source.open(name)));
}
