/**
 * One checkpoint archive → an Inspection (and memory matches), read as a stream in one pass
 * (collect-archive.ts says what is taken from each member).
 *
 * Each `checkpoint/pages-N.img` is handed chunk by chunk to the argv/env reader and the memory
 * search as it streams past. Those need every process's pagemap and mm before its pages arrive,
 * which the engines' archives give (CRIU images are tarred in lexical order: mm-*, pagemap-*
 * before pages-*). The process tree comes later (pstree.img sorts after pages-*), so the pages are read
 * with layouts decoded from mm/pagemap alone; when the full reader's layouts turn out different
 * (an archive in another order, an orphan pagemap), the memory part is read again from a fresh
 * `open()`, and only then.
 *
 * The memory search locates matches by the pagemaps alone (the process tree does not take part), so
 * that it can hand each match out (`onMatch`) as it is found in the first read: the pagemaps read
 * before the first pages file are final, as a later image cannot change one read earlier (a name read
 * twice keeps its first copy). Only a pages file whose layout grew after it streamed past (a pagemap
 * came after the first pages file) is searched again in the second read, with
 * the matches already handed out kept and not repeated (MemorySearch.relayout). Holding matches back
 * until the process tree is read instead would hold them to the end of the archive, where
 * pstree.img sorts; a pagemap whose process the tree lacks is searched all the same, and said.
 */
import { AmberError } from '../core/amber-error.js';
import { archiveChunks, type OpenArchive } from './archive/archive-chunks.js';
import { CHECKPOINT_DIR as DIR, collectArchive, imageName, PAGES } from './archive/collect-archive.js';
import type { AnalysisWarning, CriuDumpModel, CriuProcess, DumpStatsInfo } from './criu/criu-model.js';
import { containerFacts } from './archive/container-facts.js';
import { inspectedProcess } from './inspected-process.js';
import type { Inspection, MemoryMatch } from './inspection.js';
import { MemorySearch, parseMemoryPattern, type MemoryPattern } from './memory-search.js';
import { ArgvEnvReader, layoutKey, memoryLayouts, type PagesConsumer } from './criu/process-memory.js';
import { filePathsOf, readCriuDump, readStatsDump } from './criu/read-criu-dump.js';
import { walkTar, type TarWalk } from './archive/tar-walk.js';
import type { YaraFindings } from './yara/yara-findings.js';
import { YaraFileScan } from './yara/yara-file-scan.js';
import { YaraMemoryScan } from './yara/yara-memory-scan.js';
import type { YaraRules, YaraScanner } from './yara/yara-rules.js';

export interface InspectOptions {
  /** a literal, or `/regex/flags`, searched in all dumped memory */
  search?: string;
  /** only this process (its entry, and its memory for the search) */
  pid?: number;
  /** entries that are buffered (images, metadata) larger than this are skipped with a warning (default 64 MiB) */
  maxEntryBytes?: number;
  /** bytes of context either side of a match (default 32) */
  contextBytes?: number;
  /** stop the search after this many matches (default 1000) */
  maxMatches?: number;
  /**
   * Called with each memory match as soon as it is certain, once each, in the order of the
   * `matches` returned; most come during the first read of the archive. Not called once `signal`
   * is aborted. If it throws, the reading stops and the inspection rejects with that error.
   */
  onMatch?: (m: MemoryMatch) => void;
  /** Aborting it stops the reading at once (the source is destroyed) and rejects with AmberError SEARCH_CANCELLED. */
  signal?: AbortSignal;
  /**
   * Scans every process's memory (by VMA, yara/yara-memory-scan.ts) and every file added or
   * changed (yara/yara-file-scan.ts) with these rules, in the same pass; the result's `yara`.
   */
  yara?: YaraRules;
  /** wall time the YARA rules may run on one region, a VMA or a file (default 10 s); past it the region is `incomplete` */
  yaraBudgetMs?: number;
  /**
   * A second search in the same read of the memory, for a caller that wants each match with its
   * bytes (the indicator lists' domains, one combined pattern): its own pattern and limit; its
   * matches go to its `onMatch` only, never into `matches`; its warnings join the inspection's.
   */
  scan?: MemoryScan;
}

