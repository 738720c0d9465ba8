import { AmberError } from '../core/amber-error.js';

/** Credentials for a registry: none, or a user and password (basic auth, or exchanged for a bearer token). */
export interface RegistryCredentials {
  readonly user?: string | undefined;
  readonly password?: string | undefined;
}

/** A challenge of `WWW-Authenticate` (RFC 7235): its scheme and parameters. */
export interface Challenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/** `Bearer realm="https://auth",service="registry",scope="repository:x:push,pull"` → scheme and params. */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*([A-Za-z]+)\s*(.*)$/.exec(header);
  if (!m?.[1]) return undefined;
  const params: Record<string, string> = {};
  for (const p of (m[2] ?? '').matchAll(/([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    if (p[1] !== undefined) params[p[1].toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme: m[1].toLowerCase(), params };
}

export function basicHeader(c: RegistryCredentials): string | undefined {
  if (c.user === undefined) return undefined;
  return `Basic ${Buffer.from(`${c.user}:${c.password ?? ''}`).toString('base64')}`;
}

/** What fetches a token: GET on the realm's URL, with basic credentials when there are any. */
export type TokenFetch = (url: string, headers: Record<string, string>) => Promise<{ status: number; body: string }>;

/**
 * The Authorization header a registry's 401 challenge asks for: Basic with the credentials, or
 * Bearer with a token from the challenge's realm (the Docker token protocol: GET
 * realm?service=…&scope=…, answered `{token}` or `{access_token}`). REGISTRY_UNAUTHORIZED when
 * there is nothing to answer the challenge with, or the token service refuses.
 */
export async function answerChallenge(challenge: Challenge | undefined, creds: RegistryCredentials, fetchToken: TokenFetch, scope: string): Promise<string> {
  if (challenge === undefined) throw new AmberError('REGISTRY_UNAUTHORIZED', { problem: 'the registry answered 401 without a WWW-Authenticate challenge' });
  const basic = basicHeader(creds);
  if (challenge.scheme === 'basic') {
    if (basic === undefined)
      throw new AmberError('REGISTRY_UNAUTHORIZED', { problem: 'the registry asks for a user and password: pass --registry-user and AMBER_REGISTRY_PASSWORD' });
    return basic;
  }
  if (challenge.scheme !== 'bearer')
    throw new AmberError('REGISTRY_UNAUTHORIZED', { problem: `the registry asks for ${challenge.scheme} authentication, which amber does not speak` });
  const realm = challenge.params['realm'];
  if (realm === undefined || !/^https?:\/\//.test(realm))
    throw new AmberError('REGISTRY_UNAUTHORIZED', { problem: 'the bearer challenge names no http(s) realm' });
  const url = new URL(realm);
  if (challenge.params['service'] !== undefined) url.searchParams.set('service', challenge.params['service']);
  url.searchParams.set('scope', challenge.params['scope'] ?? scope);
  const { status, body } = await fetchToken(url.href, basic === undefined ? {} : { authorization: basic });
  if (status !== 200) {
    throw new AmberError('REGISTRY_UNAUTHORIZED', {
      problem: `the token service ${url.origin}${url.pathname} answered ${status}${basic === undefined ? ' (no credentials were given)' : ''}`,
    });
  }
  let token: unknown;
  try {
    const parsed = JSON.parse(body) as { token?: unknown; access_token?: unknown };
    token = parsed.token ?? parsed.access_token;
  } catch {
    token = undefined;
  }
  if (typeof token !== 'string' || token === '') throw new AmberError('REGISTRY_UNAUTHORIZED', { problem: 'the token service answered without a token' });
  return `Bearer ${token}`;
}
