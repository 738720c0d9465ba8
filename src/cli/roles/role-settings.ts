import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { loadSettings } from '../../config/load-settings.js';
import { kindOf, OVERRIDABLE, type Role } from '../../config/overridable-settings.js';
import type { Settings } from '../../config/settings.js';
import type { CompiledPolicy } from '../../policy/compile-policy.js';
import { loadPolicies } from '../../policy/load-policies.js';
import { checkNotifications } from '../../notify/notify-settings.js';
import { parseFlags, type Io } from '../cli-support.js';
import { defaultRecipients } from '../encryption-setup.js';
import { createLogger } from '../create-logger.js';
import { roleHelp } from './role-help.js';
import { loadYaraRules } from '../../analysis/yara/load-yara-rules.js';
import type { YaraRules } from '../../analysis/yara/yara-rules.js';
import { yaraXEngine } from '../../analysis/yara/yara-x-engine.js';

type FlagSpec = { readonly type: 'string' | 'boolean'; readonly short?: string };

/**
 * The flags of `serve`, `responder` and `agent`, made from the settings table: a boolean setting
 * without a value form (`--insecure-no-auth`) is a switch, every other flag takes a value. Every
 * role accepts every settings flag (one chart, one config file for all); its help lists the ones it reads.
 */
export const SETTINGS_FLAGS: Readonly<Record<string, FlagSpec>> = {
  ...Object.fromEntries(OVERRIDABLE.map((s) => [s.flag, { type: kindOf(s.path) === 'boolean' && s.arg === undefined ? 'boolean' : 'string' }])),
  config: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

export interface RoleStart {
  readonly settings: Readonly<Settings>;
  readonly log: Logger;
}

/** The policies from --policies, compiled with the default recipients, and logged. */
export async function loadRolePolicies(settings: Settings, log: Logger, role: Role): Promise<CompiledPolicy[]> {
  const policies = await loadPolicies(settings.policies, { recipients: await defaultRecipients(settings) });
  // hard stop: a notification a policy names must exist, every URL must parse, and an Event needs a Capture resource
  checkNotifications(settings.notifications, policies, { captureResources: role !== 'serve' });
  log.info({ dir: resolve(settings.policies), policies: policies.map((p) => p.name) }, 'policies loaded');
  return policies;
}

/**
 * The YARA rules of `analysis.yara`, compiled with YARA-X; undefined when none are configured.
 * Hard stop: a rule that does not compile throws YARA_RULES_INVALID (file, line, column) before
 * the role takes any alert.
 */
export async function loadRoleYara(settings: Settings, log: Logger): Promise<YaraRules | undefined> {
  const rules = await loadYaraRules(settings.analysis.yara, yaraXEngine());
  if (rules) log.info({ files: rules.files }, 'YARA rules compiled');
  return rules;
}

/** Flags → settings (flag > env > --config file > default) and the role's logger; undefined when --help was asked (and printed). */
export async function loadRoleSettings(args: readonly string[], io: Io, role: Role): Promise<RoleStart | undefined> {
  const { values } = parseFlags(args, SETTINGS_FLAGS);
  if (values['help'] === true) {
    io.out(roleHelp(role));
    return undefined;
  }
  const config = values['config'];
  const settings = await loadSettings({ flags: values, env: io.env, configFile: typeof config === 'string' ? config : undefined });
  return { settings, log: createLogger(settings.logLevel).child({ role }) };
}
