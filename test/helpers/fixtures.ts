import { readFileSync } from 'node:fs';

/** A fixture from test/fixtures, parsed fresh each time so tests can change it freely. */
export function fixture<T = any>(path: string): T {
  return JSON.parse(readFileSync(new URL(`../fixtures/${path}`, import.meta.url), 'utf8')) as T;
}

/** A fixture's exact text. */
export function fixtureText(path: string): string {
  return readFileSync(new URL(`../fixtures/${path}`, import.meta.url), 'utf8');
}
