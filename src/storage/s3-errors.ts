import { AmberError } from '../core/amber-error.js';

/** What an AWS SDK error says, without importing the SDK's error classes. */
export interface S3ErrorInfo {
  readonly status?: number;
  readonly code?: string;
  readonly message: string;
}

export function s3ErrorInfo(e: unknown): S3ErrorInfo {
  if (typeof e !== 'object' || e === null) return { message: String(e) };
  const err = e as { name?: unknown; Code?: unknown; code?: unknown; message?: unknown; $metadata?: { httpStatusCode?: unknown } };
  const status = typeof err.$metadata?.httpStatusCode === 'number' ? err.$metadata.httpStatusCode : undefined;
  const code =
    typeof err.Code === 'string'
      ? err.Code
      : typeof err.name === 'string' && err.name !== 'Error'
        ? err.name
        : typeof err.code === 'string'
          ? err.code
          : undefined;
  const message = typeof err.message === 'string' && err.message !== '' && err.message !== 'UnknownError' ? err.message : (code ?? `HTTP ${status ?? '?'}`);
  return { ...(status !== undefined ? { status } : {}), ...(code !== undefined ? { code } : {}), message };
}

/** A failed S3 request as amber's error: the code the caller chose, the key, the operation and what S3 said. */
export function storeError(
  code: 'STORE_UNAVAILABLE' | 'STORE_LOCK_FAILED' | 'STORE_NOT_IMPLEMENTED',
  key: string,
  operation: string,
  cause: unknown,
): AmberError {
  const info = s3ErrorInfo(cause);
  return new AmberError(
    code,
    {
      key,
      operation,
      message: info.message,
      ...(info.status !== undefined ? { status: info.status } : {}),
      ...(info.code !== undefined ? { s3Code: info.code } : {}),
    },
    { cause },
  );
}
