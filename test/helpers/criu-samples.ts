import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The real CRIU dump copied into test/fixtures/criu-samples (see its README). */
export const CRIU_SAMPLE_DIR = fileURLToPath(new URL('../fixtures/criu-samples/aarch64-loop2/', import.meta.url));

export type CritEntry = Record<string, any>;

/**
 * The entries of crit's JSON decode `name` (files.txt starts with stray binary), with integers too
 * large for a double kept exact as BigInt.
 */
export function crit(name: string): CritEntry[] {
  let raw = readFileSync(CRIU_SAMPLE_DIR + name, 'latin1');
  raw = raw.slice(raw.indexOf('{\n'));
  const text = raw.replace(/([:\[,]\s*)(\d{16,})(?=\s*[,\]\n}])/g, '$1"#big:$2"');
  return (JSON.parse(text, (_k, v: unknown) => (typeof v === 'string' && v.startsWith('#big:') ? BigInt(v.slice(5)) : v)) as { entries: CritEntry[] }).entries;
}

export const sampleImage = (name: string): Buffer => readFileSync(CRIU_SAMPLE_DIR + name);