export interface MemoryScan {
  readonly pattern: MemoryPattern;
  readonly maxMatches: number;
  readonly contextBytes?: number;
  /** keeps only the matches whose bytes it accepts (MemorySearchOptions.accept) */
  readonly accept?: (matched: Buffer) => boolean;
  /** If it throws, the reading stops and the inspection rejects with that error. */
  readonly onMatch: (m: MemoryMatch, matched: Buffer) => void;
}

export interface InspectResult {
  inspection: Inspection;
  matches?: MemoryMatch[];
  yara?: YaraFindings;
}

export type { ArchiveSource, OpenArchive } from './archive/archive-chunks.js';

interface Memory {
  reader: ArgvEnvReader;
  processes: CriuProcess[];
}

const own = (processes: CriuProcess[], opts: InspectOptions) => (opts.pid === undefined ? processes : processes.filter((p) => p.pid === opts.pid));

function buildMemory(processes: CriuProcess[], opts: InspectOptions): Memory {
  const mine = own(processes, opts);
  return { processes: mine, reader: new ArgvEnvReader(mine, DIR) };
}

async function streamPages(file: string, body: AsyncIterable<Buffer>, all: (PagesConsumer | undefined | false)[]): Promise<void> {
  const consumers = all.filter((c): c is PagesConsumer => !!c && c.wants(file));
  let offset = 0;
  try {
    for await (const chunk of body) {
      for (const c of consumers) c.feed(file, offset, chunk);
      offset += chunk.length;
    }
  } finally {
    // A truncated archive ends the file early: the consumers report what is missing from here.
    for (const c of consumers) c.end(file, offset);
  }
}

function tarWarnings(w: TarWalk, warnings: AnalysisWarning[], file: string): void {
  if (w.damage && w.entries > 0)
    warnings.push({ file, message: `the archive is damaged after ${w.entries} entries (${w.damage.message}); what follows is not read` });
  if (w.trailingData)
    warnings.push({ file, message: `${w.trailing} bytes after the end-of-archive marker (an older archive overwritten in place?) were not read` });
  for (const e of w.entryErrors) warnings.push({ file, message: `an entry could not be read: ${e.message}` });
}

/**
 * Reads a checkpoint archive (CRI-O, containerd or Podman layout, or a tarred CRIU folder; plain,
 * gzip or zstd, told by its first bytes) into an Inspection, and searches the dumped memory when
 * `opts.search` is given. Damage anywhere is a warning in the result. Throws AmberError
 * NOT_A_CHECKPOINT when the input is no tar, or a tar with neither `checkpoint/` nor CRIU images;
 * SEARCH_BAD_PATTERN before reading anything when the pattern is empty or its /regex/ does not
 * compile; SEARCH_CANCELLED when `opts.signal` is aborted; and the source's own error when reading it fails.
 */
export async function inspectCheckpoint(open: OpenArchive, opts: InspectOptions = {}): Promise<InspectResult> {
  const pattern = opts.search === undefined ? undefined : parseMemoryPattern(opts.search);
  // One signal for the caller's abort and for an onMatch that throws: either stops the reading.
  const stop = new AbortController();
  const cancel = () => stop.abort(new AmberError('SEARCH_CANCELLED', {}, { cause: opts.signal?.reason }));
  if (opts.signal?.aborted) cancel();
  opts.signal?.addEventListener('abort', cancel, { once: true });
  const scanner = opts.yara?.scanner({ timeoutMs: opts.yaraBudgetMs ?? 10_000 });
  try {
    return await inspect(open, opts, pattern, stop, scanner);
  } finally {
    opts.signal?.removeEventListener('abort', cancel);
    scanner?.close();
  }
}

