import { readFile } from 'node:fs/promises';
import { AmberError } from '../core/amber-error.js';
import type { CaptureEventsApi } from '../kube/capture-events.js';
import { httpTarget } from './http-target.js';
import { kubeEventTarget } from './kube-event-target.js';
import type { NotifyTarget } from './notifier.js';

/** One entry of the settings' `notifications` (config/settings.ts has the schema). */
export interface NotificationSetting {
  readonly name: string;
  readonly type: 'webhook' | 'slack' | 'kubernetes-event';
  readonly url?: string | undefined;
  readonly urlFile?: string | undefined;
  readonly secretFile?: string | undefined;
  readonly on: readonly ('sealed' | 'failed')[];
  readonly policies?: readonly string[] | undefined;
}

/** A policy as far as notifications care: its name and its `spec.notify`. */
export interface NotifyingPolicy {
  readonly name: string;
  readonly notify?: readonly string[];
}

const bad = (index: number, problem: string) => new AmberError('CONFIG_INVALID', { setting: `notifications[${index}]`, problem });

/**
 * What the schema cannot say about the notifications, checked at start (a failure refuses to
 * start): names unique, a URL (or urlFile) for webhook and Slack and none for an Event, a URL
 * that parses as http(s) — the problem never quotes it, it may hold a secret —, and every policy
 * named by a notification, and every notification named by a policy's `spec.notify`, exists. A
 * kubernetes-event notification is refused where there are no Capture resources to put its Events
 * on (`amber serve`'s file journal): configured, it would never send anything, and a security
 * team that believes it is told is worse off than one that knows it is not.
 */
export function checkNotifications(
  settings: readonly NotificationSetting[],
  policies: readonly NotifyingPolicy[],
  where: { readonly captureResources: boolean } = { captureResources: true },
): void {
  const names = new Set<string>();
  const policyNames = new Set(policies.map((p) => p.name));
  settings.forEach((n, i) => {
    if (names.has(n.name)) throw bad(i, `a second notification is named '${n.name}'`);
    names.add(n.name);
    if (n.type === 'kubernetes-event') {
      if (n.url !== undefined || n.urlFile !== undefined || n.secretFile !== undefined)
        throw bad(i, 'a kubernetes-event notification takes no url, urlFile or secretFile');
      if (!where.captureResources)
        throw bad(
          i,
          'a kubernetes-event notification is an Event on the Capture resource, and amber serve keeps its captures in a file journal, not as Capture resources: run the responder and agents (the Helm chart), or use a webhook or slack notification',
        );
    } else {
      if ((n.url === undefined) === (n.urlFile === undefined)) throw bad(i, `a ${n.type} notification needs exactly one of url and urlFile`);
      if (n.url !== undefined) checkUrl(i, n.url);
      if (n.type === 'slack' && n.secretFile !== undefined) throw bad(i, 'a Slack incoming webhook is not signed: its URL is the secret (use urlFile)');
    }
    for (const p of n.policies ?? []) if (!policyNames.has(p)) throw bad(i, `names policy '${p}', which is not loaded`);
  });
  for (const p of policies) {
    for (const name of p.notify ?? []) {
      if (!names.has(name))
        throw new AmberError('CONFIG_INVALID', {
          setting: 'notifications',
          policy: p.name,
          problem: `policy '${p.name}' notifies '${name}', which is not configured`,
        });
    }
  }
}

function checkUrl(index: number, url: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad(index, 'the URL does not parse');
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw bad(index, 'the URL is not http(s)');
}

/**
 * The HTTP targets of the settings, their URL and secret files read (a file that cannot be read,
 * or an empty one, refuses to start). kubernetes-event entries are built by kubeEventTargets.
 */
export async function httpTargets(settings: readonly NotificationSetting[]): Promise<NotifyTarget[]> {
  const targets: NotifyTarget[] = [];
  for (const [i, n] of settings.entries()) {
    if (n.type === 'kubernetes-event') continue;
    const url = n.url ?? (await readSecretFile(i, 'urlFile', n.urlFile as string)).toString('utf8').trim();
    checkUrl(i, url);
    const secret = n.secretFile === undefined ? undefined : await readSecretFile(i, 'secretFile', n.secretFile);
    targets.push(
      httpTarget({ name: n.name, type: n.type, url, secret, on: new Set(n.on), policies: n.policies === undefined ? undefined : new Set(n.policies) }),
    );
  }
  return targets;
}

async function readSecretFile(index: number, what: string, file: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (e) {
    throw bad(index, `${what} ${file} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  // a trailing newline is the editor's, not the secret's
  const trimmed = Buffer.from(bytes.toString('utf8').replace(/\r?\n$/, ''));
  if (trimmed.length === 0) throw bad(index, `${what} ${file} is empty`);
  return trimmed;
}

/** The kubernetes-event targets of the settings, their Events written through `events` (amber's namespace). */
export function kubeEventTargets(settings: readonly NotificationSetting[], events: CaptureEventsApi): NotifyTarget[] {
  return settings
    .filter((n) => n.type === 'kubernetes-event')
    .map((n) => kubeEventTarget({ name: n.name, on: new Set(n.on), policies: n.policies === undefined ? undefined : new Set(n.policies), events }));
}
