import { readFile } from 'node:fs/promises';
import { Compile } from 'typebox/compile';
import { parse as parseYaml } from 'yaml';
import { AmberError } from '../core/amber-error.js';
import { describeSchemaErrors } from '../core/schema-problem.js';
import { kindOf, OVERRIDABLE } from './overridable-settings.js';
import { DEFAULT_SETTINGS, Settings } from './settings.js';

const checkSettings = Compile(Settings);

export interface SettingsSources {
  /** Parsed flags by flag name (`data-dir`), as node:util parseArgs returns them. */
  readonly flags?: Readonly<Record<string, string | boolean | undefined>>;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** `--config` file (YAML, keys as in the Settings schema). */
  readonly configFile?: string | undefined;
}

/**
 * Settings from flag > `AMBER_*` env > config file > default, validated against the one
 * schema, frozen. A bad setting throws CONFIG_INVALID naming the setting and where it came from.
 */
export async function loadSettings(sources: SettingsSources): Promise<Readonly<Settings>> {
  const merged = structuredClone(DEFAULT_SETTINGS) as unknown as Record<string, unknown>;
  const origin = new Map<string, string>();

  if (sources.configFile !== undefined) {
    let fromFile: unknown;
    try {
      fromFile = parseYaml(await readFile(sources.configFile, 'utf8'));
    } catch (cause) {
      throw new AmberError('CONFIG_FILE_UNREADABLE', { file: sources.configFile }, { cause });
    }
    if (fromFile !== null && fromFile !== undefined) {
      if (typeof fromFile !== 'object' || Array.isArray(fromFile)) {
        throw new AmberError('CONFIG_INVALID', { file: sources.configFile, problem: 'the file must hold a mapping' });
      }
      deepMerge(merged, fromFile as Record<string, unknown>, '', (path) => origin.set(path, `config file ${sources.configFile}`));
    }
  }
  for (const layer of ['env', 'flags'] as const) {
    for (const s of OVERRIDABLE) {
      const raw = layer === 'env' ? sources.env?.[s.env] : sources.flags?.[s.flag];
      if (raw === undefined) continue;
      const from = layer === 'env' ? `env ${s.env}` : `flag --${s.flag}`;
      setPath(merged, s.path, coerce(raw, kindOf(s.path), s.path, from));
      origin.set(`/${s.path.replaceAll('.', '/')}`, from);
    }
  }
  if (!checkSettings.Check(merged)) {
    const { path, problem } = describeSchemaErrors(checkSettings.Errors(merged));
    const setting = path.slice(1).replaceAll('/', '.');
    const from = [...origin.entries()].find(([p]) => path.startsWith(p))?.[1] ?? 'default';
    throw new AmberError('CONFIG_INVALID', { setting, from, problem });
  }
  return deepFreeze(merged as Settings);
}

function coerce(raw: string | boolean, kind: 'string' | 'integer' | 'boolean', path: string, from: string): unknown {
  if (kind === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off|)$/i.test(raw)) return false;
    throw new AmberError('CONFIG_INVALID', { setting: path, from, problem: `'${raw}' is not a boolean` });
  }
  if (kind === 'integer') {
    if (typeof raw === 'string' && /^\d+$/.test(raw.trim())) return Number(raw.trim());
    throw new AmberError('CONFIG_INVALID', { setting: path, from, problem: `'${String(raw)}' is not a whole number` });
  }
  if (typeof raw !== 'string') throw new AmberError('CONFIG_INVALID', { setting: path, from, problem: 'needs a value' });
  return raw;
}

function deepMerge(into: Record<string, unknown>, from: Record<string, unknown>, at: string, mark: (path: string) => void): void {
  for (const [k, v] of Object.entries(from)) {
    const path = `${at}/${k}`;
    const current = into[k];
    if (isPlain(v) && isPlain(current)) deepMerge(current, v, path, mark);
    else {
      into[k] = v;
      mark(path);
    }
  }
}

function setPath(o: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let cur = o;
  for (const k of keys.slice(0, -1)) {
    if (!isPlain(cur[k])) cur[k] = {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1] as string] = value;
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
