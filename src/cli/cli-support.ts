import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isAmberError } from '../core/amber-error.js';

/** Exit codes: 0 ok, 1 the answer is "no" (invalid input), 2 could not run. */
export const EXIT = { OK: 0, NO: 1, CANNOT_RUN: 2 } as const;

export class UsageError extends Error {}

export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
  env: process.env,
};

export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(args: readonly string[], options: T) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** One line for a person: `CODE: message`. */
export function describeError(e: unknown): string {
  if (isAmberError(e)) {
    const cause = e.cause instanceof Error ? ` — ${e.cause.message}` : '';
    return `${e.code}: ${e.message}${cause}`;
  }
  return e instanceof Error ? e.message : String(e);
}
