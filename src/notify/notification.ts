import Type, { type Static } from 'typebox';
import type { Capture } from '../core/capture.js';

export const NOTIFICATION_SCHEMA = 'forensics.amber.dev/notification/v1';

/** What happened to the capture: `capture.sealed` (with the report's indicators when it was written) or `capture.failed`. */
export const NotificationEvent = Type.Union([Type.Literal('capture.sealed'), Type.Literal('capture.failed')]);
export type NotificationEvent = Static<typeof NotificationEvent>;

/**
 * The body of a webhook notification (README "Notifications"). Versioned by `schema`: a field is
 * only ever added; a change of meaning is a new version. Every string that came from the alert or
 * the cluster (pod names, rule text, messages) is the sender's own and must be treated as
 * attacker-controlled by the receiver.
 */
export const Notification = Type.Object({
  schema: Type.Literal(NOTIFICATION_SCHEMA),
  event: NotificationEvent,
  /** capture id + event: the same for a re-sent notification, so a receiver can dedupe too. */
  id: Type.String(),
  /** When amber made this notification (RFC 3339). */
  sentAt: Type.String(),
  cluster: Type.String(),
  capture: Type.Object({
    id: Type.String(),
    phase: Type.Union([Type.Literal('Sealed'), Type.Literal('Failed')]),
    policy: Type.String(),
    createdAt: Type.String(),
    /** When it became Sealed or Failed. */
    endedAt: Type.Optional(Type.String()),
    attempts: Type.Integer({ minimum: 0 }),
  }),
  target: Type.Object({
    namespace: Type.String(),
    pod: Type.String(),
    container: Type.Optional(Type.String()),
    node: Type.Optional(Type.String()),
  }),
  trigger: Type.Object({ source: Type.String(), rule: Type.String(), priority: Type.Optional(Type.String()), time: Type.String() }),
  /** Failed: the stable reason (`PodGone`, `CheckpointFailed`, …) and the runtime's words. */
  reason: Type.Optional(Type.String()),
  message: Type.Optional(Type.String()),
  /** Sealed: where the bundle is (verify it with `amber verify <uri>`). */
  bundle: Type.Optional(Type.Object({ uri: Type.String(), signingKeyId: Type.String() })),
  /** Sealed: the triage report's state (`Written`, `Failed`, or absent when reports are off) and its indicator ids, most severe first. */
  report: Type.Optional(Type.Object({ state: Type.String(), indicators: Type.Array(Type.String()) })),
});
export type Notification = Static<typeof Notification>;

/** The notification of a Sealed or Failed capture (any other phase is not news: undefined). */
export function notificationOf(capture: Capture, cluster: string, now: Date): Notification | undefined {
  const { status, spec } = capture;
  if (status.phase !== 'Sealed' && status.phase !== 'Failed') return undefined;
  const event: NotificationEvent = status.phase === 'Sealed' ? 'capture.sealed' : 'capture.failed';
  const endedAt = status.phaseTimes[status.phase];
  const node = spec.target.node ?? status.resolved?.node;
  return {
    schema: NOTIFICATION_SCHEMA,
    event,
    id: `${capture.id}/${event}`,
    sentAt: now.toISOString(),
    cluster,
    capture: {
      id: capture.id,
      phase: status.phase,
      policy: spec.trigger.policy,
      createdAt: capture.createdAt,
      ...(endedAt ? { endedAt } : {}),
      attempts: status.attempts,
    },
    target: {
      namespace: spec.target.namespace,
      pod: spec.target.pod,
      ...(spec.target.container === undefined ? {} : { container: spec.target.container }),
      ...(node === undefined ? {} : { node }),
    },
    trigger: {
      source: spec.trigger.source,
      rule: spec.trigger.rule,
      ...(spec.trigger.priority === undefined ? {} : { priority: spec.trigger.priority }),
      time: spec.trigger.time,
    },
    ...(status.phase === 'Failed' && status.reason !== undefined ? { reason: status.reason } : {}),
    ...(status.phase === 'Failed' && status.message !== undefined ? { message: status.message } : {}),
    ...(status.phase === 'Sealed' && status.bundle ? { bundle: { uri: status.bundle.uri, signingKeyId: status.bundle.signingKeyId } } : {}),
    ...(status.phase === 'Sealed' && status.report ? { report: { state: status.report.state, indicators: [...(status.report.indicators ?? [])] } } : {}),
  };
}