async function inspect(
  open: OpenArchive,
  opts: InspectOptions,
  pattern: MemoryPattern | undefined,
  stop: AbortController,
  scanner: YaraScanner | undefined,
): Promise<InspectResult> {
  const limit = opts.maxEntryBytes ?? 64 * 1024 * 1024;
  const onMatch = opts.onMatch;
  const emit =
    onMatch &&
    ((m: MemoryMatch) => {
      try {
        onMatch(m);
      } catch (err) {
        stop.abort(err); // hard stop: thrown inside a tar entry, it would otherwise pass as a damaged entry
      }
    });
  const searchOpts = { pid: opts.pid, contextBytes: opts.contextBytes, maxMatches: opts.maxMatches, dir: DIR, signal: stop.signal, onMatch: emit };
  let memory: Memory | undefined;
  let search: MemorySearch | undefined;
  const yaraOpts = { dir: DIR, ...(opts.yaraBudgetMs !== undefined && { budgetMs: opts.yaraBudgetMs }) };
  const yaraFiles = scanner && new YaraFileScan(scanner, yaraOpts);
  let yaraMemory: YaraMemoryScan | undefined;
  let scan: MemorySearch | undefined;
  const scanOpts = opts.scan && {
    pid: opts.pid,
    contextBytes: opts.scan.contextBytes,
    maxMatches: opts.scan.maxMatches,
    accept: opts.scan.accept,
    dir: DIR,
    signal: stop.signal,
    onMatch: guarded(opts.scan.onMatch, stop),
  };
  /** key of each pages file's layout when it streamed past (the argv reader's and the search's) */
  const streamed = new Map<string, string>();
  const stopped = () => {
    if (stop.signal.aborted) throw stop.signal.reason;
  };

  const c = await collectArchive(
    archiveChunks(open, stop.signal),
    limit,
    async (image, body, images) => {
      if (!memory) {
        memory = buildMemory(memoryLayouts(images), opts);
        if (pattern) search = new MemorySearch(memory.processes, pattern, searchOpts);
        if (opts.scan) scan = new MemorySearch(memory.processes, opts.scan.pattern, scanOpts);
        if (scanner) yaraMemory = new YaraMemoryScan(memory.processes, scanner, yaraOpts);
      }
      streamed.set(image, layoutKey(memory.processes, image));
      await streamPages(image, body, [memory.reader, search, scan, yaraMemory]);
    },
    yaraFiles && ((path, size) => yaraFiles.file(path, size)),
  );
  stopped();
  const walk = c.walk;
  if (!c.checkpointDir && c.images.size === 0 && c.pagesStreamed.size === 0) {
    throw new AmberError(
      'NOT_A_CHECKPOINT',
      walk.entries === 0
        ? { reason: walk.damage ? `not a tar: ${walk.damage.message}` : 'empty: no tar entries' }
        : { reason: `a tar of ${walk.entries} entries, with neither ${DIR}/ nor CRIU images` },
    );
  }
  tarWarnings(walk, c.warnings, 'archive');

  // A tarred CRIU folder keeps stats-dump beside the images; the runtimes copy it to the top.
  const stats = c.metadata.get('stats-dump') ?? c.images.get('stats-dump');
  let model: CriuDumpModel;
  try {
    model = readCriuDump(c.images, { dir: DIR });
  } catch (err) {
    // The reader promises not to throw; if it does, the rest of the report still stands.
    model = { processes: [], warnings: [{ file: DIR, message: `the CRIU images could not be read: ${(err as Error).message}` }] };
  }

  // The memory part again, from a fresh open(), only if what streamed past was read with other layouts:
  // the argv reader's by the process tree, the search's by the pagemaps (see the top of this file).
  const finalMemory = buildMemory(model.processes, opts);
  const first = memory as Memory | undefined;
  const mapped = (ps: CriuProcess[]) => ps.flatMap((p) => (p.pagemap ? [`pages-${p.pagemap.pagesId}.img`] : []));
  const changed = (final: CriuProcess[], f: string) => first !== undefined && layoutKey(final, f) !== (streamed.get(f) ?? layoutKey(first.processes, f));
  const stale = [...new Set([...streamed.keys(), ...mapped(finalMemory.processes)])].some((f) => changed(finalMemory.processes, f));
  const searchLayouts = own(memoryLayouts(c.images), opts);
  const redo = [...new Set([...streamed.keys(), ...mapped(searchLayouts)])].filter((f) => changed(searchLayouts, f));
  search ??= pattern && new MemorySearch(searchLayouts, pattern, searchOpts);
  yaraMemory ??= scanner && new YaraMemoryScan(searchLayouts, scanner, yaraOpts);
  if (redo.length > 0) search?.relayout(searchLayouts, redo);
  scan ??= opts.scan && new MemorySearch(searchLayouts, opts.scan.pattern, scanOpts);
  if (redo.length > 0) scan?.relayout(searchLayouts, redo);
  if (redo.length > 0) yaraMemory?.relayout(searchLayouts, redo);
  const reader = stale || !first ? finalMemory : first;
  if (stale || redo.length > 0) {
    const again = await walkTar(
      archiveChunks(open, stop.signal),
      async (e) => {
        const image = imageName(e.name);
        const consumers = [stale && finalMemory.reader, search, scan, yaraMemory];
        if (image !== undefined && PAGES.test(image) && consumers.some((x) => x && x.wants(image))) await streamPages(image, e.body, consumers);
      },
      { drain: false },
    );
    stopped();
    if (again.damage && again.entries === 0) c.warnings.push({ file: 'archive', message: `the second read for memory failed: ${again.damage.message}` });
  }
  const strings = reader.reader.result();
  const searched = search?.result();
  const inMemory = yaraMemory?.result(filePathsOf(c.images));
  const inFiles = yaraFiles?.result();
  const untreed = pattern ? searchLayouts.filter((p) => p.pagemap && !model.processes.some((q) => q.pid === p.pid)).map((p) => p.pid) : [];
  if (untreed.length > 0)
    c.warnings.push({
      file: `${DIR}/pstree.img`,
      message: `the process tree lacks pid(s) ${untreed.join(', ')}, which have pagemaps: their memory was searched all the same`,
    });

  const meta = containerFacts({
    config: c.metadata.get('config.dump'),
    spec: c.metadata.get('spec.dump'),
    status: c.metadata.get('status.dump'),
    networkStatus: c.metadata.get('network.status'),
    dumpLogHead: c.dumpLogHead,
    entryNames: c.names,
  });
  const statsRead = stats ? readStatsDump(stats, 'stats-dump') : undefined;
  const deletedFiles = parseDeletedFiles(c.metadata.get('deleted.files'), c.warnings);

  let processes = model.processes;
  if (opts.pid !== undefined) {
    processes = processes.filter((p) => p.pid === opts.pid);
    if (processes.length === 0) c.warnings.push({ file: `${DIR}/pstree.img`, message: `no process with pid ${opts.pid} in the checkpoint` });
  }
  const arch = model.processes.find((p) => p.arch && p.arch !== 'unknown')?.arch;
  const inspection: Inspection = {
    container: { ...meta.facts, ...(arch && { arch }) },
    processes: processes.map((p) => inspectedProcess(p, strings.byPid.get(p.pid))),
    rootfsDiff: { added: c.rootfs?.added ?? [], deleted: [...new Set([...deletedFiles, ...(c.rootfs?.deleted ?? [])])] },
    mounts: meta.mounts,
    checkpointSize: c.sizes,
    compression: walk.compression,
    stats: statsRead?.stats ?? ({} as DumpStatsInfo),
    warnings: [
      ...c.warnings,
      ...meta.warnings,
      ...(statsRead?.warnings ?? []),
      ...model.warnings,
      ...strings.warnings,
      ...(searched?.warnings ?? []),
      ...(scan?.result().warnings ?? []),
      ...(inMemory?.warnings ?? []),
      ...(inFiles?.warnings ?? []),
    ],
  };
  const yara: YaraFindings | undefined = opts.yara && {
    ruleFiles: [...opts.yara.files],
    matches: [...(inMemory?.matches ?? []), ...(inFiles?.matches ?? [])],
    incomplete: [...(inMemory?.incomplete ?? []), ...(inFiles?.incomplete ?? [])],
  };
  return { inspection, ...(searched && { matches: searched.matches }), ...(yara && { yara }) };
}

/** A callback that throws stops the reading instead: thrown inside a tar entry, it would otherwise pass as a damaged entry. */
function guarded<A extends unknown[]>(fn: (...a: A) => void, stop: AbortController): (...a: A) => void {
  return (...a) => {
    try {
      fn(...a);
    } catch (err) {
      stop.abort(err);
    }
  };
}

function parseDeletedFiles(data: Buffer | undefined, warnings: AnalysisWarning[]): string[] {
  if (!data) return [];
  try {
    const v: unknown = JSON.parse(data.toString('utf8'));
    if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string').map((p) => (p.startsWith('/') ? p : `/${p}`));
    warnings.push({ file: 'deleted.files', message: 'not a JSON array of paths' });
  } catch (e) {
    warnings.push({ file: 'deleted.files', message: `not JSON: ${(e as Error).message}` });
  }
  return [];
}
