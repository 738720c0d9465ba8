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
 */
import type { Readable } from 'node:stream';
import { AmberError } from '../core/amber-error.js';
import { CHECKPOINT_DIR as DIR, collectArchive, imageName, PAGES } from './archive/collect-archive.js';
import type { AnalysisWarning, CriuDumpModel, CriuProcess, DumpStatsInfo } from './criu/criu-model.js';
import { containerFacts } from './archive/container-facts.js';
import { inspectedProcess } from './inspected-process.js';
import type { Inspection, MemoryMatch } from './inspection.js';
import { MemorySearch, parseMemoryPattern, type MemoryPattern } from './memory-search.js';
import { ArgvEnvReader, layoutKey, memoryLayouts, type PagesConsumer } from './criu/process-memory.js';
import { readCriuDump, readStatsDump } from './criu/read-criu-dump.js';
import { walkTar, type TarWalk } from './archive/tar-walk.js';

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
}

/**
 * Opens the archive from its start; called once, or twice when the pages came before the images
 * that map them. A `Readable` (e.g. `createReadStream(path, { highWaterMark: 1 << 20 })`) or
 * any async iterable of chunks; `readFileChunks(path)` is the fast one for a file.
 */
export type OpenArchive = () => ArchiveSource | Promise<ArchiveSource>;
export type ArchiveSource = Readable | AsyncIterable<Buffer | Uint8Array>;

interface Memory {
  reader: ArgvEnvReader;
  search?: MemorySearch;
  processes: CriuProcess[];
}

function buildMemory(processes: CriuProcess[], pattern: MemoryPattern | undefined, opts: InspectOptions): Memory {
  const own = opts.pid === undefined ? processes : processes.filter((p) => p.pid === opts.pid);
  return {
    processes: own,
    reader: new ArgvEnvReader(own, DIR),
    ...(pattern && { search: new MemorySearch(own, pattern, { pid: opts.pid, contextBytes: opts.contextBytes, maxMatches: opts.maxMatches, dir: DIR }) }),
  };
}

async function streamPages(file: string, body: AsyncIterable<Buffer>, memory: Memory): Promise<void> {
  const consumers: PagesConsumer[] = [memory.reader, ...(memory.search ? [memory.search] : [])].filter((c) => c.wants(file));
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

async function* chunksOf(open: OpenArchive): AsyncIterable<Buffer | Uint8Array> {
  const source = await open();
  for await (const c of source) yield c as Buffer | Uint8Array;
}

/**
 * Reads a checkpoint archive (CRI-O, containerd or Podman layout, or a tarred CRIU folder; plain,
 * gzip or zstd, told by its first bytes) into an Inspection, and searches the dumped memory when
 * `opts.search` is given. Damage anywhere is a warning in the result. Throws AmberError
 * NOT_A_CHECKPOINT when the input is no tar, or a tar with neither `checkpoint/` nor CRIU images;
 * SEARCH_BAD_PATTERN before reading anything when the pattern is empty or its /regex/ does not
 * compile; and the source's own error when reading it fails.
 */
export async function inspectCheckpoint(open: OpenArchive, opts: InspectOptions = {}): Promise<{ inspection: Inspection; matches?: MemoryMatch[] }> {
  const pattern = opts.search === undefined ? undefined : parseMemoryPattern(opts.search);
  const limit = opts.maxEntryBytes ?? 64 * 1024 * 1024;
  let memory: Memory | undefined;
  /** key of each pages file's layout when it streamed past */
  const streamed = new Map<string, string>();

  const c = await collectArchive(chunksOf(open), limit, async (image, body, images) => {
    memory ??= buildMemory(memoryLayouts(images), pattern, opts);
    streamed.set(image, layoutKey(memory.processes, image));
    await streamPages(image, body, memory);
  });
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

  // The memory part again, from a fresh open(), only if what streamed past was read with other layouts.
  const finalMemory = buildMemory(model.processes, pattern, opts);
  const first = memory as Memory | undefined;
  const files = new Set([...streamed.keys(), ...finalMemory.processes.flatMap((p) => (p.pagemap ? [`pages-${p.pagemap.pagesId}.img`] : []))]);
  const stale = first !== undefined && [...files].some((f) => layoutKey(finalMemory.processes, f) !== (streamed.get(f) ?? layoutKey(first.processes, f)));
  if (stale) {
    const again = await walkTar(
      chunksOf(open),
      async (e) => {
        const image = imageName(e.name);
        const wanted = image !== undefined && PAGES.test(image) && (finalMemory.reader.wants(image) || finalMemory.search?.wants(image) === true);
        if (wanted) await streamPages(image, e.body, finalMemory);
      },
      { drain: false },
    );
    if (again.damage && again.entries === 0) c.warnings.push({ file: 'archive', message: `the second read for memory failed: ${again.damage.message}` });
  }
  const used = stale || !first ? finalMemory : first;
  const strings = used.reader.result();
  const searched = used.search?.result();

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
    warnings: [...c.warnings, ...meta.warnings, ...(statsRead?.warnings ?? []), ...model.warnings, ...strings.warnings, ...(searched?.warnings ?? [])],
  };
  return { inspection, ...(searched && { matches: searched.matches }) };
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
