/**
 * `analysis.yara` / `amber inspect --yara`: rule files and folders of rule files, read and compiled
 * at start, so that a bad rule stops the server (or the inspection) before any evidence is taken.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AmberError } from '../../core/amber-error.js';
import type { YaraEngine, YaraRules, YaraSource } from './yara-rules.js';

const RULE_FILE = /\.(yar|yara)$/i;

/**
 * Every rule file under `paths`: a file as named (whatever its extension), a folder's `.yar` and
 * `.yara` files, sub-folders included, in name order, so that a set compiles the same everywhere.
 * Throws AmberError YARA_RULES_INVALID when a path cannot be read or a folder holds no rule file.
 */
export async function readYaraSources(paths: readonly string[]): Promise<YaraSource[]> {
  const files: string[] = [];
  for (const p of paths) {
    const s = await stat(p).catch((cause: unknown) => {
      throw new AmberError('YARA_RULES_INVALID', { file: p, problem: 'cannot be read' }, { cause });
    });
    if (!s.isDirectory()) {
      files.push(p);
      continue;
    }
    const found = await ruleFilesIn(p);
    if (found.length === 0) throw new AmberError('YARA_RULES_INVALID', { file: p, problem: 'the folder holds no .yar or .yara file' });
    files.push(...found);
  }
  return Promise.all(
    files.map(async (file) => {
      const text = await readFile(file, 'utf8').catch((cause: unknown) => {
        throw new AmberError('YARA_RULES_INVALID', { file, problem: 'cannot be read' }, { cause });
      });
      return { file, text };
    }),
  );
}

async function ruleFilesIn(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && RULE_FILE.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

/** The rule files under `paths`, compiled into one set; undefined when `paths` is empty (nothing to scan with). */
export async function loadYaraRules(paths: readonly string[], engine: YaraEngine): Promise<YaraRules | undefined> {
  if (paths.length === 0) return undefined;
  return engine.compile(await readYaraSources(paths));
}
