import type { CaptureTrigger } from '../core/capture.js';
import type { CaptureRecord } from './capture-record.js';

const RESPONDER = { component: 'responder' } as const;

/**
 * The custody log's first entries, written once (the first attempt): the signal was received, a
 * policy matched it, the capture was queued — each at the time it happened, by the responder.
 */
export function recordIntake(record: CaptureRecord): void {
  if (record.custody.entries.length > 0) return;
  const capture = record.current;
  const t = capture.spec.trigger;
  record.custody.append('signal.received', signalDetails(t), RESPONDER, capture.createdAt);
  record.custody.append('policy.matched', { policy: t.policy }, RESPONDER, capture.createdAt);
  record.custody.append('capture.queued', { captureId: capture.id, target: capture.spec.target }, RESPONDER, capture.createdAt);
}

/**
 * The signals that joined the capture (core/join-capture.ts) enter its custody log, each with the
 * time it joined: its signal, its policy, and that it joined this capture instead of freezing the
 * container again. Once per join, across restarts. True when anything was added.
 */
export function recordJoins(record: CaptureRecord): boolean {
  const capture = record.current;
  const fresh = (capture.joined ?? []).slice(record.custody.count('capture.joined'));
  for (const j of fresh) {
    record.custody.append('signal.received', signalDetails(j.trigger), RESPONDER, j.at);
    record.custody.append('policy.matched', { policy: j.trigger.policy }, RESPONDER, j.at);
    record.custody.append('capture.joined', { captureId: capture.id, policy: j.trigger.policy, phase: j.phase }, RESPONDER, j.at);
  }
  return fresh.length > 0;
}

/**
 * `signal.received`: what the signal was, and for admission how its caller was authenticated and
 * what that caller asserted (user, groups, command) — never as facts. A capture queued before
 * callers were recorded (its trigger has top-level user/groups/command) had no authenticated
 * caller: its assertion is recorded as `unauthenticated`. Custody entries already written stay as
 * they are (verification hashes them as written).
 */
function signalDetails(t: CaptureTrigger): Record<string, unknown> {
  const legacy = t.user !== undefined || t.groups !== undefined || t.command !== undefined;
  const asserted =
    t.asserted ??
    (legacy
      ? {
          by: t.caller ?? 'unauthenticated',
          ...(t.user !== undefined ? { user: t.user } : {}),
          ...(t.groups !== undefined ? { groups: t.groups } : {}),
          ...(t.command !== undefined ? { command: t.command } : {}),
        }
      : undefined);
  const caller = t.caller ?? asserted?.by;
  return {
    source: t.source,
    rule: t.rule,
    priority: t.priority,
    signalDigest: t.signalDigest,
    ...(caller !== undefined ? { caller } : {}),
    ...(asserted !== undefined ? { asserted } : {}),
  };
}
