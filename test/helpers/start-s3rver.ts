import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createS3Client } from '../../src/storage/s3-client.js';
import type { S3Client } from '@aws-sdk/client-s3';

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverCtor = new (options: Record<string, unknown>) => S3rverInstance;

export interface RunningS3rver {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  readonly dir: string;
  /** A client for test set-up and inspection (path style, fixed test credentials). */
  readonly client: S3Client;
  close(): Promise<void>;
}

export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/**
 * s3rver (a real S3-protocol server, no Object Lock) in-process on a free port, with `buckets`
 * created. Starts in milliseconds; objects live in a temp directory removed on close.
 */
export async function startS3rver(buckets: readonly string[] = ['evidence']): Promise<RunningS3rver> {
  const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;
  const dir = await mkdtemp(join(tmpdir(), 'amber-s3rver-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: buckets.map((name) => ({ name })) });
  const addr = await server.run();
  const endpoint = `http://127.0.0.1:${addr.port}`;
  // The SDK's credential chain reads these; tests set them for the whole process.
  process.env['AWS_ACCESS_KEY_ID'] = S3RVER_CREDENTIALS.accessKeyId;
  process.env['AWS_SECRET_ACCESS_KEY'] = S3RVER_CREDENTIALS.secretAccessKey;
  const client = createS3Client({ endpoint, forcePathStyle: true, maxAttempts: 2, requestTimeoutMs: 30_000 });
  return {
    endpoint,
    dir,
    client,
    async close() {
      client.destroy();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
