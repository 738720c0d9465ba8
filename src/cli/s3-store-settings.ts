import type { Settings } from '../config/settings.js';
import type { S3StoreSettings } from '../storage/open-store.js';
import type { Io } from './cli-support.js';

/**
 * The settings' `s3` section with the region the AWS SDK would pick when none is set:
 * AWS_REGION, else AWS_DEFAULT_REGION (else the client's us-east-1).
 */
export function s3StoreSettings(s3: Settings['s3'], env: Io['env']): S3StoreSettings {
  const region = s3.region ?? env['AWS_REGION'] ?? env['AWS_DEFAULT_REGION'];
  return { ...s3, ...(region !== undefined ? { region } : {}) };
}
