import { AmberError, type ErrorCode } from '../../core/amber-error.js';
import type { ApiFailure } from '../../kube/api-failure.js';

/**
 * A failed call of the Capture queue as the error it throws, its code saying what happened:
 * 409 QUEUE_CONFLICT (the Capture changed since it was read), 404 CAPTURE_RESOURCE_NOT_FOUND,
 * 401/403 KUBE_FORBIDDEN, anything else QUEUE_UNAVAILABLE. The details carry the facts (status,
 * the server's message, Retry-After) for logs; callers branch on the code.
 */
export function queueError(what: string, f: ApiFailure): AmberError {
  const details = {
    what,
    ...(f.status !== undefined ? { status: f.status } : {}),
    message: f.message,
    ...(f.retryAfterSeconds !== undefined ? { retryAfterSeconds: f.retryAfterSeconds } : {}),
  };
  return new AmberError(codeOf(f.status), details);
}

function codeOf(status: number | undefined): ErrorCode {
  if (status === 409) return 'QUEUE_CONFLICT';
  if (status === 404) return 'CAPTURE_RESOURCE_NOT_FOUND';
  if (status === 401 || status === 403) return 'KUBE_FORBIDDEN';
  return 'QUEUE_UNAVAILABLE';
}
