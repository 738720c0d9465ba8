import { CreateBucketCommand, PutObjectLockConfigurationCommand, type S3Client } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/storage/s3-client.js';

/**
 * The real S3 server of the `npm run test:s3` suite: Ceph RGW started by scripts/rgw.sh, which
 * exports AMBER_S3_ENDPOINT and the test user's AWS_* credentials. Undefined when it is not
 * running, so a suite file can say so instead of failing obscurely.
 */
export function rgwEnv(): Record<string, string> | undefined {
  const endpoint = process.env['AMBER_S3_ENDPOINT'];
  const id = process.env['AWS_ACCESS_KEY_ID'];
  const secret = process.env['AWS_SECRET_ACCESS_KEY'];
  if (endpoint === undefined || id === undefined || secret === undefined) return undefined;
  return {
    AMBER_S3_ENDPOINT: endpoint,
    AMBER_S3_FORCE_PATH_STYLE: 'true',
    AWS_ACCESS_KEY_ID: id,
    AWS_SECRET_ACCESS_KEY: secret,
    AWS_REGION: process.env['AWS_REGION'] ?? 'us-east-1',
  };
}

export function rgwClient(opts: { maxAttempts?: number; requestTimeoutMs?: number; endpoint?: string } = {}): S3Client {
  const endpoint = opts.endpoint ?? process.env['AMBER_S3_ENDPOINT'];
  if (endpoint === undefined) throw new Error('AMBER_S3_ENDPOINT is not set: run this suite with `npm run test:s3`');
  return createS3Client({ endpoint, forcePathStyle: true, maxAttempts: opts.maxAttempts ?? 3, requestTimeoutMs: opts.requestTimeoutMs ?? 60_000 });
}

/** A fresh bucket with a unique name; with `lock`, created with Object Lock enabled. */
export async function createBucket(client: S3Client, stem: string, lock: boolean): Promise<string> {
  const name = `${stem}-${Date.now().toString(36)}-${Math.floor(Math.random() * 1e6).toString(36)}`;
  await client.send(new CreateBucketCommand({ Bucket: name, ...(lock ? { ObjectLockEnabledForBucket: true } : {}) }));
  if (lock) {
    // An explicit configuration: some servers report Object Lock only once one is set.
    await client.send(new PutObjectLockConfigurationCommand({ Bucket: name, ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled' } }));
  }
  return name;
}
