import type { Check } from '../evidence/verify-bundle.js';
import type { Manifest } from '../evidence/manifest.js';
import { retentionOf } from '../storage/retention-of.js';
import type { S3Store } from '../storage/s3-store.js';

/** The lock state of one stored object of a bundle (S3 only). */
export interface ObjectLock {
  readonly name: string;
  readonly mode?: string;
  readonly retainUntil?: string;
  readonly legalHold: boolean;
}

/**
 * Each stored object's Object Lock state, and a check per object that it is what the manifest's
 * policy promised (the same computation the capture asked the store for): `amber verify` and the
 * evidence browser both print these.
 */
export async function objectLocks(
  store: S3Store,
  prefix: string,
  names: readonly string[],
  manifest: Manifest | undefined,
): Promise<{ objects: ObjectLock[]; checks: Check[] }> {
  const objects: ObjectLock[] = [];
  const checks: Check[] = [];
  const evidence = manifest?.evidence;
  // what the capture asked the store for (the same computation), so what the policy promised
  const retention = evidence !== undefined && manifest !== undefined ? retentionOf(evidence, manifest.times.queued) : undefined;
  const wanted = retention?.mode;
  const promised = retention?.retainUntil.getTime();
  for (const name of names) {
    const info = await store.headObject(`${prefix}/${name}`);
    if (info === undefined) continue;
    const lock: ObjectLock = {
      name,
      ...(info.lockMode !== undefined ? { mode: info.lockMode } : {}),
      ...(info.retainUntil !== undefined ? { retainUntil: info.retainUntil.toISOString() } : {}),
      legalHold: info.legalHold,
    };
    objects.push(lock);
    if (wanted === undefined || promised === undefined) continue;
    const until = info.retainUntil?.getTime();
    const ok = info.lockMode === wanted && until !== undefined && until >= promised - 1000;
    checks.push({
      check: 'retention',
      artifact: name,
      ok,
      detail: ok
        ? `${info.lockMode} until ${lock.retainUntil}${info.legalHold ? ', legal hold' : ''}`
        : `the manifest promises ${wanted} until at least ${new Date(promised).toISOString()}; the store reports ${info.lockMode ?? 'no lock'}${lock.retainUntil ? ` until ${lock.retainUntil}` : ''}`,
    });
    if (evidence?.legalHold === true && !info.legalHold) {
      checks.push({ check: 'legal hold', artifact: name, ok: false, detail: 'the manifest promises a legal hold; the store reports none' });
    }
  }
  return { objects, checks };
}
