/**
 * One pass over a checkpoint archive's tar: what inspect-checkpoint.ts needs from each member.
 *
 * - CRIU images (`checkpoint/*.img`, or a tarred CRIU folder's top-level images) are buffered up to
 *   a limit; `checkpoint/pages-N.img` are handed to `onPages` as a stream, never buffered.
 * - The engine's small metadata files (config.dump, spec.dump, status.dump, stats-dump,
 *   deleted.files, network.status) are buffered up to the same limit.
 * - `rootfs-diff.tar` is read as a nested stream (rootfs-diff.ts), compressed or not.
 * - Of `dump.log`, only the start is kept (CRIU's version); other logs (`ctr.log`, `container.log`,
 *   `io.kubernetes.cri-o.LogPath`) and everything else are skipped.
 * - Sizes are summed from the tar headers as checkpointctl sums them (inspection.ts CheckpointSize).
 */
import { classifyImage } from '../criu/criu-image.js';
import type { AnalysisWarning } from '../criu/criu-model.js';
import type { CheckpointSize, RootfsChange } from '../inspection.js';
import { readRootfsDiff, type RootfsFileReader } from './rootfs-diff.js';
import { walkTar, type TarEntry, type TarWalk } from './tar-walk.js';

export const CHECKPOINT_DIR = 'checkpoint';
export const PAGES = /^pages-\d+\.img$/;
const METADATA = new Set(['config.dump', 'spec.dump', 'status.dump', 'stats-dump', 'deleted.files', 'network.status']);
const DUMP_LOG = 'dump.log';
/** CRIU prints its version within the first lines of a log. */
const LOG_HEAD_BYTES = 4096;

export interface ArchiveContents {
  images: Map<string, Buffer>;
  metadata: Map<string, Buffer>;
  dumpLogHead?: string;
  /** top-level entry names, without a trailing `/` */
  names: Set<string>;
  checkpointDir: boolean;
  rootfs?: { added: RootfsChange[]; deleted: string[] };
  sizes: CheckpointSize;
  /** the pages files handed to `onPages`, in archive order */
  pagesStreamed: Set<string>;
  walk: TarWalk;
  warnings: AnalysisWarning[];
}

/** The image name of an entry: `checkpoint/x` → `x`; a top-level CRIU image (a tarred dump folder) as is. */
export function imageName(name: string): string | undefined {
  if (name.startsWith(`${CHECKPOINT_DIR}/`)) return name.slice(CHECKPOINT_DIR.length + 1) || undefined;
  if (!name.includes('/') && name.endsWith('.img') && classifyImage(name).kind !== 'unknown') return name;
  return undefined;
}

async function buffered(e: TarEntry, limit: number, warnings: AnalysisWarning[]): Promise<Buffer | undefined> {
  if (e.header.size > limit) {
    warnings.push({ file: e.name, message: `${e.header.size} bytes, more than the ${limit} read for an image or metadata file; skipped` });
    return undefined;
  }
  const chunks: Buffer[] = [];
  for await (const c of e.body) chunks.push(Buffer.from(c)); // a copy: the source may reuse its buffers
  return Buffer.concat(chunks);
}

async function head(e: TarEntry, bytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  // read to the end: leaving a tar-stream entry early would destroy the whole parser
  for await (const c of e.body) {
    if (n >= bytes) continue;
    chunks.push(Buffer.from(c.subarray(0, bytes - n)));
    n += Math.min(c.length, bytes - n);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const regular = (e: TarEntry) => e.header.type === 'file' || e.header.type === 'contiguous-file';

/**
 * Walks the archive once. `onPages(image, body, images)` is called for each pages file with the
 * images collected so far; it must read (or leave) `body` before resolving. `onRootfsFile` reads
 * each regular file of `rootfs-diff.tar` as it streams past.
 */
export async function collectArchive(
  source: AsyncIterable<Buffer | Uint8Array>,
  limit: number,
  onPages: (image: string, body: AsyncIterable<Buffer>, images: ReadonlyMap<string, Buffer>) => Promise<void>,
  onRootfsFile?: RootfsFileReader,
): Promise<ArchiveContents> {
  const c: Omit<ArchiveContents, 'walk'> = {
    images: new Map(),
    metadata: new Map(),
    names: new Set(),
    checkpointDir: false,
    pagesStreamed: new Set(),
    warnings: [],
    sizes: { totalBytes: 0, memoryPagesBytes: 0, rootfsDiffBytes: 0 },
  };
  const twice = (file: string) => c.warnings.push({ file, message: 'appears twice in the archive; the first copy was read' });

  const walk = await walkTar(
    source,
    async (e) => {
      const { name, header } = e;
      if (name === '') return;
      c.names.add(name.replace(/\/$/, '').split('/')[0] as string);
      if (name === `${CHECKPOINT_DIR}/` || name === CHECKPOINT_DIR) {
        c.checkpointDir = true;
        return;
      }
      if (header.type === 'directory') return;
      if (name.startsWith(`${CHECKPOINT_DIR}/`) && regular(e)) {
        c.sizes.totalBytes += header.size;
        if (name.startsWith(`${CHECKPOINT_DIR}/pages-`)) c.sizes.memoryPagesBytes += header.size;
      }
      const image = imageName(name);
      if (image !== undefined) {
        c.checkpointDir ||= name.startsWith(`${CHECKPOINT_DIR}/`);
        if (!regular(e)) return;
        if (PAGES.test(image)) {
          if (c.pagesStreamed.has(image)) {
            twice(name);
            return;
          }
          c.pagesStreamed.add(image);
          await onPages(image, e.body, c.images);
          return;
        }
        if (c.images.has(image)) {
          twice(name);
          return;
        }
        const data = await buffered(e, limit, c.warnings);
        if (data) c.images.set(image, data);
        return;
      }
      if (name === 'rootfs-diff.tar') {
        if (c.rootfs) {
          twice(name);
          return;
        }
        c.sizes.rootfsDiffBytes = header.size;
        const diff = await readRootfsDiff(e.body, name, onRootfsFile);
        c.rootfs = { added: diff.added, deleted: diff.deleted };
        c.warnings.push(...diff.warnings);
        return;
      }
      if (name === DUMP_LOG && c.dumpLogHead === undefined) {
        c.dumpLogHead = await head(e, LOG_HEAD_BYTES);
        return;
      }
      if (METADATA.has(name)) {
        if (c.metadata.has(name)) {
          twice(name);
          return;
        }
        const data = await buffered(e, limit, c.warnings);
        if (data) c.metadata.set(name, data);
      }
    },
    { drain: false },
  );
  return { ...c, walk };
}
