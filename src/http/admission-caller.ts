import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import type { Caller } from '../core/signal.js';

/** Who may call the admission webhook, as the settings say (config/admission-settings.ts). */
export interface AdmissionCallers {
  /** A client CA is configured: a verified certificate makes the caller `apiserver-mtls`. */
  readonly mtls: boolean;
  /** The subject CN or a DNS/URI SAN the API server's certificate must carry; absent: any the CA signed. */
  readonly clientName?: string | undefined;
  /** Callers without a verified certificate are let in, as `unauthenticated`. */
  readonly allowUnauthenticated: boolean;
}

/**
 * How the caller of an admission request is authenticated, or undefined when it must be refused
 * (401). A certificate the CA verified but with another name than the expected one is refused
 * even where unauthenticated callers are allowed: it claims to be someone it is not allowed to be.
 * Without `requireClientCert` on the listener a request can arrive with no certificate, or one the
 * CA did not verify (`socket.authorized` false): that is an unauthenticated caller.
 */
export function admissionCaller(request: FastifyRequest, callers: AdmissionCallers): Caller | undefined {
  const socket = request.raw.socket as Partial<TLSSocket>;
  if (callers.mtls && socket.authorized === true) {
    if (callers.clientName === undefined) return 'apiserver-mtls';
    const peer = socket.getPeerCertificate?.();
    return peer !== undefined && certificateNames(peer).includes(callers.clientName) ? 'apiserver-mtls' : undefined;
  }
  return callers.allowUnauthenticated ? 'unauthenticated' : undefined;
}

/** The subject CN and the DNS and URI subject alternative names of a peer certificate. */
function certificateNames(peer: { subject?: { CN?: string | string[] }; subjectaltname?: string }): string[] {
  const cn = peer.subject?.CN;
  const names = cn === undefined ? [] : Array.isArray(cn) ? [...cn] : [cn];
  for (const entry of (peer.subjectaltname ?? '').split(', ')) {
    const m = /^(DNS|URI):(.+)$/.exec(entry);
    if (m?.[2] !== undefined) names.push(m[2]);
  }
  return names;
}
