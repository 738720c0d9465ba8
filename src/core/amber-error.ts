/**
 * A code whose failure passes by itself (a dependency that did not answer, a lock held for a
 * moment): a capture attempt that meets it is retried with backoff instead of failed.
 */
function transient(sentence: string): { readonly sentence: string; readonly transient: true } {
  return { sentence, transient: true };
}

/**
 * Every failure amber reports carries a stable code. Messages may change between versions;
 * codes do not, so scripts, dashboards and the HTTP layer key on them. Each code is declared with
 * its sentence: a plain string, or `transient('…')` when the failure passes by itself.
 */
export const ERROR_CODES = {
  // configuration and start-up
  CONFIG_INVALID: 'a setting is missing or has the wrong form',
  CONFIG_FILE_UNREADABLE: 'the --config file cannot be read or is not YAML',
  // policies
  POLICY_DIR_UNREADABLE: 'the policies directory cannot be read',
  POLICY_YAML: 'a policy file is not valid YAML',
  POLICY_SCHEMA: 'a policy does not fit the CapturePolicy schema',
  POLICY_BAD_REGEX: 'a /regex/ in a policy does not compile',
  POLICY_BAD_DURATION: 'a duration in a policy cannot be parsed',
  POLICY_BAD_PRIORITY: 'a priority comparison in a policy cannot be parsed',
  POLICY_DUPLICATE_NAME: 'two policies share a name',
  POLICY_EMPTY_SET: 'no policy was found',
  // intake
  INTAKE_BAD_JSON: 'the body is not JSON',
  INTAKE_UNSUPPORTED_MEDIA_TYPE: 'the body is not application/json',
  INTAKE_BODY_TOO_LARGE: 'the body is larger than the limit',
  INTAKE_INVALID_PAYLOAD: 'the JSON does not have the shape of the alert format',
  INTAKE_BAD_NAME: 'a Kubernetes name in the alert is not a valid name',
  INTAKE_BAD_TIME: 'a timestamp in the alert cannot be parsed',
  // auth
  AUTH_REQUIRED: 'no valid credentials were presented',
  UI_CSRF_MISMATCH: "a state-changing request from a signed-in browser lacks the session's CSRF token",
  SIGN_IN_RATE_LIMITED: transient('too many sign-in attempts from this address in the last minute'),
  // the evidence browser's reads of a stored bundle
  EVIDENCE_UNAVAILABLE: 'the capture has no sealed bundle, or this server cannot read it (encrypted, another store)',
  EVIDENCE_STORE_UNREACHABLE: transient('the evidence store did not answer a read'),
  EVIDENCE_BUSY: transient('this server is already running as many memory searches and verifications as it runs at once'),
  // queue
  QUEUE_UNAVAILABLE: transient('the capture queue cannot persist right now'),
  QUEUE_LOCKED: 'another amber process holds the journal',
  QUEUE_CORRUPT: 'the journal holds a record that cannot be read',
  CAPTURE_NOT_FOUND: 'no capture has this id',
  QUEUE_CONFLICT: transient('the Capture resource changed since it was read (409): read it again and retry'),
  CAPTURE_RESOURCE_NOT_FOUND: 'the API server has no such Capture resource (404): it was deleted, or the Capture CRD is not installed',
  // budgets (issue 17): the capture is recorded, Failed with reason BudgetExceeded, never checkpointed
  BUDGET_EXCEEDED: 'a capture budget (per hour, node, namespace, or archive bytes per node per day) was used up, so nothing was checkpointed',
  // evidence store
  STORE_BAD_KEY: 'an object key would leave the store',
  STORE_EXISTS: 'an object already exists under this key; evidence is never overwritten',
  STORE_HASH_MISMATCH: 'the stored bytes do not have the expected SHA-256',
  STORE_NOT_FOUND: 'no object under this key',
  STORE_UNAVAILABLE: transient('the evidence store did not answer or refused the request'),
  STORE_LOCK_FAILED: transient('the store did not apply the retention or legal hold the policy asks for'),
  STORE_NO_OBJECT_LOCK: 'a policy asks for locked evidence, but the bucket has no Object Lock',
  STORE_NOT_IMPLEMENTED: 'the evidence store does not implement this request (501 Not Implemented)',
  // bundle verification (amber verify)
  BUNDLE_NOT_FOUND: 'no evidence bundle directory at the target',
  BUNDLE_READ_FAILED: 'a bundle file could not be read whole, or its length differs from its listed size (it changed while read): the download was cut off',
  JWKS_UNREADABLE: 'the JWKS (public keys to verify with) cannot be read or is not a key set',
  // restore (amber restore)
  RESTORE_REFUSED: 'the restore was refused before anything was built: the bundle does not verify, or an input it needs is missing or wrong',
  RESTORE_ARCHIVE_MISMATCH: 'the archive read for the image is not the sealed one (its SHA-256 or size differs): nothing was written',
  RESTORE_INTERRUPTED: 'the agent stopped while it ran this restore: what it had made (an image, a sandbox pod) stays, and no record claims it',
  REGISTRY_UNAUTHORIZED: 'the registry refused the credentials, or asked for some that were not given (401/403)',
  REGISTRY_UNAVAILABLE: transient('the registry did not answer, or answered 5xx/429, through every retry'),
  REGISTRY_TLS: "the registry's certificate does not verify against the CA given (--registry-ca) or the system's",
  REGISTRY_REJECTED: 'the registry refused a request of the push (its error codes are in the details)',
  PODMAN_RESTORE_FAILED: 'podman could not restore the archive (its own message is in the details: no CRIU, no runtime, a name in use…)',
  // age encryption of evidence (age-encryption.org/v1)
  AGE_BAD_RECIPIENT: 'a recipient is not an age X25519 public key (age1…)',
  AGE_BAD_IDENTITY: 'an age identity file cannot be read, or holds something other than AGE-SECRET-KEY-1… keys',
  AGE_NO_IDENTITY_MATCHED: 'none of the given age identities opens any recipient stanza of the file',
  AGE_BAD_HEADER: 'the age header is malformed, of an unsupported version, or fails its MAC',
  AGE_AUTH_FAILED: 'a chunk of the age payload fails authentication (tampered or corrupt)',
  AGE_TRUNCATED: 'the age file ends before its final chunk',
  AGE_BAD_PAYLOAD: 'the age payload breaks the format (data after the final chunk, or an empty final chunk after data)',
  // target resolution and kubelet (the capture's status.reason carries these)
  KUBE_CONFIG: 'no usable kubeconfig or in-cluster configuration',
  KUBE_API_UNAVAILABLE: transient('the Kubernetes API did not answer'),
  KUBE_FORBIDDEN: "the API server or kubelet refused amber's credentials",
  POD_GONE: 'the pod no longer exists',
  NODE_NOT_FOUND: 'the API server has no Node of this name (404)',
  POD_REPLACED: 'a pod of that name exists, but not the one the alert was about (uid differs)',
  POD_NOT_SCHEDULED: 'the pod has no node',
  CONTAINER_NOT_FOUND: 'the pod has no such container',
  CONTAINER_AMBIGUOUS: 'the alert named no container and the pod has several',
  CONTAINER_NOT_RUNNING: 'the container is not running',
  NODE_ADDRESS_UNKNOWN: 'the node has no usable address',
  KUBELET_UNREACHABLE: transient('the kubelet did not answer'),
  KUBELET_UNAUTHORIZED: 'the kubelet refused the token (401)',
  KUBELET_FORBIDDEN: 'the kubelet denied nodes/checkpoint create (403)',
  CHECKPOINT_NOT_AVAILABLE: 'the kubelet refused the request (404 or another 4xx) for a reason amber has no remedy for (its text is in the message)',
  CHECKPOINT_FEATURE_GATE_OFF: 'the kubelet has no checkpoint API (404 page not found): its ContainerCheckpoint feature gate is off, or it predates the gate',
  CHECKPOINTING_NOT_ENABLED:
    'the container runtime cannot checkpoint: its checkpoint support is off, CRIU is missing or too old, or it has no CRI checkpoint call',
  TCP_ESTABLISHED_REQUIRED: 'CRIU refused to dump a live TCP connection: tcp-established is not in its configuration on the node',
  // another client's checkpoint of the container holds it paused: the next attempt finds it free
  CHECKPOINT_IN_PROGRESS: transient('another checkpoint of the container was running (the runtime held it paused); transient'),
  CHECKPOINT_FAILED: 'the container runtime failed to checkpoint',
  CHECKPOINT_TIMEOUT: 'the checkpoint did not finish in time',
  CHECKPOINT_ARCHIVE_MISSING: 'the kubelet named an archive that is not in the checkpoints directory',
  ARCHIVE_UNREADABLE: "amber may not read the kubelet's checkpoint directory or archive (the kubelet writes them root-only)",
  DISK_PRESSURE: "the node's checkpoint directory is short of free space",
  EVIDENCE_CONFLICT: 'an object already stored for this capture differs from the one being stored',
  // analysis (amber inspect, the triage report)
  NOT_A_CHECKPOINT: 'the input is not a checkpoint archive (no tar, or a tar with neither checkpoint/ nor CRIU images)',
  SEARCH_BAD_PATTERN: 'the memory search pattern is empty or its /regex/ does not compile',
  SEARCH_CANCELLED: 'the reading of a checkpoint archive (and its memory search) was cancelled by its caller before it finished',
  YARA_RULES_INVALID: 'a YARA rule file cannot be read or does not compile (the file, line and column are in the details)',
  // indicator lists (analysis.lists, amber inspect --list)
  INDICATOR_LIST_INVALID: 'an indicator list has a line that is not an entry of its kind (the file and line are in the details)',
  INDICATOR_LIST_UNREADABLE: 'an indicator list file cannot be read',
  // generic
  NOT_FOUND: 'no such route',
  INTERNAL: 'an unexpected failure',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The code's sentence: what happened, in a few words. */
export function sentenceOf(code: ErrorCode): string {
  const declared: string | { readonly sentence: string } = ERROR_CODES[code];
  return typeof declared === 'string' ? declared : declared.sentence;
}

/** True when the failure passes by itself (declared `transient(…)` in ERROR_CODES): retry, with backoff. */
export function isTransient(code: ErrorCode): boolean {
  const declared: string | { readonly transient: boolean } = ERROR_CODES[code];
  return typeof declared !== 'string' && declared.transient;
}

export class AmberError extends Error {
  override readonly name = 'AmberError';
  constructor(
    readonly code: ErrorCode,
    /** Machine-readable facts about the failure (file, path, key…); never secrets. */
    readonly details: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown; message?: string },
  ) {
    super(options?.message ?? describe(code, details), options?.cause === undefined ? undefined : { cause: options.cause });
  }
}

function describe(code: ErrorCode, details: Readonly<Record<string, unknown>>): string {
  const facts = Object.entries(details)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return facts ? `${sentenceOf(code)} (${facts})` : sentenceOf(code);
}

export function isAmberError(e: unknown, code?: ErrorCode): e is AmberError {
  return e instanceof AmberError && (code === undefined || e.code === code);
}
