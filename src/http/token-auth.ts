import { createHash, timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';

/**
 * Who may call the intake and capture routes: a bearer token from the configured set, or a
 * client certificate the server's client CA verified (Falco's http_output cannot send headers).
 */
export interface Authenticator {
  /** The principal (`token:<n>` or the certificate subject CN), or undefined when not authenticated. */
  authenticate(request: FastifyRequest): string | undefined;
  readonly enabled: boolean;
}

export function tokenAuthenticator(tokens: readonly string[], options: { acceptClientCerts: boolean }): Authenticator {
  // Compare digests, so the comparison is constant-time whatever the token lengths.
  const digests = tokens.map((t) => createHash('sha256').update(t).digest());
  return {
    enabled: true,
    authenticate(request) {
      const header = request.headers.authorization;
      if (typeof header === 'string' && header.length <= 4096) {
        const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
        if (m?.[1] !== undefined) {
          const presented = createHash('sha256').update(m[1]).digest();
          let found = -1;
          for (const [i, d] of digests.entries()) if (timingSafeEqual(d, presented) && found === -1) found = i;
          if (found !== -1) return `token:${found + 1}`;
        }
      }
      if (options.acceptClientCerts) {
        const socket = request.raw.socket as Partial<TLSSocket>;
        if (socket.authorized === true) {
          const cn = socket.getPeerCertificate?.().subject?.CN;
          return `cert:${typeof cn === 'string' ? cn : 'unnamed'}`;
        }
      }
      return undefined;
    },
  };
}

/** `--insecure-no-auth`: everyone is let in. A module of its own so the choice is visible. */
export const noAuthenticator: Authenticator = {
  enabled: false,
  authenticate: () => 'anonymous',
};

/** Tokens file: one token per line; blank lines and lines starting with `#` are skipped. */
export function parseTokens(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}
