import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case

/**
 * Sortable, name-safe capture ids: 10 chars of millisecond time then 16 random chars, all
 * lower-case Crockford base32 (a valid Kubernetes name and a safe path segment).
 * Ids made later sort later (to the millisecond).
 */
export function newCaptureId(now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = randomBytes(16);
  let rand = '';
  for (const b of bytes) rand += ALPHABET[b % 32];
  return time + rand;
}

export function isCaptureId(id: string): boolean {
  return /^[0-9a-hjkmnp-tv-z]{26}$/.test(id);
}
