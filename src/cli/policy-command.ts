import { readFile } from 'node:fs/promises';
import { IndicatorLists } from '../analysis/lists/indicator-lists.js';
import { checkAdmissionHolds } from '../config/admission-settings.js';
import { loadSettings } from '../config/load-settings.js';
import { planCapture } from '../core/decision.js';
import type { CaptureTarget, EvidenceSettings } from '../core/capture.js';
import type { Signal } from '../core/signal.js';
import { normaliseAlert } from '../intake/normalise-alert.js';
import { loadPolicies } from '../policy/load-policies.js';
import type { CompiledPolicy } from '../policy/compile-policy.js';
import { evaluatePolicies } from '../policy/evaluate-policies.js';
import { loadYaraRules } from '../analysis/yara/load-yara-rules.js';
import { yaraXEngine } from '../analysis/yara/yara-x-engine.js';
import { describeError, EXIT, parseFlags, UsageError, type Io } from './cli-support.js';

export const POLICY_HELP = `Usage:
  amber policy validate [--policies DIR]
      Loads and checks every policy (and the indicator lists of --config), exactly as 'amber serve'
      does at start-up.
      Exit 0 valid, 1 invalid, 2 could not run.
  amber policy test [--policies DIR] [--json] FILE…
      Shows which policies match each alert in the files (a Falco event, a Falcosidekick
      payload, an Alertmanager webhook, or Falco's JSON-lines file output) and which capture
      each would queue. Exit 0 when every file parses, 1 when a file is not a valid alert.

  --policies DIR   policy directory (AMBER_POLICIES, default ./policies)
  --json           machine-readable output
  --config FILE, --admission-listen HOST:PORT, --admission-client-ca FILE, --admission-unauthenticated-holds
                   the settings amber runs with (also as AMBER_* env vars): a policy that holds admission
                   requests is refused without the API server's client certificate, as at start-up;
                   the YARA rules of analysis.yara in --config are compiled, as at start-up
`;

const FLAGS = {
  policies: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  config: { type: 'string' },
  'admission-listen': { type: 'string' },
  'admission-client-ca': { type: 'string' },
  'admission-unauthenticated-holds': { type: 'boolean' },
} as const;

/** The policies, the YARA rules of `analysis.yara`, and the admission hold check against the settings given by flags, env and --config, as a role runs it at start-up. */
async function loadChecked(dir: string, flags: Record<string, string | boolean | undefined>, io: Io): Promise<CompiledPolicy[]> {
  const policies = await loadPolicies(dir);
  const config = flags['config'];
  const settings = await loadSettings({ flags, env: io.env, configFile: typeof config === 'string' ? config : undefined });
  checkAdmissionHolds(settings, policies);
  // the rules a role compiles at start-up (analysis.yara): a bad one fails here as it would there
  await loadYaraRules(settings.analysis.yara, yaraXEngine());
  await IndicatorLists.load(settings.analysis.lists); // the lists of --config, checked as a role checks them at start-up
  return policies;
}

export async function policyCommand(args: readonly string[], io: Io): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    io.out(POLICY_HELP);
    return sub === undefined ? EXIT.CANNOT_RUN : EXIT.OK;
  }
  const { values, positionals } = parseFlags(rest, FLAGS);
  if (values.help) {
    io.out(POLICY_HELP);
    return EXIT.OK;
  }
  const dir = values.policies ?? io.env['AMBER_POLICIES'] ?? './policies';
  const load = () => loadChecked(dir, values, io);
  if (sub === 'validate') return validate(load, values.json === true, io);
  if (sub === 'test') {
    if (positionals.length === 0) throw new UsageError('policy test needs at least one FILE');
    return test(load, positionals, values.json === true, io);
  }
  throw new UsageError(`unknown policy subcommand '${sub}'`);
}

async function validate(load: () => Promise<CompiledPolicy[]>, json: boolean, io: Io): Promise<number> {
  try {
    const policies = await load();
    if (json) io.out(JSON.stringify({ valid: true, policies: policies.map((p) => ({ name: p.name, file: p.file })) }));
    else for (const p of policies) io.out(`ok  ${p.name}  (${p.file})`);
    return EXIT.OK;
  } catch (e) {
    if (json) io.out(JSON.stringify({ valid: false, error: describeError(e) }));
    else io.err(`invalid policy set: ${describeError(e)}`);
    return EXIT.NO;
  }
}

