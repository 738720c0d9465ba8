import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';

/** Who a browser request is from, and the token its state-changing requests must carry. */
export interface UiUser {
  readonly user: string;
  /** The CSRF token: sent as `X-CSRF-Token` on every request that is not GET or HEAD. */
  readonly csrf: string;
  /** How the user was recognised. */
  readonly via: 'session' | 'proxy';
  /** Session only: when it ends (RFC 3339). */
  readonly expiresAt?: string;
}

export interface UiSessionOptions {
  /** The signing key (32+ bytes): replicas that share it accept each other's sessions. */
  readonly key: Buffer;
  readonly minutes: number;
  /** Over TLS: the cookie is `Secure` and `__Host-` prefixed. */
  readonly secure: boolean;
  /** Trust this header as the user's name, on requests from these addresses/CIDRs only. */
  readonly proxyUser?: { readonly header: string; readonly from: readonly string[] } | undefined;
  readonly now?: () => number;
}

/**
 * The evidence browser's sessions: a bearer token checked once at sign-in becomes a cookie that
 * holds the user, an expiry and a nonce, signed with HMAC-SHA256 — no server-side store, so any
 * replica with the same key accepts it. The CSRF token is derived from the nonce (double submit:
 * a page of another origin can neither read it nor the cookie, and SameSite=Strict keeps the
 * cookie off cross-site requests anyway). Sign-out revokes the nonce in this process; another
 * replica honours a copied cookie until it expires, which is why sessions are short.
 */
export class UiSessions {
  readonly cookieName: string;
  private readonly revoked = new Map<string, number>();
  private readonly now: () => number;
  private readonly proxyFrom: BlockList | undefined;

  constructor(private readonly opts: UiSessionOptions) {
    if (opts.key.length < 32) throw new Error('the session key needs at least 32 bytes');
    this.cookieName = opts.secure ? '__Host-amber-session' : 'amber-session';
    this.now = opts.now ?? Date.now;
    this.proxyFrom = opts.proxyUser ? addressList(opts.proxyUser.from) : undefined;
  }

  /** A new session for `user`: the Set-Cookie value and what the page is told. */
  issue(user: string): { setCookie: string; session: UiUser } {
    const now = this.now();
    const expires = now + this.opts.minutes * 60_000;
    const nonce = randomBytes(16).toString('base64url');
    const payload = Buffer.from(JSON.stringify({ u: user, e: expires, n: nonce })).toString('base64url');
    const value = `${payload}.${this.mac(payload)}`;
    return {
      setCookie: this.cookie(value, Math.floor((expires - now) / 1000)),
      session: { user, csrf: this.csrfOf(`n:${nonce}`), via: 'session', expiresAt: new Date(expires).toISOString() },
    };
  }

  /** The cookie that removes the session from the browser. */
  clearCookie(): string {
    return this.cookie('', 0);
  }

  /** Ends the session the request carries (in this process: see the class comment). */
  revoke(request: FastifyRequest): void {
    const parsed = this.parse(request);
    if (!parsed) return;
    this.revoked.set(parsed.nonce, parsed.expires);
    // expired nonces need no remembering
    if (this.revoked.size > 1000) for (const [n, e] of this.revoked) if (e <= this.now()) this.revoked.delete(n);
  }

  /** The user of a browser request: the trusted proxy's header, else a valid session cookie. */
  userOf(request: FastifyRequest): UiUser | undefined {
    const proxied = this.proxied(request);
    if (proxied !== undefined) return { user: proxied, csrf: this.csrfOf(`p:${proxied}`), via: 'proxy' };
    const parsed = this.parse(request);
    if (!parsed) return undefined;
    return { user: parsed.user, csrf: this.csrfOf(`n:${parsed.nonce}`), via: 'session', expiresAt: new Date(parsed.expires).toISOString() };
  }

  /** Whether a state-changing request carries the user's CSRF token. */
  csrfHolds(request: FastifyRequest, user: UiUser): boolean {
    const sent = request.headers['x-csrf-token'];
    if (typeof sent !== 'string') return false;
    // bytes, not characters: a header of non-ASCII characters has as many characters as the token but more bytes
    const a = Buffer.from(sent);
    const b = Buffer.from(user.csrf);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private proxied(request: FastifyRequest): string | undefined {
    const p = this.opts.proxyUser;
    if (!p || !this.proxyFrom) return undefined;
    const address = request.raw.socket.remoteAddress;
    if (address === undefined || !this.proxyFrom.check(unmapped(address), isIP(unmapped(address)) === 6 ? 'ipv6' : 'ipv4')) return undefined;
    const value = request.headers[p.header.toLowerCase()];
    const name = typeof value === 'string' ? value.trim() : undefined;
    return name !== undefined && name !== '' && name.length <= 256 && !/[\u0000-\u001f]/.test(name) ? `proxy:${name}` : undefined;
  }

  private parse(request: FastifyRequest): { user: string; expires: number; nonce: string } | undefined {
    const value = cookieValue(request.headers.cookie, this.cookieName);
    if (value === undefined || value.length > 2048) return undefined;
    const dot = value.indexOf('.');
    if (dot < 0) return undefined;
    const payload = value.slice(0, dot);
    const mac = Buffer.from(value.slice(dot + 1));
    const want = Buffer.from(this.mac(payload));
    if (mac.length !== want.length || !timingSafeEqual(mac, want)) return undefined;
    let data: { u?: unknown; e?: unknown; n?: unknown };
    try {
      data = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as typeof data;
    } catch {
      return undefined;
    }
    if (typeof data.u !== 'string' || typeof data.e !== 'number' || typeof data.n !== 'string') return undefined;
    if (data.e <= this.now() || this.revoked.has(data.n)) return undefined;
    return { user: data.u, expires: data.e, nonce: data.n };
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.opts.key).update(`session:${payload}`).digest('base64url');
  }

  private csrfOf(what: string): string {
    return createHmac('sha256', this.opts.key).update(`csrf:${what}`).digest('base64url');
  }

  private cookie(value: string, maxAge: number): string {
    return `${this.cookieName}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${this.opts.secure ? '; Secure' : ''}`;
  }
}

/** An address list of IPs and CIDRs (`10.0.0.0/8`, `::1`); throws on one that is neither. */
export function addressList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of entries) {
    const [address = '', bits, ...rest] = entry.split('/');
    const family = isIP(address);
    // `10.0.0.0/8/9` is no CIDR (it was read as 10.0.0.0/8)
    if (family === 0 || rest.length > 0) throw new Error(`'${entry}' is not an IP address or CIDR`);
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(address, type);
    else {
      const prefix = Number(bits);
      if (!/^\d+$/.test(bits) || prefix > (family === 6 ? 128 : 32)) throw new Error(`'${entry}' has a bad prefix length`);
      list.addSubnet(address, prefix, type);
    }
  }
  return list;
}

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack socket) as `10.0.0.1`. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Sign-in attempts per client address per minute: a token cannot be guessed at line speed. The
 * map is bounded: past 10,000 addresses the finished windows are dropped.
 */
export class SignInLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();
  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Undefined when the attempt may go ahead, else the seconds until it may. */
  take(address: string): number | undefined {
    const t = this.now();
    if (this.windows.size > 10_000) for (const [a, w] of this.windows) if (t - w.start >= 60_000) this.windows.delete(a);
    const w = this.windows.get(address);
    if (!w || t - w.start >= 60_000) {
      this.windows.set(address, { start: t, count: 1 });
      return undefined;
    }
    if (w.count >= this.perMinute) return Math.max(1, Math.ceil((w.start + 60_000 - t) / 1000));
    w.count++;
    return undefined;
  }
}
