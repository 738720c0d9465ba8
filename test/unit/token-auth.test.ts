import fc from 'fast-check';
import type { FastifyRequest } from 'fastify';
import t from 'tap';
import { sameSecret, tokenAuthenticator } from '../../src/http/token-auth.js';

t.test('sameSecret is string equality, and never true for an empty secret', async (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), fc.string({ maxLength: 80 }), (a, b) => sameSecret(a, b) === (a === b && a.length > 0)),
    { numRuns: 2000 },
  );
  const token = 'Zq3h1Yf0wV8cK2mN7pR4sT6uX9bD5eG1';
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (s) => sameSecret(token, s) === (s === token)),
    { numRuns: 2000 },
  );
  for (const near of ['', token.slice(0, -1), `${token}x`, `${token}${token}`, token.slice(0, 16), token.toLowerCase(), `${token.slice(0, -1)}Ж`]) {
    t.equal(sameSecret(token, near), false, JSON.stringify(near));
  }
  t.equal(sameSecret(token, `${token}`), true);
  t.equal(sameSecret('', ''), false);
});

t.test('tokenAuthenticator names the token that matched and refuses near misses', async (t) => {
  const auth = tokenAuthenticator(['first-token-aaaaaaaa', 'second-token-bbbbbbb'], { acceptClientCerts: false });
  const as = (authorization?: string) => auth.authenticate({ headers: { authorization }, raw: { socket: {} } } as unknown as FastifyRequest);
  t.equal(as('Bearer first-token-aaaaaaaa'), 'token:1');
  t.equal(as('bearer   second-token-bbbbbbb  '), 'token:2', 'scheme in any case, spaces around the token');
  for (const header of [
    undefined,
    '',
    'Bearer',
    'Bearer first-token-aaaaaaa',
    'Bearer first-token-aaaaaaaaa',
    'Basic first-token-aaaaaaaa',
    `Bearer ${'a'.repeat(5000)}`,
  ]) {
    t.equal(as(header), undefined, String(header).slice(0, 40));
  }
});