interface SignalSummary {
  source: string;
  rule: string;
  priority?: string | undefined;
  time: string;
  target: Signal['target'];
  tags: string[];
}

interface MatchSummary {
  policy: string;
  rule: string;
  target: CaptureTarget;
  dedupeKey: string;
  containers: 'target' | 'all';
  cooldown: string;
  timeoutSeconds: number;
  include: readonly string[];
  evidence: EvidenceSettings;
}

interface FileResult {
  file: string;
  signals: SignalSummary[];
  matches: MatchSummary[];
  ignored?: string[];
  error?: string;
}

async function test(load: () => Promise<CompiledPolicy[]>, files: readonly string[], json: boolean, io: Io): Promise<number> {
  let policies: CompiledPolicy[];
  try {
    policies = await load();
  } catch (e) {
    io.err(`invalid policy set: ${describeError(e)}`);
    return EXIT.CANNOT_RUN;
  }
  const results: FileResult[] = [];
  for (const file of files) results.push(await testFile(file, policies));
  if (json) io.out(JSON.stringify({ results }, null, 2));
  else for (const r of results) io.out(render(r));
  return results.some((r) => r.error !== undefined) ? EXIT.NO : EXIT.OK;
}

async function testFile(file: string, policies: readonly CompiledPolicy[]): Promise<FileResult> {
  const out: FileResult = { file, signals: [], matches: [] };
  try {
    const text = await readFile(file, 'utf8');
    const ignored: string[] = [];
    for (const doc of parseDocuments(text)) {
      const { result } = normaliseAlert(doc);
      ignored.push(...result.ignored.map((i) => i.reason));
      for (const signal of result.signals) {
        out.signals.push(describeSignal(signal));
        for (const d of evaluatePolicies(policies, signal)) {
          const plan = planCapture(d);
          out.matches.push({
            policy: d.policy,
            rule: signal.rule,
            target: plan.spec.target,
            dedupeKey: plan.dedupeKey,
            containers: d.containers,
            cooldown: `${d.cooldownMs / 1000}s`,
            timeoutSeconds: d.timeoutSeconds,
            include: d.include,
            evidence: d.evidence,
          });
        }
      }
    }
    if (ignored.length > 0) out.ignored = ignored;
  } catch (e) {
    out.error = describeError(e);
  }
  return out;
}

/** One JSON document, or JSON lines (Falco's file_output). */
function parseDocuments(text: string): unknown[] {
  try {
    return [JSON.parse(text)];
  } catch (whole) {
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    if (lines.length < 2) throw new Error(`not JSON: ${(whole as Error).message}`);
    return lines.map((l, i) => {
      try {
        return JSON.parse(l) as unknown;
      } catch (e) {
        throw new Error(`line ${i + 1} is not JSON: ${(e as Error).message}`);
      }
    });
  }
}

function describeSignal(s: Signal): SignalSummary {
  return { source: s.source, rule: s.rule, priority: s.priority, time: s.time, target: s.target, tags: s.tags };
}

function render(r: FileResult): string {
  const lines = [r.file];
  if (r.error !== undefined) lines.push(`  error    ${r.error}`);
  const where = (t: Signal['target']) => `${t.namespace}/${t.pod}/${t.container ?? t.containerID ?? '*'}`;
  for (const s of r.signals) lines.push(`  signal   ${s.source} "${s.rule}" ${s.priority ?? '-'}  ${where(s.target)}`);
  for (const m of r.matches) {
    lines.push(
      `  match    ${m.policy} → capture ${where(m.target)}` +
        ` (timeout ${m.timeoutSeconds}s, cooldown ${m.cooldown}, keep ${m.evidence.retentionDays}d, lock ${m.evidence.lock})`,
    );
  }
  if (r.error === undefined && r.signals.length > 0 && r.matches.length === 0) lines.push('  no policy matched');
  for (const i of r.ignored ?? []) lines.push(`  ignored  ${i}`);
  return lines.join('\n');
}
