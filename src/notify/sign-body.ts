import { createHmac } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-amber-signature';

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the timestamp is inside the MAC, so a
 * receiver that refuses an old `t` (say, more than 5 minutes off) refuses a replayed request too.
 */
export function signatureHeader(secret: Buffer, body: Buffer, unixSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${unixSeconds}.`).update(body).digest('hex');
  return `t=${unixSeconds},v1=${mac}`;
}
