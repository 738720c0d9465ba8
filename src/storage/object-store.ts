import type { Readable } from 'node:stream';

/** S3 Object Lock retention for an object. */
export interface Retention {
  readonly mode: 'COMPLIANCE' | 'GOVERNANCE';
  readonly retainUntil: Date;
}

export interface PutMeta {
  /** Expected SHA-256 (hex) of the body; the store refuses to keep an object that does not match. */
  readonly sha256?: string;
  /** Small string metadata kept with the object (capture id, artifact hash…). */
  readonly metadata?: Readonly<Record<string, string>>;
  readonly contentType?: string;
  /** WORM retention; stores without Object Lock (file, memory) ignore it. */
  readonly retention?: Retention;
  readonly legalHold?: boolean;
}

export interface StoredObject {
  readonly key: string;
  readonly size: number;
  readonly sha256: string;
}

/**
 * Where evidence lands. Narrow and streaming, so a many-GiB archive never sits in memory:
 * implementations are the file store (embedded), the S3 store, and an in-memory fake for tests.
 *
 * Objects are write-once: `put` of an existing key rejects with `STORE_EXISTS` (a retry must
 * check the stored hash instead of overwriting an original). A `put` that fails leaves nothing
 * visible under the key. The optional methods are what some stores can do better; the capture side
 * calls them only through its evidence bundle (capture/evidence-bundle.ts), which works without them.
 */
export interface ObjectStore {
  /** A human-readable location for a key (`file:///…`, `s3://…`). */
  uri(key: string): string;
  put(key: string, body: Readable, meta?: PutMeta): Promise<StoredObject>;
  /**
   * Optional fast path for a local file the caller gives away (a checkpoint archive next to the
   * store): the store may take the file itself — after a successful call the file is no longer at
   * `path` — without copying its bytes. Same write-once rules as `put`. Undefined when the store
   * cannot take it (another device); the caller then streams it through `put`.
   * Without `take` the file stays where it is (a store that can only move files returns undefined).
   */
  putFile?(key: string, path: string, meta?: PutMeta & { take?: boolean }): Promise<StoredObject | undefined>;
  /**
   * Re-asserts retention and legal hold on an object that is already stored (a retry that found
   * it): the interrupted attempt may have stopped between the upload and the lock.
   */
  protect?(key: string, retention: Retention | undefined, legalHold: boolean | undefined): Promise<void>;
  /** Aborts unfinished multipart uploads under a prefix (stores that have them). */
  abortUploads?(prefix: string): Promise<string[]>;
  get(key: string): Promise<Readable>;
  /** Size of the object, or undefined when absent. */
  head(key: string): Promise<{ size: number } | undefined>;
  /** Keys under a prefix, sorted. */
  list(prefix: string): Promise<string[]>;
}
