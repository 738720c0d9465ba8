/**
 * The container's filesystem changes from a checkpoint's `rootfs-diff.tar`, streamed.
 *
 * CRI-O and Podman write a plain tar of the changed paths (deletions go to `deleted.files`);
 * containerd writes the container's rw layer as an OCI layer blob, gzip-compressed whatever the
 * member's name says, where a deletion is a whiteout entry `.wh.<name>` and `.wh..wh..opq` marks a
 * directory whose lower contents are hidden. No engine writes it zstd-compressed; walkTar would
 * read that too (the compression is told by the first bytes). Regular files are hashed (SHA-256) as they stream past; nothing is kept but the facts.
 */
import { createHash } from 'node:crypto';
import type { AnalysisWarning } from '../criu/criu-model.js';
import type { RootfsChange } from '../inspection.js';
import { walkTar } from './tar-walk.js';

/** A diff with more entries than this is summarised by a warning, not listed. */
export const MAX_ROOTFS_ENTRIES = 200_000;

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';

export interface RootfsDiff {
  added: RootfsChange[];
  deleted: string[];
  warnings: AnalysisWarning[];
}

const TYPES: Readonly<Record<string, string>> = { file: 'file', 'contiguous-file': 'file', directory: 'dir', symlink: 'symlink', link: 'hardlink' };

const absolute = (name: string) => '/' + name.replace(/\/+$/, '');

/** Copies each chunk: the nested parser (and gunzip) hold on to what they are given, and the outer source may reuse its buffers. */
async function* copied(body: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  for await (const c of body) yield Buffer.from(c);
}

/** Something that reads each regular file's bytes as they stream past (the YARA scan of added files). */
export type RootfsFileReader = (path: string, size: number) => { write(chunk: Buffer): void; end(): void };

export async function readRootfsDiff(body: AsyncIterable<Buffer>, file = 'rootfs-diff.tar', onFile?: RootfsFileReader): Promise<RootfsDiff> {
  const added: RootfsChange[] = [];
  const deleted: string[] = [];
  const warnings: AnalysisWarning[] = [];
  let skipped = 0;
  const walk = await walkTar(copied(body), async ({ name, header, body: data }) => {
    if (name === '') return;
    const path = absolute(name);
    const slash = path.lastIndexOf('/');
    const dir = path.slice(0, slash),
      base = path.slice(slash + 1);
    if (base === OPAQUE) {
      deleted.push(`${dir}/*`);
      return;
    }
    if (base.startsWith(WHITEOUT)) {
      deleted.push(`${dir}/${base.slice(WHITEOUT.length)}`);
      return;
    }
    if (added.length >= MAX_ROOTFS_ENTRIES) {
      skipped++;
      return;
    }
    const type = TYPES[header.type] ?? 'other';
    const mode = header.mode & 0o7777;
    const change: RootfsChange = { path, type, size: 0, mode: mode.toString(8).padStart(4, '0'), executable: false };
    if (type === 'file') {
      const hash = createHash('sha256');
      const reader = onFile?.(path, header.size ?? 0);
      let size = 0;
      for await (const chunk of data) {
        hash.update(chunk);
        reader?.write(chunk);
        size += chunk.length;
      }
      reader?.end();
      change.size = size;
      change.sha256 = hash.digest('hex');
    }
    if (type === 'file' || type === 'hardlink') change.executable = (mode & 0o111) !== 0;
    if (type === 'symlink' && header.linkname) change.linkTarget = header.linkname;
    if (type === 'hardlink' && header.linkname) change.linkTarget = absolute(header.linkname.replace(/^(\.\/)+/, ''));
    added.push(change);
  });
  if (walk.entries === 0 && walk.damage)
    warnings.push({ file, message: `not a readable tar${walk.compression !== 'none' ? ` (${walk.compression})` : ''}: ${walk.damage.message}` });
  else if (walk.damage) warnings.push({ file, message: `damaged after ${walk.entries} entries: ${walk.damage.message}; the changes after that are unknown` });
  for (const e of walk.entryErrors) warnings.push({ file, message: `an entry could not be read: ${e.message}` });
  if (skipped > 0) warnings.push({ file, message: `${skipped} further changed paths not listed (more than ${MAX_ROOTFS_ENTRIES})` });
  return { added, deleted, warnings };
}
