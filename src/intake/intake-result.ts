import { AmberError } from '../core/amber-error.js';
import { isValidName, type NameKind } from '../core/kube-names.js';
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

/** Each target key, in the order it is checked, with the kind of name it holds. */
const TARGET_KINDS: readonly (readonly [keyof SignalTarget, NameKind])[] = [
  ['namespace', 'namespace'],
  ['pod', 'pod'],
  ['podUID', 'podUID'],
  ['container', 'container'],
  ['containerID', 'containerID'],
];

/** Validates every name in the target; `sourceOf` names the alert field it came from. */
export function checkTarget(target: SignalTarget, sourceOf: Partial<Record<keyof SignalTarget, string>>): SignalTarget {
  for (const [key, kind] of TARGET_KINDS) {
    const value = target[key];
    if (value !== undefined && !isValidName(kind, value)) {
      throw new AmberError('INTAKE_BAD_NAME', { field: sourceOf[key] ?? key, value: clip(value) });
    }
  }
  return target;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

/**
 * True exactly when core/rfc3339's `parseRfc3339(text)` gives a time (test/unit/intake-helpers
 * checks the two against each other), for half its cost: the intake only needs the verdict, not
 * the milliseconds, so it skips the array copies and the Date object parseRfc3339 makes for the
 * calendar check. Years 0–99 are read as 1900–1999 for that check, as Date.UTC reads them there.
 */
export function isRfc3339(text: string): boolean {
  const m = RFC3339.exec(text);
  if (!m) return false;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1 || Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 60) return false;
  const y = year <= 99 ? year + 1900 : year;
  const leap = y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (day > (month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] as number))) return false;
  return !Number.isNaN(Date.parse(text));
}

export function checkTime(text: string, field: string): string {
  if (!isRfc3339(text)) throw new AmberError('INTAKE_BAD_TIME', { field, value: clip(text) });
  return text;
}

/**
 * Scalars stay as they are; anything nested is kept as its JSON text so policies can still see it.
 * Falco's output_fields are nearly always all scalars: then the object itself is returned (nothing
 * writes to a signal's fields), saving a copy of every field on each alert.
 */
export function flattenFields(fields: Record<string, unknown>): Record<string, FieldValue> {
  let scalars = true;
  for (const k in fields) {
    const v = fields[k];
    if (v !== null && typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      scalars = false;
      break;
    }
  }
  if (scalars && Object.getPrototypeOf(fields) === Object.prototype) return fields as Record<string, FieldValue>;
  const out: Record<string, FieldValue> = {};
  for (const k of Object.keys(fields)) {
    const v = fields[k];
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
