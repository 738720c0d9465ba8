/**
 * The indicator lists of the settings, kept current while the server runs.
 *
 * Reload is a stat of each file before it is used (every triage report asks `current()`), plus
 * an optional periodic check (`watch`) whose only purpose is to log a broken edit soon after it
 * is made rather than at the next capture. Not fs.watch: a Kubernetes ConfigMap or Secret volume
 * updates by swapping a `..data` symlink, so a watch on the file never fires; watches miss edits
 * on network filesystems and fire several times for one save. A stat per list per report costs
 * nothing next to reading a checkpoint, and the report always matches the newest good version.
 *
 * A list whose new version cannot be read or parsed keeps its last good version, and the problem
 * is logged once per version (a half-written file seen mid-save is logged and then superseded).
 */
import { readFile, stat } from 'node:fs/promises';
import { AmberError } from '../../core/amber-error.js';
import { entryCount, parseIndicatorList, type IndicatorList, type ListSource, type ListSpec } from './indicator-list.js';

/** The two file calls the lists make; node's by default, a test's own to count or fail them. */
export interface ListFiles {
  readFile(path: string): Promise<Buffer>;
  /** what tells one version of a file from the next */
  stat(path: string): Promise<{ ino: number; size: number; mtimeMs: number; ctimeMs: number }>;
}

/** The subset of pino's Logger the lists log with. */
export interface ListLog {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** setInterval and clearInterval, injected so that a test ticks by hand. */
export interface ListTimers {
  setInterval(fn: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const NODE_FILES: ListFiles = { readFile: (p) => readFile(p), stat: (p) => stat(p) };
const NODE_TIMERS: ListTimers = {
  // unref: a pending check never keeps a stopping process alive
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
};

interface Slot {
  readonly spec: ListSpec;
  good: IndicatorList;
  /** signature of the version `good` was read from */
  version: string;
  /** signature of a version that failed, so that it is logged once */
  failed?: string;
}

const signature = (s: Awaited<ReturnType<ListFiles['stat']>>) => `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;

export class IndicatorLists implements ListSource {
  private refreshing: Promise<readonly IndicatorList[]> | undefined;

  private constructor(
    private readonly slots: readonly Slot[],
    private readonly files: ListFiles,
    private readonly log: ListLog | undefined,
  ) {}

  /**
   * Reads and parses every list: the check a role runs before it starts (and `amber policy
   * validate`). Throws INDICATOR_LIST_UNREADABLE, INDICATOR_LIST_INVALID (file and line), or
   * CONFIG_INVALID for two lists of one name.
   */
  static async load(specs: readonly ListSpec[], opts: { log?: ListLog; files?: ListFiles } = {}): Promise<IndicatorLists> {
    const files = opts.files ?? NODE_FILES;
    const names = new Set<string>();
    const slots: Slot[] = [];
    for (const [i, spec] of specs.entries()) {
      if (names.has(spec.name)) throw new AmberError('CONFIG_INVALID', { setting: `analysis.lists[${i}].name`, problem: `two lists are named ${spec.name}` });
      names.add(spec.name);
      const read = await readList(spec, files);
      slots.push({ spec, good: read.list, version: read.version });
    }
    const lists = new IndicatorLists(slots, files, opts.log);
    if (slots.length > 0) opts.log?.info({ lists: slots.map((s) => describe(s.good)) }, 'indicator lists loaded');
    return lists;
  }

  /** The lists as they are on disk now, a list that broke since it was last read as it was then. */
  current(): Promise<readonly IndicatorList[]> {
    // one check at a time: concurrent reports share it, and a broken version is logged once
    this.refreshing ??= this.refresh().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  /** Checks the lists every `everyMs` until the returned function is called. */
  watch(everyMs: number, timers: ListTimers = NODE_TIMERS): () => void {
    const handle = timers.setInterval(() => void this.current(), everyMs);
    return () => timers.clearInterval(handle);
  }

  private async refresh(): Promise<readonly IndicatorList[]> {
    for (const slot of this.slots) {
      let version: string;
      try {
        version = signature(await this.files.stat(slot.spec.path));
      } catch (cause) {
        this.failed(slot, `missing:${(cause as NodeJS.ErrnoException).code ?? ''}`, new AmberError('INDICATOR_LIST_UNREADABLE', where(slot.spec), { cause }));
        continue;
      }
      if (version === slot.version) delete slot.failed;
      if (version === slot.version || version === slot.failed) continue;
      try {
        const read = await readList(slot.spec, this.files);
        slot.good = read.list;
        slot.version = read.version;
        delete slot.failed;
        this.log?.info(describe(read.list), 'indicator list reloaded');
      } catch (err) {
        this.failed(slot, version, err);
      }
    }
    return this.slots.map((s) => s.good);
  }

  private failed(slot: Slot, version: string, err: unknown): void {
    if (slot.failed === version) return;
    slot.failed = version;
    this.log?.error(
      { err, ...where(slot.spec), kept: { sha256: slot.good.sha256, entries: entryCount(slot.good) } },
      'indicator list not reloaded: its last good version stays in use',
    );
  }
}

const where = (spec: ListSpec) => ({ list: spec.name, file: spec.path });

const describe = (l: IndicatorList) => ({ list: l.name, kind: l.kind, file: l.path, entries: entryCount(l), sha256: l.sha256 });

async function readList(spec: ListSpec, files: ListFiles): Promise<{ list: IndicatorList; version: string }> {
  let bytes: Buffer;
  let version: string;
  try {
    // the stat first: a file changed while it is read has a newer signature, and is read again next time
    version = signature(await files.stat(spec.path));
    bytes = await files.readFile(spec.path);
  } catch (cause) {
    throw new AmberError('INDICATOR_LIST_UNREADABLE', where(spec), { cause });
  }
  return { list: parseIndicatorList(spec, bytes), version };
}
