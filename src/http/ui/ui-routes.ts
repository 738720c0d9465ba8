import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import Type from 'typebox';
import { AmberError } from '../../core/amber-error.js';
import type { Authenticator } from '../token-auth.js';
import type { SignInLimiter, UiSessions, UiUser } from './ui-session.js';

/** No inline script or style, nothing from another origin: evidence strings can never run. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const ASSETS = { 'app.js': 'text/javascript; charset=utf-8', 'app.css': 'text/css; charset=utf-8' } as const;

export interface UiOptions {
  readonly sessions: UiSessions;
  readonly limiter: SignInLimiter;
  /** The built page: index.html, app.js, app.css (dist/ui, made by `npm run build`). */
  readonly assetsDir: string;
}

/** Headers every page and API answer of the browser carries. */
export function hardened(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONTENT_SECURITY_POLICY)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin');
}

/**
 * The evidence browser: the page and its assets at /ui (bundled, no CDN), and its sign-in. The
 * page calls the same /v1 API as every client, authenticated by the session cookie issued here.
 */
export const uiRoutes: FastifyPluginAsyncTypebox<UiOptions & { auth: Authenticator }> = async (app, opts) => {
  const { sessions, limiter, auth } = opts;
  const files = new Map<string, Buffer>();
  for (const name of ['index.html', ...Object.keys(ASSETS)]) {
    try {
      files.set(name, await readFile(join(opts.assetsDir, name)));
    } catch (cause) {
      throw new AmberError(
        'CONFIG_INVALID',
        { setting: 'ui.enabled', problem: `the page's ${name} is not in ${opts.assetsDir}: run npm run build, or --ui false` },
        { cause },
      );
    }
  }
  const page = (_request: FastifyRequest, reply: FastifyReply) =>
    hardened(reply).header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').send(files.get('index.html'));
  app.get('/ui', { schema: { hide: true } }, page);
  app.get('/ui/', { schema: { hide: true } }, page);
  for (const [name, type] of Object.entries(ASSETS)) {
    app.get(`/ui/assets/${name}`, { schema: { hide: true } }, (_request, reply) =>
      hardened(reply).header('content-type', type).header('cache-control', 'no-cache').send(files.get(name)),
    );
  }

  const Session = Type.Object({ user: Type.String(), csrf: Type.String(), via: Type.String(), expiresAt: Type.Optional(Type.String()) });
  const userOf = (request: FastifyRequest): UiUser | undefined => (auth.enabled ? sessions.userOf(request) : { user: 'anonymous', csrf: 'none', via: 'proxy' });

  app.get('/ui/api/session', { schema: { summary: 'Who the browser is signed in as', response: { 200: Session } } }, async (request, reply) => {
    const user = userOf(request);
    hardened(reply).header('cache-control', 'no-store');
    if (!user) throw new AmberError('AUTH_REQUIRED');
    return user;
  });

  app.post(
    '/ui/api/session',
    {
      schema: {
        summary: 'Signs in with a bearer token: sets the session cookie',
        body: Type.Object({ token: Type.String({ minLength: 1, maxLength: 4096 }) }, { additionalProperties: false }),
        response: { 200: Session },
      },
    },
    async (request, reply) => {
      hardened(reply).header('cache-control', 'no-store');
      const wait = limiter.take(request.ip);
      if (wait !== undefined) {
        request.log.warn({ ip: request.ip, retryAfterSeconds: wait }, 'sign-in refused: too many attempts from this address');
        reply.header('retry-after', String(wait));
        throw new AmberError('SIGN_IN_RATE_LIMITED', { retryAfterSeconds: wait });
      }
      const principal = auth.checkToken(request.body.token);
      if (principal === undefined) {
        request.log.warn({ ip: request.ip }, 'sign-in refused: the token is not one of ours');
        throw new AmberError('AUTH_REQUIRED');
      }
      const { setCookie, session } = sessions.issue(principal);
      request.log.info({ user: principal, ip: request.ip, expiresAt: session.expiresAt }, 'signed in to the evidence browser');
      reply.header('set-cookie', setCookie);
      return session;
    },
  );

  app.delete('/ui/api/session', { schema: { summary: 'Signs out' } }, async (request, reply) => {
    hardened(reply).header('cache-control', 'no-store');
    const user = sessions.userOf(request);
    if (user && user.via === 'session') {
      if (!sessions.csrfHolds(request, user)) throw new AmberError('UI_CSRF_MISMATCH');
      sessions.revoke(request);
      request.log.info({ user: user.user }, 'signed out of the evidence browser');
    }
    reply.header('set-cookie', sessions.clearCookie());
    return reply.status(204).send();
  });
};
