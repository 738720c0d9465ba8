import { defaultText, OVERRIDABLE, type HelpSection, type OverridableSetting, type Role } from '../../config/overridable-settings.js';

/** What each role does, above its options. */
const ABOUT: Record<Role, string> = {
  serve: `Runs amber all-in-one: alert intake, policies and the embedded capture queue.`,
  responder: `The cluster's intake: takes alerts (and admission requests), matches policies, finds each target's
node and creates a Capture resource (captures.forensics.amber.dev) in --namespace; replicas need no
leader (the Capture's name is derived from the dedupe key, so the second create is a duplicate).
Captures no agent takes within kube.unclaimedSeconds (300) fail with reason NoAgent.`,
  agent: `One per node (a DaemonSet): watches the Captures for its node (--node, or NODE_NAME), checkpoints
through the local kubelet, seals and stores the evidence, and writes progress to the Capture's
status. Serves only /healthz, /readyz and /metrics on --listen.`,
};

const SECTIONS: Record<HelpSection, string> = {
  server: 'Options (each also as an env var; flag > env > --config file > default):',
  admission: 'Admission webhook (its own HTTPS listener; the API server as caller):',
  capture: 'Capture (checkpoint → seal → store):',
  budgets: 'Budgets (shared by every replica; over budget: recorded, Failed BudgetExceeded, never checkpointed):',
  kube: 'Kubernetes-native roles (amber responder / amber agent):',
  s3: "S3 store (--store s3://bucket/prefix; credentials: the AWS SDK's chain — env, profile, IRSA, IMDS):",
};

/** `--flag ARG` as the help shows it. */
export function flagUsage(s: Pick<OverridableSetting, 'flag' | 'arg'>): string {
  return s.arg === undefined ? `--${s.flag}` : `--${s.flag} ${s.arg}`;
}

const WIDTH = 160;

/**
 * `amber <role> --help`, made from the settings table (config/settings.ts): every flag the role
 * reads, with its env var, what it does and its default, in the table's order; a row too wide
 * for 160 columns carries its default on the next line.
 */
export function roleHelp(role: Role): string {
  const mine = OVERRIDABLE.filter((s) => s.roles.includes(role));
  const flagWidth = Math.max(...mine.map((s) => flagUsage(s).length), '--config FILE'.length) + 2;
  const envWidth = Math.max(...mine.map((s) => s.env.length)) + 2;
  const row = (s: OverridableSetting): string[] => {
    const cols = `  ${flagUsage(s).padEnd(flagWidth)}${s.env.padEnd(envWidth)}`;
    const head = `${cols}${s.help}`;
    const tail = `(default: ${defaultText(s)})`;
    if (head.length + 1 + tail.length <= WIDTH) return [`${head} ${tail}`];
    // too wide for the columns (the budget flags' names are long): the text goes under the flag
    const under = (text: string) => (cols.length + text.length <= WIDTH ? `${' '.repeat(cols.length)}${text}` : `${' '.repeat(6)}${text}`);
    return head.length <= WIDTH ? [head, under(tail)] : [cols.trimEnd(), `${' '.repeat(6)}${s.help}`, `${' '.repeat(6)}${tail}`];
  };
  const out = [`Usage: amber ${role} [options]`, '', ABOUT[role], ''];
  for (const section of Object.keys(SECTIONS) as HelpSection[]) {
    const rows = mine.filter((s) => s.section === section);
    if (rows.length === 0) continue;
    out.push(SECTIONS[section]);
    if (section === 'server') out.push(`  ${'--config FILE'.padEnd(flagWidth + envWidth)}YAML settings file (every setting; keys as in the settings schema)`);
    for (const s of rows) out.push(...row(s));
    out.push('');
  }
  out.push('  -h, --help', '');
  return out.join('\n');
}
