import { Readable } from 'node:stream';
import { AmberError } from '../core/amber-error.js';
import { HashStream } from '../core/hash-stream.js';
import type { ObjectStore, PutMeta, StoredObject } from './object-store.js';

/** An in-memory ObjectStore with the same write-once rules, for unit tests of small things. */
export class MemoryStore implements ObjectStore {
  readonly objects = new Map<string, { body: Buffer; metadata: Readonly<Record<string, string>> }>();

  uri(key: string): string {
    return `memory:///${key}`;
  }

  async put(key: string, body: Readable, meta: PutMeta = {}): Promise<StoredObject> {
    if (this.objects.has(key)) throw new AmberError('STORE_EXISTS', { key });
    const hash = new HashStream();
    const chunks: Buffer[] = [];
    for await (const chunk of body.pipe(hash)) chunks.push(chunk as Buffer);
    if (meta.sha256 !== undefined && meta.sha256 !== hash.sha256) {
      throw new AmberError('STORE_HASH_MISMATCH', { key, expected: meta.sha256, actual: hash.sha256 });
    }
    if (this.objects.has(key)) throw new AmberError('STORE_EXISTS', { key });
    this.objects.set(key, { body: Buffer.concat(chunks), metadata: meta.metadata ?? {} });
    return { key, size: hash.bytes, sha256: hash.sha256 };
  }

  async get(key: string): Promise<Readable> {
    const o = this.objects.get(key);
    if (!o) throw new AmberError('STORE_NOT_FOUND', { key });
    return Readable.from([o.body]);
  }

  async head(key: string): Promise<{ size: number } | undefined> {
    const o = this.objects.get(key);
    return o ? { size: o.body.length } : undefined;
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.objects.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}
