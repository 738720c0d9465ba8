import { open, readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';

/**
 * Where a bundle's files are read from when it is verified: a directory now, an object-store
 * prefix (S3) later. Flat on purpose: a bundle is one level of files, and anything nested or not
 * a plain file is itself a finding.
 */
export interface BundleSource {
  /** Where the bundle is, for messages (a path or a URI). */
  readonly location: string;
  /** The capture id the location names (its last path segment), when it names one. */
  readonly captureId?: string | undefined;
  /** Every entry of the bundle, sorted; an entry that is not a plain file ends in `/`. */
  list(): Promise<string[]>;
  /** Size in bytes of the plain file `name`, or undefined when there is none. */
  size(name: string): Promise<number | undefined>;
  /** The bytes of `name`, streamed. */
  open(name: string): Promise<Readable>;
}

/** A name that stays inside the bundle: one path segment, no `..`, no separators, no NUL. */
export function isSafeArtifactName(name: string): boolean {
  return name !== '' && name !== '.' && !name.includes('..') && !/[/\\\0]/.test(name);
}

function safe(name: string): string {
  if (!isSafeArtifactName(name)) throw new Error(`unsafe bundle file name ${JSON.stringify(name)}`);
  return name;
}

/** A bundle directory on disk (`.../<capture-id>/`). Symbolic links are followed. */
export function directorySource(dir: string): BundleSource {
  const root = resolve(dir);
  return {
    location: root,
    captureId: basename(root),
    async list() {
      const out: string[] = [];
      for (const name of await readdir(root)) {
        const s = await stat(join(root, name)).catch(() => undefined);
        out.push(s?.isFile() ? name : `${name}/`);
      }
      return out.sort();
    },
    async size(name) {
      const s = await stat(join(root, safe(name))).catch(() => undefined);
      return s?.isFile() ? s.size : undefined;
    },
    async open(name) {
      const fh = await open(join(root, safe(name)), 'r');
      return fh.createReadStream();
    },
  };
}

/** The reading half of an ObjectStore (src/storage), which fits it as is. */
export interface ObjectReader {
  uri(key: string): string;
  get(key: string): Promise<Readable>;
  head(key: string): Promise<{ size: number } | undefined>;
  list(prefix: string): Promise<string[]>;
}

/** A bundle under an object-store prefix (`<prefix>/<cluster>/<yyyy>/<mm>/<dd>/<capture-id>`). */
export function storeSource(store: ObjectReader, dir: string): BundleSource {
  const prefix = `${dir.replace(/\/+$/, '')}/`;
  const segments = prefix.split('/').filter((s) => s !== '');
  return {
    location: store.uri(prefix),
    captureId: segments[segments.length - 1],
    async list() {
      return (await store.list(prefix)).map((key) => key.slice(prefix.length)).sort();
    },
    async size(name) {
      return (await store.head(prefix + safe(name)))?.size;
    },
    open: (name) => store.get(prefix + safe(name)),
  };
}
