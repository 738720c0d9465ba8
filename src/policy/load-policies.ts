import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Compile } from 'typebox/compile';
import { parseAllDocuments } from 'yaml';
import { AmberError } from '../core/amber-error.js';
import { describeSchemaErrors } from '../core/schema-problem.js';
import { CapturePolicy } from './capture-policy.js';
import { compilePolicy, type CompiledPolicy } from './compile-policy.js';

const checkPolicy = Compile(CapturePolicy);

export interface PolicySource {
  /** Where the text came from, for error messages (a file path). */
  readonly file: string;
  readonly text: string;
}

/**
 * Reads every `*.yaml` / `*.yml` in `dir` (several `---` documents per file allowed) and compiles
 * them. Throws an AmberError naming the file and the path inside it on the first problem:
 * the server refuses to start on an invalid set, and `amber policy validate` runs this same code.
 */
/** Settings that apply to every policy that does not say otherwise. */
export interface PolicyDefaults {
  /** age recipients for policies without `evidence.encryption` (from the config's `encryption`). */
  readonly recipients?: readonly string[];
}

export async function loadPolicies(dir: string, defaults: PolicyDefaults = {}): Promise<CompiledPolicy[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /\.ya?ml$/.test(n)).sort();
  } catch (cause) {
    throw new AmberError('POLICY_DIR_UNREADABLE', { dir }, { cause });
  }
  const sources: PolicySource[] = [];
  for (const name of names) {
    const file = join(dir, name);
    try {
      sources.push({ file, text: await readFile(file, 'utf8') });
    } catch (cause) {
      throw new AmberError('POLICY_DIR_UNREADABLE', { dir, file }, { cause });
    }
  }
  const policies = parsePolicies(sources, defaults);
  if (policies.length === 0) throw new AmberError('POLICY_EMPTY_SET', { dir });
  return policies;
}

export function parsePolicies(sources: readonly PolicySource[], defaults: PolicyDefaults = {}): CompiledPolicy[] {
  const out: CompiledPolicy[] = [];
  const seen = new Map<string, string>();
  for (const { file, text } of sources) {
    for (const [index, doc] of parseAllDocuments(text).entries()) {
      const where = { file, document: index };
      if (doc.errors.length > 0) {
        const first = doc.errors[0];
        throw new AmberError('POLICY_YAML', { ...where, line: first?.linePos?.[0].line, problem: first?.message.split('\n')[0] });
      }
      const value: unknown = doc.toJS();
      if (value === null || value === undefined) continue; // an empty document, e.g. a trailing ---
      if (!checkPolicy.Check(value)) {
        throw new AmberError('POLICY_SCHEMA', { ...where, ...describeSchemaErrors(checkPolicy.Errors(value)) });
      }
      const compiled = compilePolicy(value, file, defaults.recipients);
      const other = seen.get(compiled.name);
      if (other !== undefined) throw new AmberError('POLICY_DUPLICATE_NAME', { file, name: compiled.name, firstIn: other });
      seen.set(compiled.name, file);
      out.push(compiled);
    }
  }
  return out;
}
