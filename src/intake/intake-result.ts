import { AmberError } from '../core/amber-error.js';
import { isValidName, type NameKind } from '../core/kube-names.js';
import { parseRfc3339 } from '../core/rfc3339.js';
import type { FieldValue, Signal, SignalTarget } from '../core/signal.js';

/** What an intake payload turned into: signals to evaluate, and events deliberately skipped. */
export interface IntakeResult {
  readonly signals: Signal[];
  readonly ignored: { readonly index: number; readonly reason: string }[];
}

/** Falco prints `<NA>` for a field it could not resolve; treat it, and blanks, as absent. */
export function present(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const s = String(value).trim();
  return s === '' || s === '<NA>' ? undefined : s;
}

/** Validates every name in the target; `sourceOf` names the alert field it came from. */
export function checkTarget(target: SignalTarget, sourceOf: Partial<Record<keyof SignalTarget, string>>): SignalTarget {
  const kinds: Record<keyof SignalTarget, NameKind> = {
    namespace: 'namespace', pod: 'pod', podUID: 'podUID', container: 'container', containerID: 'containerID',
  };
  for (const key of Object.keys(kinds) as (keyof SignalTarget)[]) {
    const value = target[key];
    if (value !== undefined && !isValidName(kinds[key], value)) {
      throw new AmberError('INTAKE_BAD_NAME', { field: sourceOf[key] ?? key, value: clip(value) });
    }
  }
  return target;
}

export function checkTime(text: string, field: string): string {
  const ms = parseRfc3339(text);
  if (ms === undefined) throw new AmberError('INTAKE_BAD_TIME', { field, value: clip(text) });
  return text;
}

/** Scalars stay as they are; anything nested is kept as its JSON text so policies can still see it. */
export function flattenFields(fields: Record<string, unknown>): Record<string, FieldValue> {
  const out: Record<string, FieldValue> = {};
  for (const [k, v] of Object.entries(fields)) {
    out[k] = v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : JSON.stringify(v);
  }
  return out;
}

/** Short, printable rendering of a hostile value for error messages and logs. */
export function clip(value: string): string {
  const printable = JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
  return printable.slice(1, -1);
}

export function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
