import { createReadStream } from 'node:fs';
import { stat, statfs, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { AmberError, isAmberError, type ErrorCode } from '../core/amber-error.js';
import type { Capture, CaptureStatus, Phase } from '../core/capture.js';
import { ARTIFACT_NAMES, bundleLayout } from '../evidence/bundle-layout.js';
import { CustodyChain, type CustodyEntry } from '../evidence/custody-chain.js';
import { resolveTarget, type ResolvedTarget } from '../kube/resolve-target.js';
import type { CaptureDeps } from './capture-context.js';
import { redactPod } from './redact-pod.js';
import { sealBundle, storeMetaOf } from './seal-bundle.js';
import { storeOnce, storeText } from './store-once.js';

const TRANSIENT: ReadonlySet<ErrorCode> = new Set(['KUBE_API_UNAVAILABLE', 'KUBELET_UNREACHABLE', 'QUEUE_UNAVAILABLE', 'STORE_UNAVAILABLE', 'STORE_LOCK_FAILED']);
const RESPONDER = { component: 'responder' } as const;
/** 1 MiB reads: 64 KiB chunks cost more in per-chunk overhead than the hashing; 4 MiB ones in allocation. */
const STREAM_CHUNK = 1024 * 1024;

/** `DISK_PRESSURE` → `DiskPressure`: Kubernetes-style reasons for status.reason. */
export function reasonOf(code: string): string {
  return code.toLowerCase().split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');
}

/**
 * Runs one capture as far as it can go: checkpoint → store → seal. Progress is written to the
 * queue after every step, so a restart resumes where it stopped (an archive already written is
 * reused, never taken twice). Returns the capture as it ends this attempt: Sealed, Failed, or
 * back in its phase with `retryAt` for a transient failure.
 */
export async function runCapture(deps: CaptureDeps, id: string): Promise<Capture> {
  const now = deps.now ?? (() => new Date());
  let capture = await deps.queue.get(id);
  if (!capture) throw new AmberError('CAPTURE_NOT_FOUND', { id });
  if (capture.status.phase === 'Sealed' || capture.status.phase === 'Failed') return capture;
  const log = deps.log.child({ capture: id });
  const chain = new CustodyChain(deps.actor, now, (capture.status.custody ?? []) as CustodyEntry[]);
  // Saves run one after another, in call order, so one may be started without waiting for it.
  let saving: Promise<void> = Promise.resolve();
  const save = (patch: Partial<CaptureStatus>, phase?: Phase): Promise<void> => {
    const custody = [...chain.entries];
    const at = now().toISOString();
    saving = saving.catch(() => undefined).then(async () => {
      const current = capture as Capture;
      const status: CaptureStatus = { ...current.status, ...patch, custody };
      if (phase && phase !== current.status.phase) {
        status.phase = phase;
        status.phaseTimes = { ...current.status.phaseTimes, [phase]: at };
      }
      capture = await deps.queue.updateStatus(id, status);
    });
    return saving;
  };

  if (chain.entries.length === 0) {
    const t = capture.spec.trigger;
    chain.append(
      'signal.received',
      {
        source: t.source, rule: t.rule, priority: t.priority, signalDigest: t.signalDigest,
        ...(t.user !== undefined ? { user: t.user } : {}), ...(t.groups !== undefined ? { groups: t.groups } : {}), ...(t.command !== undefined ? { command: t.command } : {}),
      },
      RESPONDER,
      capture.createdAt,
    );
    chain.append('policy.matched', { policy: t.policy }, RESPONDER, capture.createdAt);
    chain.append('capture.queued', { captureId: id, target: capture.spec.target }, RESPONDER, capture.createdAt);
  }
  const attempts = capture.status.attempts + 1;
  if (capture.status.attempts >= deps.settings.maxAttempts) {
    // The last attempt never finished (the process died in it): stop rather than crash-loop.
    await abortLeftoverUploads(deps, capture, log);
    await save({ reason: capture.status.reason ?? 'AttemptsExhausted', message: capture.status.message ?? 'the last attempt did not finish' }, 'Failed');
    return capture;
  }
  try {
    const { retryAt: _r, reason: _reason, message: _m, ...rest } = capture.status;
    capture = { ...capture, status: rest };
    let resolved: ResolvedTarget | undefined;
    if (!checkpointsComplete(capture)) {
      // The attempt is recorded while the API and the kubelet answer: the container runs on while
      // we wait, so no fsync stands between the alert and the checkpoint request. (A crash before
      // the record lands costs only the attempt count; the save chain keeps later saves in order.)
      const recorded = save({ attempts }, 'Checkpointing');
      recorded.catch(() => undefined); // awaited below; a failure surfaces there
      const [target] = await Promise.all([resolveTarget(deps.api, capture.spec), checkFreeSpace(deps.settings.checkpointDir, deps.settings.minFreeBytes)]);
      resolved = target;
      const pinned = capture.status.resolved;
      if (pinned && pinned.podUID !== target.podUID) {
        throw new AmberError('POD_REPLACED', { pod: target.pod, expected: pinned.podUID, found: target.podUID });
      }
      const done = [...(capture.status.checkpoints ?? [])];
      for (const c of resolved.containers) {
        if (done.some((d) => d.container === c.name)) continue;
        const result = await deps.kubelet.checkpoint(resolved.kubelet, resolved.namespace, resolved.pod, c.name, capture.spec.timeoutSeconds);
        chain.append('checkpoint.requested', { node: resolved.node, container: c.name, containerID: c.containerID, timeoutSeconds: capture.spec.timeoutSeconds }, deps.actor, result.requestedAt);
        chain.append('checkpoint.written', { container: c.name, path: result.path }, deps.actor, result.writtenAt);
        done.push({ container: c.name, ...result });
        await recorded;
        await save({
          checkpoints: done,
          resolved: { podUID: resolved.podUID, node: resolved.node, containers: resolved.containers.map(({ runtime: _rt, ...k }) => k) },
        });
        log.info({ container: c.name, path: result.path }, 'checkpoint written');
      }
    } else {
      await save({ attempts });
    }
    await save({}, 'Uploading');
    const layout = layoutOf(deps, capture);
    const upload = async () => {
      // Once the chain says sealed, the artifact list is closed: a retry only finishes the seal.
      const sealed = chain.entries.some((e) => e.action === 'bundle.sealed');
      if (!sealed) await uploadArtifacts(deps, capture as Capture, chain, save, resolved);
      if (chain.entries[chain.entries.length - 1]?.action !== 'bundle.sealed') {
        chain.append('bundle.sealed', { artifacts: (capture?.status.artifacts ?? []).length + 1, signingKeyId: deps.signingKey.kid });
        await save({});
      }
      await sealBundle({ capture: capture as Capture, chain, layout, store: deps.store, signingKey: deps.signingKey, cluster: deps.settings.cluster, version: deps.version });
    };
    await (deps.uploads ? deps.uploads.run(upload) : upload());
    const archives = (capture.status.checkpoints ?? []).map((c) => {
      const a = capture?.status.artifacts?.find((x) => x.name === ARTIFACT_NAMES.archive(c.container));
      return { container: c.container, size: a?.size ?? 0, sha256: a?.sha256 ?? '' };
    });
    await save({ bundle: { uri: deps.store.uri(`${layout.dir}/`), archives, signingKeyId: deps.signingKey.kid } }, 'Sealed');
    log.info({ bundle: capture.status.bundle?.uri }, 'capture sealed');
    await abortLeftoverUploads(deps, capture, log);
    // Node copies go only after the stored copies are hashed and sealed; best-effort cleanup.
    if (deps.settings.deleteNodeCopy) {
      for (const c of capture.status.checkpoints ?? []) {
        await unlink(join(deps.settings.checkpointDir, basename(c.path))).catch((e: unknown) => {
          // ENOENT: the store took the file when it stored it
          if ((e as NodeJS.ErrnoException).code !== 'ENOENT') log.warn({ err: e, path: c.path }, 'could not delete the node copy');
        });
      }
    }
    return capture;
  } catch (e) {
    return await fail(deps, capture, e, attempts, save, log);
  }
}

function checkpointsComplete(capture: Capture): boolean {
  const resolved = capture.status.resolved;
  const done = capture.status.checkpoints ?? [];
  return resolved !== undefined && resolved.containers.length > 0 && resolved.containers.every((c) => done.some((d) => d.container === c.name));
}

function layoutOf(deps: CaptureDeps, capture: Capture) {
  return bundleLayout({ prefix: deps.settings.storePrefix, cluster: deps.settings.cluster, captureId: capture.id, createdAt: capture.createdAt });
}

async function checkFreeSpace(dir: string, minFreeBytes: number): Promise<void> {
  const fs = await statfs(dir).catch((cause: unknown) => {
    throw new AmberError('CHECKPOINT_ARCHIVE_MISSING', { dir, problem: 'the checkpoint directory is not readable' }, { cause });
  });
  const free = fs.bavail * fs.bsize;
  if (free < minFreeBytes) throw new AmberError('DISK_PRESSURE', { dir, freeBytes: free, minFreeBytes });
}

type Save = (patch: Partial<CaptureStatus>, phase?: Phase) => Promise<void>;

async function uploadArtifacts(deps: CaptureDeps, capture: Capture, chain: CustodyChain, save: Save, resolved: ResolvedTarget | undefined): Promise<void> {
  const layout = layoutOf(deps, capture);
  const meta = storeMetaOf(capture);
  const artifacts = [...(capture.status.artifacts ?? [])];
  const has = (name: string) => artifacts.some((a) => a.name === name);
  const record = async (name: string, key: string, mediaType: string, stored: { size: number; sha256: string; existed: boolean }) => {
    chain.append('artifact.hashed', { name, size: stored.size, sha256: stored.sha256 });
    chain.append('artifact.stored', { name, uri: deps.store.uri(key), ...(stored.existed ? { existing: true } : {}) });
    artifacts.push({ name, size: stored.size, sha256: stored.sha256, mediaType });
  };
  // Saved at two milestones, not per artifact: a retry finds anything stored since (storeOnce)
  // and keeps it as the original, so per-artifact fsyncs would buy nothing.

  for (const c of capture.status.checkpoints ?? []) {
    const name = ARTIFACT_NAMES.archive(c.container);
    if (has(name)) continue;
    const local = join(deps.settings.checkpointDir, basename(c.path));
    const key = layout.archive(c.container);
    // Already stored by an interrupted attempt (perhaps moved off the node): that is the original.
    const alreadyStored = (await deps.store.head(key)) !== undefined;
    const size = alreadyStored ? undefined : await stat(local).then((s) => s.size, () => undefined);
    if (!alreadyStored && size === undefined) {
      throw new AmberError('CHECKPOINT_ARCHIVE_MISSING', { path: c.path, lookedIn: deps.settings.checkpointDir });
    }
    // Streamed, never buffered; when the node copy is ours to delete, the store may take the file itself.
    const stored = await storeOnce(deps.store, key, () => createReadStream(local, { highWaterMark: STREAM_CHUNK }), {
      ...meta,
      contentType: 'application/x-tar',
      file: { path: local, take: deps.settings.deleteNodeCopy },
    });
    if (size !== undefined && !stored.existed && stored.size !== size) {
      throw new AmberError('EVIDENCE_CONFLICT', { name, nodeSize: size, storedSize: stored.size });
    }
    await record(name, layout.archive(c.container), 'application/x-tar', stored);
  }
  await save({ artifacts: [...artifacts] });
  const include = new Set(capture.spec.include);
  let pod = resolved?.podObject;
  if (!pod && include.has('podSpec') && !has(ARTIFACT_NAMES.podJson)) {
    // resumed after a restart: the pod as it is now, if it is still the same pod
    const now = await deps.api.readPod(capture.spec.target.namespace, capture.spec.target.pod).catch(() => undefined);
    pod = now?.metadata?.uid === capture.status.resolved?.podUID ? now : undefined;
  }
  if (include.has('podSpec') && !has(ARTIFACT_NAMES.podJson) && pod) {
    const text = `${JSON.stringify(redactPod(pod), null, 2)}\n`;
    await record(ARTIFACT_NAMES.podJson, layout.podJson, 'application/json', await storeText(deps.store, layout.podJson, text, { ...meta, contentType: 'application/json' }));
  }
  if (!has(ARTIFACT_NAMES.signals)) {
    const text = `${JSON.stringify(capture.signals.map((s) => (typeof s === 'string' ? (JSON.parse(s) as unknown) : s)), null, 2)}\n`;
    // signals.json: a readable copy; the exact received bytes are kept inside as `raw` when they differ
    const raw = capture.signals.filter((s): s is string => typeof s === 'string');
    const body = raw.length > 0 ? `${JSON.stringify({ signals: JSON.parse(text) as unknown, raw }, null, 2)}\n` : text;
    await record(ARTIFACT_NAMES.signals, layout.signals, 'application/json', await storeText(deps.store, layout.signals, body, { ...meta, contentType: 'application/json' }));
  }
  if (include.has('logs')) {
    for (const c of capture.status.checkpoints ?? []) {
      const name = ARTIFACT_NAMES.logs(c.container);
      if (has(name)) continue;
      // logs are best-effort: a capture is not failed for want of them
      try {
        const text = await deps.api.readLogs(capture.spec.target.namespace, capture.spec.target.pod, c.container, deps.settings.logTailLines);
        await record(name, layout.logs(c.container), 'text/plain', await storeText(deps.store, layout.logs(c.container), text, { ...meta, contentType: 'text/plain; charset=utf-8' }));
      } catch (e) {
        deps.log.warn({ capture: capture.id, container: c.container, err: e }, 'container log not collected');
      }
    }
  }
  await save({ artifacts: [...artifacts] });
}

/**
 * A capture that ends (Sealed or Failed) leaves no unfinished multipart upload under its bundle:
 * a create whose answer was lost and was retried, or an attempt killed mid-upload, leaves one
 * nobody would ever complete. Best-effort: they only cost storage.
 */
async function abortLeftoverUploads(deps: CaptureDeps, capture: Capture, log: CaptureDeps['log']): Promise<void> {
  if (!deps.store.abortUploads) return;
  await deps.store.abortUploads(`${layoutOf(deps, capture).dir}/`).catch((err: unknown) => log.warn({ err }, 'could not abort unfinished uploads of the capture'));
}

async function fail(deps: CaptureDeps, capture: Capture | undefined, e: unknown, attempts: number, save: Save, log: CaptureDeps['log']): Promise<Capture> {
  // An earlier save may have failed (the queue itself is down); the failure save below will tell.
  const code = isAmberError(e) ? e.code : 'INTERNAL';
  const message = isAmberError(e) ? String(e.details['message'] ?? e.message) : e instanceof Error ? e.message : String(e);
  const transient = !isAmberError(e) || TRANSIENT.has(e.code);
  if (transient && attempts < deps.settings.maxAttempts) {
    const retryAt = new Date(Date.now() + deps.settings.retryBaseMs * 2 ** (attempts - 1)).toISOString();
    log.warn({ code, err: e, attempts, retryAt }, 'capture attempt failed; will retry');
    await save({ attempts, reason: reasonOf(code), message, retryAt });
  } else {
    log.error({ code, err: e, attempts }, 'capture failed');
    if (capture !== undefined) await abortLeftoverUploads(deps, capture, log);
    await save({ attempts, reason: reasonOf(code), message }, 'Failed');
  }
  return (await deps.queue.get(capture?.id ?? '')) as Capture;
}
