import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomBytes } from 'node:crypto';
import { AmberError } from '../core/amber-error.js';
import { HashStream } from '../core/hash-stream.js';
import { OCI_INDEX, type CheckpointImage, type Descriptor } from './checkpoint-image.js';

const LAYOUT_FILE = 'oci-layout';
const REF_NAME = 'org.opencontainers.image.ref.name';

interface Index {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

/**
 * Writes `image` into the OCI image layout `dir` (made when absent; a layout already there gets
 * the image beside its others; a directory holding anything else is refused), tagged `tag`. The
 * layer is streamed from `open` into the layout and hashed on the way: bytes whose SHA-256 or
 * size is not the image's (the sealed hash) are removed and nothing is indexed — a changed
 * archive never becomes an image. The index entry carries the checkpoint annotations, where
 * containerd looks for them. Returns the manifest's descriptor as indexed.
 */
export async function writeOciLayout(dir: string, image: CheckpointImage, open: () => Promise<Readable>, tag: string): Promise<Descriptor> {
  await prepare(dir);
  const blobs = join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const index = await readIndex(dir);
  const taken = index.manifests.find((m) => m.annotations?.[REF_NAME] === tag);
  if (taken !== undefined && taken.digest !== image.manifest.descriptor.digest) {
    throw new AmberError('RESTORE_REFUSED', {
      ociLayout: dir,
      problem: `the tag ${tag} already names another image (${taken.digest}) in the layout: pick another --tag`,
    });
  }

  const partial = join(dir, `.amber-${randomBytes(8).toString('hex')}.partial`);
  try {
    const hash = new HashStream();
    await pipeline(await open(), hash, createWriteStream(partial, { flags: 'wx', highWaterMark: 1024 * 1024 }));
    const want = image.layer;
    if (`sha256:${hash.sha256}` !== want.digest || hash.bytes !== want.size) {
      throw new AmberError('RESTORE_ARCHIVE_MISMATCH', {
        expected: `${want.digest} (${want.size} bytes)`,
        read: `sha256:${hash.sha256} (${hash.bytes} bytes)`,
      });
    }
    await rename(partial, join(blobs, hex(want.digest)));
  } finally {
    await rm(partial, { force: true });
  }
  await writeBlob(blobs, image.config.descriptor, image.config.bytes);
  await writeBlob(blobs, image.manifest.descriptor, image.manifest.bytes);

  const entry: Descriptor = { ...image.manifest.descriptor, annotations: { ...image.annotations, [REF_NAME]: tag } };
  const manifests = [...index.manifests.filter((m) => m.annotations?.[REF_NAME] !== tag), entry];
  await writeAtomically(join(dir, 'index.json'), `${JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }, null, 2)}\n`);
  return entry;
}

/** `dir` absent or empty: made a layout; a layout: kept; anything else: refused. */
async function prepare(dir: string): Promise<void> {
  const entries = await readdir(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw new AmberError('RESTORE_REFUSED', { ociLayout: dir, problem: `cannot read it: ${e.code ?? e.message}` });
  });
  if (entries !== undefined && entries.length > 0) {
    const layout = await readFile(join(dir, LAYOUT_FILE), 'utf8').catch(() => undefined);
    if (layout === undefined || (JSON.parse(layout) as { imageLayoutVersion?: string }).imageLayoutVersion !== '1.0.0') {
      throw new AmberError('RESTORE_REFUSED', {
        ociLayout: dir,
        problem: 'the directory holds files but is not an OCI image layout (no oci-layout file): give an empty or new directory',
      });
    }
    return;
  }
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, LAYOUT_FILE), `${JSON.stringify({ imageLayoutVersion: '1.0.0' })}\n`);
}

async function readIndex(dir: string): Promise<Index> {
  const text = await readFile(join(dir, 'index.json'), 'utf8').catch(() => undefined);
  if (text === undefined) return { schemaVersion: 2, manifests: [] };
  const index = JSON.parse(text) as Partial<Index>;
  if (!Array.isArray(index.manifests)) throw new AmberError('RESTORE_REFUSED', { ociLayout: dir, problem: 'its index.json has no manifests list' });
  return { schemaVersion: 2, manifests: index.manifests };
}

async function writeBlob(blobs: string, d: Descriptor, bytes: Buffer): Promise<void> {
  await writeAtomically(join(blobs, hex(d.digest)), bytes);
}

async function writeAtomically(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.${randomBytes(6).toString('hex')}.partial`;
  await writeFile(tmp, data, { flag: 'wx' });
  await rename(tmp, path);
}

const hex = (digest: string): string => digest.slice('sha256:'.length);
