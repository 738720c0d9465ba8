import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { link, mkdir, open, readdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { AmberError } from '../core/amber-error.js';
import { hashFile, HashStream } from '../core/hash-stream.js';
import type { ObjectStore, PutMeta, StoredObject } from './object-store.js';

/**
 * The embedded evidence store: one file per key under a root directory. A put streams into a
 * temp file, fsyncs it, checks the expected hash, and only then links it into place — so a key
 * either holds a complete, verified object or nothing, and an existing key is never replaced.
 */
export class FileStore implements ObjectStore {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  private path(key: string): string {
    const p = resolve(this.root, key);
    if (key === '' || key.includes('\0') || !p.startsWith(this.root + sep) || key.split('/')[0] === PARTIAL_DIR) {
      throw new AmberError('STORE_BAD_KEY', { key });
    }
    return p;
  }

  uri(key: string): string {
    return pathToFileURL(this.path(key)).href;
  }

  async put(key: string, body: Readable, meta: PutMeta = {}): Promise<StoredObject> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true });
    // Temp files live outside every bundle directory, so a crash never leaves debris in a bundle.
    await mkdir(join(this.root, PARTIAL_DIR), { recursive: true });
    const tmp = join(this.root, PARTIAL_DIR, `${randomBytes(12).toString('hex')}.partial`);
    const hash = new HashStream();
    try {
      await pipeline(body, hash, createWriteStream(tmp, { flags: 'wx', mode: 0o640, highWaterMark: 1024 * 1024 }));
      const fh = await open(tmp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (meta.sha256 !== undefined && meta.sha256 !== hash.sha256) {
        throw new AmberError('STORE_HASH_MISMATCH', { key, expected: meta.sha256, actual: hash.sha256 });
      }
      try {
        await link(tmp, target); // fails with EEXIST instead of replacing, unlike rename
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new AmberError('STORE_EXISTS', { key });
        throw e;
      }
      await syncDir(dirname(target));
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
    return { key, size: hash.bytes, sha256: hash.sha256 };
  }

  /**
   * Moves the file into the store without copying (link, then unlink the old name, so nobody can
   * rewrite the evidence through the kubelet's path — a runtime reuses a name within a second),
   * fsyncs it, and hashes the stored inode, so the hash describes exactly what the store holds.
   * Undefined when the file is on another filesystem; the caller then streams it through `put`.
   */
  async putFile(key: string, path: string, meta: PutMeta & { take?: boolean } = {}): Promise<StoredObject | undefined> {
    if (meta.take !== true) return undefined; // the file store can only move a file; a copy is a put
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true });
    try {
      await link(path, target);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw new AmberError('STORE_EXISTS', { key });
      if (code === 'EXDEV' || code === 'EPERM' || code === 'EMLINK') return undefined;
      throw e;
    }
    try {
      await unlink(path);
    } catch (e) {
      await unlink(target).catch(() => undefined); // not taken: nothing half-kept under the key
      throw e;
    }
    // From here the store holds the only name of the file: never delete it on a later failure;
    // a retry finds it under the key and hashes it.
    await syncDir(dirname(path)).catch(() => undefined);
    const fh = await open(target, 'r');
    try {
      await fh.sync(); // the runtime may not have flushed the archive
    } finally {
      await fh.close();
    }
    await syncDir(dirname(target));
    const { size, sha256 } = await hashFile(target);
    if (meta.sha256 !== undefined && meta.sha256 !== sha256) {
      throw new AmberError('STORE_HASH_MISMATCH', { key, expected: meta.sha256, actual: sha256 });
    }
    return { key, size, sha256 };
  }

  async get(key: string): Promise<Readable> {
    const p = this.path(key);
    try {
      await stat(p);
    } catch (cause) {
      throw new AmberError('STORE_NOT_FOUND', { key }, { cause });
    }
    return createReadStream(p);
  }

  async head(key: string): Promise<{ size: number } | undefined> {
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? { size: s.size } : undefined;
    } catch {
      return undefined;
    }
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        return;
      }
      for (const name of names) {
        const p = join(dir, name);
        const s = await stat(p).catch(() => undefined);
        if (s?.isDirectory() && p !== join(this.root, PARTIAL_DIR)) await walk(p);
        else if (s?.isFile()) {
          const key = relative(this.root, p).split(sep).join('/');
          if (key.startsWith(prefix)) out.push(key);
        }
      }
    };
    // Walk only the directory the prefix names, not the whole store.
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    await walk(dirPart === '' ? this.root : this.path(dirPart));
    return out.sort();
  }
}

const PARTIAL_DIR = '.partial';

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
