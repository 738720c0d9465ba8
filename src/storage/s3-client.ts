import { S3Client } from '@aws-sdk/client-s3';

export interface S3ClientOptions {
  /** Custom endpoint (RGW, MinIO…); absent: AWS. */
  readonly endpoint?: string;
  /** absent: us-east-1 (the SDK insists on one; the composition root resolves AWS_REGION) */
  readonly region?: string;
  readonly forcePathStyle: boolean;
  /** Attempts per request, the first included. */
  readonly maxAttempts: number;
  /** First retry delay; doubles per retry, with full jitter, up to 10 s. */
  readonly retryBaseMs?: number;
  /** A request not answered within this long (its body sent included) is cut and retried. */
  readonly requestTimeoutMs: number;
}

/**
 * The S3 client amber stores evidence with. Credentials come from the SDK's usual chain
 * (env, shared config/profile, web identity / IRSA, instance metadata).
 *
 * Checksums: the SDK's default (`WHEN_SUPPORTED`) adds CRC32 trailers in aws-chunked framing,
 * which several S3-compatible servers store verbatim or reject. amber asks for checksums only
 * where the API requires them; integrity comes from SigV4 instead — lib-storage sends every part
 * as a buffer, so each request carries the SHA-256 of its payload in the signature and the server
 * refuses a part whose bytes do not match — and from amber's own SHA-256 of the whole object.
 */
export function createS3Client(o: S3ClientOptions): S3Client {
  return new S3Client({
    ...(o.endpoint !== undefined ? { endpoint: o.endpoint } : {}),
    // The SDK insists on a region even for a custom endpoint; RGW and MinIO accept us-east-1.
    region: o.region ?? 'us-east-1',
    forcePathStyle: o.forcePathStyle,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    retryStrategy: evidenceRetryStrategy(o.maxAttempts, o.retryBaseMs ?? 200),
    // Without throwOnRequestTimeout the handler only logs a warning and a stalled request hangs
    // the capture until the server gives up (if it ever does).
    requestHandler: { requestTimeout: o.requestTimeoutMs, throwOnRequestTimeout: true, connectionTimeout: Math.min(o.requestTimeoutMs, 10_000) },
  });
}

interface Token {
  getRetryCount(): number;
  getRetryDelay(): number;
}

interface ErrorInfo {
  errorType: 'TRANSIENT' | 'THROTTLING' | 'SERVER_ERROR' | 'CLIENT_ERROR';
  retryAfterHint?: Date;
  error?: { $metadata?: { httpStatusCode?: number } };
}

/**
 * Retries transient, throttling and 5xx errors up to `maxAttempts`, with exponential backoff and
 * full jitter. Unlike the SDK's standard strategy there is no shared retry quota: the standard
 * quota is spent after a few hundred failures and then stops retrying for every upload in the
 * process, which under a burst of 503s would fail captures that one more retry would have saved.
 * Evidence is worth the wait; the per-capture attempt limit still bounds the whole.
 */
export function evidenceRetryStrategy(maxAttempts: number, baseMs: number) {
  const token = (count: number, delay: number): Token => ({ getRetryCount: () => count, getRetryDelay: () => delay });
  return {
    mode: 'evidence',
    async acquireInitialRetryToken(): Promise<Token> {
      return token(0, 0);
    },
    async refreshRetryTokenForRetry(t: Token, info: ErrorInfo): Promise<Token> {
      const count = t.getRetryCount() + 1;
      // 501 Not Implemented is a 5xx that no retry changes (a server without Object Lock, say)
      const permanent = info.errorType === 'CLIENT_ERROR' || info.error?.$metadata?.httpStatusCode === 501;
      if (permanent || count >= maxAttempts) throw new Error('no more retries');
      const hint = info.retryAfterHint ? Math.max(0, info.retryAfterHint.getTime() - Date.now()) : 0;
      const delay = Math.max(hint, Math.random() * Math.min(10_000, baseMs * 2 ** (count - 1)));
      return token(count, delay);
    },
    recordSuccess(): void {},
  };
}
