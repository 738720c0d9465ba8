import Type, { type Static } from 'typebox';
import { canonicalJson, sha256Hex } from './canonical-json.js';

export const Source = Type.Union([Type.Literal('falco'), Type.Literal('alertmanager'), Type.Literal('admission')]);
export type Source = Static<typeof Source>;

/** Falco's priority order, most severe first. */
export const PRIORITIES = ['Emergency', 'Alert', 'Critical', 'Error', 'Warning', 'Notice', 'Informational', 'Debug'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** Severity rank: higher is more severe (Emergency 7 … Debug 0). */
export function priorityRank(p: Priority): number {
  return PRIORITIES.length - 1 - PRIORITIES.indexOf(p);
}

const ALIASES: Record<string, Priority> = {
  emergency: 'Emergency',
  alert: 'Alert',
  critical: 'Critical',
  error: 'Error',
  warning: 'Warning',
  notice: 'Notice',
  informational: 'Informational',
  information: 'Informational',
  info: 'Informational',
  debug: 'Debug',
  // Prometheus' customary severity labels
  warn: 'Warning',
  page: 'Critical',
  high: 'Critical',
  medium: 'Warning',
  low: 'Notice',
};

/** Normalises Falco/Falcosidekick/Prometheus spellings (`critical`, `Info`, `warning`…). */
export function parsePriority(text: string): Priority | undefined {
  return ALIASES[text.trim().toLowerCase()];
}

/**
 * How the sender of a signal was authenticated. Today only admission signals record it:
 * `apiserver-mtls` when the API server presented a client certificate the configured CA verified
 * (and, when one is configured, with the expected name), `unauthenticated` when the operator let
 * callers in without one (`--admission-allow-unauthenticated`).
 */
export const Caller = Type.Union([Type.Literal('apiserver-mtls'), Type.Literal('unauthenticated')]);
export type Caller = Static<typeof Caller>;

/** What the alert says about where it happened; every name is validated at intake. */
export const SignalTarget = Type.Object({
  namespace: Type.Optional(Type.String()),
  pod: Type.Optional(Type.String()),
  podUID: Type.Optional(Type.String()),
  container: Type.Optional(Type.String()),
  /** 12 or 64 hex chars, runtime prefix stripped. */
  containerID: Type.Optional(Type.String()),
});
export type SignalTarget = Static<typeof SignalTarget>;

export const FieldValue = Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]);
export type FieldValue = Static<typeof FieldValue>;

/** One alert or admission event, whatever its source, in the form policies match against. */
export const Signal = Type.Object({
  source: Source,
  rule: Type.String(),
  priority: Type.Optional(Type.String()),
  time: Type.String(),
  tags: Type.Array(Type.String()),
  /** Falco output_fields, Alertmanager labels, admission attributes — flattened to scalars. */
  fields: Type.Record(Type.String(), FieldValue),
  target: SignalTarget,
  /** Human summary: Falco's `output`, an alert's summary annotation. */
  summary: Type.Optional(Type.String()),
  /**
   * Identity of this delivery for re-delivery dedupe: Alertmanager fingerprint + startsAt,
   * Falcosidekick's uuid. Absent when the source gives none.
   */
  deliveryKey: Type.Optional(Type.String()),
  /** How the sender was authenticated (admission signals). */
  caller: Type.Optional(Caller),
  /** The event as received (one alert of a batch, with its group's context). */
  raw: Type.Unknown(),
  /**
   * The exact bytes received, when parsing could lose information: Falco's nanosecond integers
   * (evt.time…) exceed JSON's safe integer range, so the parsed copy is not the evidence.
   */
  rawText: Type.Optional(Type.String()),
});
export type Signal = Static<typeof Signal>;

/**
 * sha256 (hex) of the bytes received (`rawText`), or of the event's canonical JSON when those are
 * not kept: what a capture records as its trigger's `signalDigest`. Computed when a capture is
 * planned, not at intake: a duplicate alert (most of a storm) never needs it.
 */
export function signalDigest(signal: Pick<Signal, 'raw' | 'rawText'>): string {
  return sha256Hex(signal.rawText ?? canonicalJson(signal.raw));
}
