import type { ErrorCode } from '../core/amber-error.js';

/** The HTTP status for each error code the HTTP layer can meet; anything else is a 500. */
export const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  INTAKE_BAD_JSON: 400,
  AUTH_REQUIRED: 401,
  UI_CSRF_MISMATCH: 403,
  SIGN_IN_RATE_LIMITED: 429,
  EVIDENCE_UNAVAILABLE: 409,
  SEARCH_BAD_PATTERN: 422,
  EVIDENCE_STORE_UNREACHABLE: 503,
  EVIDENCE_BUSY: 429,
  CAPTURE_NOT_FOUND: 404,
  NOT_FOUND: 404,
  INTAKE_BODY_TOO_LARGE: 413,
  INTAKE_UNSUPPORTED_MEDIA_TYPE: 415,
  INTAKE_INVALID_PAYLOAD: 422,
  INTAKE_BAD_NAME: 422,
  INTAKE_BAD_TIME: 422,
  QUEUE_UNAVAILABLE: 503,
  QUEUE_LOCKED: 503,
  // a Capture changed under a write, or the Capture CRD is missing: the sender retries later
  QUEUE_CONFLICT: 503,
  CAPTURE_RESOURCE_NOT_FOUND: 503,
  // a search cancelled by the analyst (or another request) before it answered: no standard code says
  // "cancelled by the client" (499 is nginx's own); 409, the request met a state that ended it, is the nearest
  SEARCH_CANCELLED: 409,
  // the restore button: a refusal is the evidence's state; a registry or cluster that fails is a bad gateway
  RESTORE_REFUSED: 409,
  RESTORE_ARCHIVE_MISMATCH: 409,
  REGISTRY_UNAUTHORIZED: 502,
  REGISTRY_TLS: 502,
  REGISTRY_REJECTED: 502,
  REGISTRY_UNAVAILABLE: 503,
  KUBE_FORBIDDEN: 502,
  KUBE_API_UNAVAILABLE: 503,
};

/** Fastify's own error codes for body handling, mapped onto ours. */
export const CODE_BY_FASTIFY_CODE: Readonly<Record<string, ErrorCode>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'INTAKE_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'INTAKE_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INTAKE_BAD_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INTAKE_BAD_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INTAKE_BAD_JSON',
};
