import { stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Settings } from '../config/settings.js';
import { AmberError } from '../core/amber-error.js';
import { directorySource, storeSource, type BundleSource } from '../evidence/bundle-source.js';
import type { Check } from '../evidence/verify-bundle.js';
import type { Manifest } from '../evidence/manifest.js';
import { FileStore } from '../storage/file-store.js';
import type { ObjectStore } from '../storage/object-store.js';
import { openStore, parseS3Uri } from '../storage/open-store.js';
import type { S3Store } from '../storage/s3-store.js';
import { objectLocks, type ObjectLock } from '../review/object-locks.js';
import { processIo } from './cli-support.js';
import { s3StoreSettings } from './s3-store-settings.js';

export interface BundleTarget {
  readonly source: BundleSource;
  /** Where records added to the bundle are written (write-once, like the bundle's own objects): the store and a file's key in it. */
  readonly store: ObjectStore;
  key(name: string): string;
  /** S3 only: each object's retention, and a check that it is what the manifest promised. */
  locks?(names: readonly string[], manifest: Manifest | undefined): Promise<{ objects: ObjectLock[]; checks: Check[] }>;
}

/** A bundle directory, its `file://` URI, or `s3://bucket/prefix/…/<capture-id>` (streamed from S3). */
export async function openBundleTarget(target: string, s3: Settings['s3']): Promise<BundleTarget> {
  if (target.startsWith('s3://')) {
    const { bucket, prefix } = parseS3Uri(target);
    // verify and inspect run in this process: its AWS_REGION is the one the SDK would use
    const store = openStore(`s3://${bucket}`, s3StoreSettings(s3, processIo.env)).s3 as S3Store;
    const source = storeSource(store, prefix);
    if (prefix === '' || (await source.list()).length === 0) {
      throw new AmberError('BUNDLE_NOT_FOUND', { target, problem: 'no objects under this prefix' });
    }
    return { source, store, key: (name) => `${prefix}/${name}`, locks: (names, manifest) => objectLocks(store, prefix, names, manifest) };
  }
  const dir = target.startsWith('file://') ? fileURLToPath(target) : resolve(target);
  const s = await stat(dir).catch(() => undefined);
  if (!s?.isDirectory()) throw new AmberError('BUNDLE_NOT_FOUND', { target, problem: s ? 'not a directory' : 'does not exist' });
  // the store's root is the parent: its temp files then never land inside the bundle
  return { source: directorySource(dir), store: new FileStore(dirname(dir)), key: (name) => `${basename(dir)}/${name}` };
}
