import type { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';

/**
 * Who may call the intake and capture routes: a bearer token from the configured set, or a
 * client certificate the server's client CA verified (Falco's http_output cannot send headers).
 */
export interface Authenticator {
  /** The principal (`token:<n>` or the certificate subject CN), or undefined when not authenticated. */
  authenticate(request: FastifyRequest): string | undefined;
  /** The principal a bearer token stands for (the evidence browser's sign-in), or undefined. */
  checkToken(token: string): string | undefined;
  readonly enabled: boolean;
}

/**
 * Whether `presented` is `secret`, doing the same work whatever `presented` holds: every code unit
 * of the secret is compared (the presented text read cyclically) and the lengths' difference is
 * folded into the result, so the time taken tells neither how much of a guess was right nor
 * whether its length was. Plain arithmetic on the strings: hashing both sides to compare digests
 * (the usual way to hide lengths) cost an OpenSSL call and a buffer on every request.
 */
export function sameSecret(secret: string, presented: string): boolean {
  const n = presented.length;
  let diff = secret.length ^ n;
  for (let i = 0; i < secret.length; i++) diff |= secret.charCodeAt(i) ^ (n === 0 ? 0 : presented.charCodeAt(i % n));
  return diff === 0 && secret.length > 0;
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function tokenAuthenticator(tokens: readonly string[], options: { acceptClientCerts: boolean }): Authenticator {
  // The principal names, made once rather than per request.
  const principals = tokens.map((_t, i) => `token:${i + 1}`);
  const checkToken = (presented: string): string | undefined => {
    // Every configured token is compared, whichever one matches, so the time taken does
    // not tell which token (or how many) a guess came close to.
    let found = -1;
    for (let i = 0; i < tokens.length; i++) if (sameSecret(tokens[i] as string, presented) && found === -1) found = i;
    return found === -1 ? undefined : principals[found];
  };
  return {
    enabled: true,
    checkToken: (token) => (token.length <= 4096 ? checkToken(token) : undefined),
    authenticate(request) {
      const header = request.headers.authorization;
      if (typeof header === 'string' && header.length <= 4096) {
        const m = BEARER.exec(header);
        if (m?.[1] !== undefined) {
          const principal = checkToken(m[1]);
          if (principal !== undefined) return principal;
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
  checkToken: () => 'anonymous',
};

/** Tokens file: one token per line; blank lines and lines starting with `#` are skipped. */
export function parseTokens(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}
