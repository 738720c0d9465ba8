import { AmberError } from '../core/amber-error.js';
import type { Settings } from './settings.js';

/** The admission listener as the settings describe it, checked: undefined when it is off. */
export interface AdmissionListener {
  readonly listen: string;
  readonly tls: { readonly cert: string; readonly key: string; readonly clientCA?: string | undefined };
  /** Callers must present a client certificate the CA verified (the TLS handshake refuses others). */
  readonly requireClientCert: boolean;
  readonly clientName?: string | undefined;
  readonly allowUnauthenticated: boolean;
  readonly allowUnauthenticatedHolds: boolean;
  readonly maxConcurrentHolds: number;
}

/**
 * The admission listener from the settings, or undefined when `admission.listen` is unset. It is
 * always HTTPS (the API server calls webhooks over TLS only): its own certificate, else the
 * intake's. With the listener on, the operator must say how callers are known — the API server's
 * client certificate (`--admission-client-ca`), or `--admission-allow-unauthenticated` — or amber
 * refuses to start: a webhook anyone can call could freeze any container a policy covers.
 */
export function admissionListener(settings: Settings): AdmissionListener | undefined {
  const a = settings.admission;
  if (a.listen === undefined) return undefined;
  const cert = a.tlsCert ?? settings.tls.cert;
  const key = a.tlsKey ?? settings.tls.key;
  if (cert === undefined || key === undefined) {
    throw new AmberError('CONFIG_INVALID', {
      setting: 'admission.listen',
      problem: 'the admission webhook is served over HTTPS only: set --admission-tls-cert and --admission-tls-key (or --tls-cert and --tls-key)',
    });
  }
  if (a.clientCA === undefined && !a.allowUnauthenticated) {
    throw new AmberError('CONFIG_INVALID', {
      setting: 'admission.listen',
      problem:
        "the admission webhook needs to know its caller: set --admission-client-ca (the CA of the API server's client certificate) or, to accept anyone who can reach the port, --admission-allow-unauthenticated",
    });
  }
  if (a.clientName !== undefined && a.clientCA === undefined) {
    throw new AmberError('CONFIG_INVALID', { setting: 'admission.clientName', problem: 'an expected client name needs --admission-client-ca' });
  }
  return {
    listen: a.listen,
    tls: { cert, key, ...(a.clientCA !== undefined ? { clientCA: a.clientCA } : {}) },
    requireClientCert: a.clientCA !== undefined && !a.allowUnauthenticated,
    clientName: a.clientName,
    allowUnauthenticated: a.allowUnauthenticated,
    allowUnauthenticatedHolds: a.allowUnauthenticatedHolds,
    maxConcurrentHolds: a.maxConcurrentHolds,
  };
}

/** What the hold check reads of a compiled policy. */
export interface HoldingPolicy {
  readonly name: string;
  readonly admission: { readonly holdUntilCheckpointedMs: number; readonly holdDeletes: boolean };
}

/**
 * A policy that holds (`admission.holdUntil`, `admission.holdDeletes`) makes the webhook keep a
 * request open or deny a pod's removal: without the API server's client certificate anyone who
 * can reach the port could do that, so such a policy refuses to load unless the operator allowed
 * it (`--admission-unauthenticated-holds`). Checked when the policies are loaded, and by
 * `amber policy validate|test` with the same settings. Without the admission listener nothing can
 * hold, and nothing is refused.
 */
export function checkAdmissionHolds(settings: Settings, policies: readonly HoldingPolicy[]): void {
  const a = settings.admission;
  if (a.listen === undefined || a.clientCA !== undefined || a.allowUnauthenticatedHolds) return;
  const holding = policies.filter((p) => p.admission.holdUntilCheckpointedMs > 0 || p.admission.holdDeletes);
  if (holding.length === 0) return;
  throw new AmberError('CONFIG_INVALID', {
    setting: 'admission.clientCA',
    policies: holding.map((p) => p.name),
    problem: `policy ${holding.map((p) => p.name).join(', ')} holds admission requests (admission.holdUntil or holdDeletes), which without --admission-client-ca any caller could trigger: set --admission-client-ca, or allow it with --admission-unauthenticated-holds`,
  });
}
