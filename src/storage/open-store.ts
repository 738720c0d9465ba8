import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { AmberError } from '../core/amber-error.js';
import { FileStore } from './file-store.js';
import type { ObjectStore } from './object-store.js';

/** `file://DIR` (relative paths allowed: `file://./evidence`) → the file store. */
export function openStore(uri: string): { store: ObjectStore; prefix: string } {
  if (uri.startsWith('file://')) {
    const rest = uri.slice('file://'.length);
    const dir = rest.startsWith('/') ? fileURLToPath(`file://${rest}`) : resolve(rest);
    return { store: new FileStore(dir), prefix: '' };
  }
  if (uri.startsWith('s3://')) {
    throw new AmberError('CONFIG_INVALID', { setting: 'store', problem: 'the S3 store is not in this release yet; use file://DIR' });
  }
  throw new AmberError('CONFIG_INVALID', { setting: 'store', problem: `'${uri}' is neither file:// nor s3://` });
}
