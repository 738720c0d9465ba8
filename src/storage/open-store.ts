import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { AmberError } from '../core/amber-error.js';
import { FileStore } from './file-store.js';
import type { ObjectStore } from './object-store.js';
import { createS3Client } from './s3-client.js';
import { S3Store } from './s3-store.js';

export interface OpenedStore {
  readonly store: ObjectStore;
  /** Key prefix of every bundle (`''` for a file store). */
  readonly prefix: string;
  /** Set for `s3://`: the start-up checks and clean-up need the S3 specifics. */
  readonly s3?: S3Store;
}

/** How an `s3://` store is set up: the settings' `s3` section, handed in by the composition root. */
export interface S3StoreSettings {
  /** Endpoint of an S3-compatible server; absent: AWS. */
  readonly endpoint?: string | undefined;
  /** absent: us-east-1 (the composition root fills in AWS_REGION first) */
  readonly region?: string | undefined;
  readonly forcePathStyle: boolean;
  readonly partSizeMiB: number;
  readonly queueSize: number;
  readonly sse: 'none' | 'AES256' | 'aws:kms';
  readonly kmsKeyId?: string | undefined;
  readonly maxAttempts: number;
  readonly requestTimeoutSeconds: number;
}

/**
 * `file://DIR` (relative paths allowed: `file://./evidence`) → the file store;
 * `s3://bucket[/prefix]` → the S3 store, configured by `s3`.
 */
export function openStore(uri: string, s3: S3StoreSettings | undefined = undefined): OpenedStore {
  if (uri.startsWith('file://')) {
    const rest = uri.slice('file://'.length);
    const dir = rest.startsWith('/') ? fileURLToPath(`file://${rest}`) : resolve(rest);
    return { store: new FileStore(dir), prefix: '' };
  }
  if (uri.startsWith('s3://')) {
    const { bucket, prefix } = parseS3Uri(uri);
    if (s3 === undefined) throw new AmberError('CONFIG_INVALID', { setting: 'store', problem: 'S3 settings are missing' });
    const store = new S3Store({
      client: createS3Client({
        ...(s3.endpoint !== undefined ? { endpoint: s3.endpoint } : {}),
        ...(s3.region !== undefined ? { region: s3.region } : {}),
        forcePathStyle: s3.forcePathStyle,
        maxAttempts: s3.maxAttempts,
        requestTimeoutMs: s3.requestTimeoutSeconds * 1000,
      }),
      bucket,
      partSize: s3.partSizeMiB * 1024 * 1024,
      queueSize: s3.queueSize,
      ...(s3.sse === 'AES256'
        ? { sse: { mode: 'AES256' as const } }
        : s3.sse === 'aws:kms'
          ? { sse: { mode: 'aws:kms' as const, ...(s3.kmsKeyId !== undefined ? { kmsKeyId: s3.kmsKeyId } : {}) } }
          : {}),
    });
    return { store, prefix, s3: store };
  }
  throw new AmberError('CONFIG_INVALID', { setting: 'store', problem: `'${uri}' is neither file:// nor s3://` });
}

/** `s3://bucket/some/prefix/` → bucket and `some/prefix` (no slashes at either end). */
export function parseS3Uri(uri: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(uri);
  const bucket = m?.[1];
  // S3 bucket naming rules (3–63 chars, lower case, digits, dots, hyphens)
  if (bucket === undefined || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new AmberError('CONFIG_INVALID', { setting: 'store', problem: `'${uri}' does not name a valid bucket: s3://BUCKET[/PREFIX]` });
  }
  const prefix = (m?.[2] ?? '').replace(/^\/+|\/+$/g, '');
  if (prefix.split('/').some((p) => p === '..' || p === '.')) {
    throw new AmberError('CONFIG_INVALID', { setting: 'store', problem: `'${uri}': the prefix may not contain . or .. segments` });
  }
  return { bucket, prefix };
}
