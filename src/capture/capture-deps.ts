import type { Logger } from 'pino';
import type { ListSource } from '../analysis/lists/indicator-list.js';
import type { Capture } from '../core/capture.js';
import type { CustodyActor } from '../core/custody-entry.js';
import type { SigningKey } from '../evidence/signing-key.js';
import type { Semaphore } from './semaphore.js';
import type { KubeApi } from '../kube/kube-api.js';
import type { CheckpointResult } from '../kube/kubelet-client.js';
import type { KubeletAddress } from '../kube/resolve-target.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { CaptureStatusStore } from './capture-record.js';
import type { YaraRules } from '../analysis/yara/yara-rules.js';

/** The one call of the kubelet the pipeline needs (KubeletClient implements it). */
export interface Checkpointer {
  checkpoint(kubelet: { host: string; port: number }, namespace: string, pod: string, container: string, timeoutSeconds: number): Promise<CheckpointResult>;
}

/**
 * What the capture side needs of the capture queue (queue/CaptureQueue is one): a capture's status
 * to read and write, the open captures at start-up, and news of new ones. Owned here, so that
 * capture/ imports nothing of queue/.
 */
export interface CaptureQueuePort extends CaptureStatusStore {
  /** Newest first; at most `limit`. */
  list(options: { readonly limit: number }): Promise<Capture[]>;
  /** Calls `listener` with each capture newly queued (after it is durable); returns an unsubscribe. */
  watch(listener: (capture: Capture) => void): () => void;
  /** Optional: each new capture as soon as it is accepted, with the promise of its durability (see CaptureQueue). */
  watchAccepted?(listener: (capture: Capture, durable: Promise<unknown>) => void): () => void;
}

/**
 * Told when a capture reaches its end: Sealed (once its report is settled, so the report's
 * indicators travel with it) or Failed. Synchronous and void on purpose: a listener queues its
 * work and returns, so it can neither delay nor fail a capture. The same capture may be told
 * twice (a restart re-running it, the resume path): listeners dedupe on capture id + event.
 * The notifications (src/notify/) implement it; the composition root wires them.
 */
export interface CaptureEvents {
  sealed(capture: Capture): void;
  failed(capture: Capture): void;
}

/**
 * Everything the capture pipeline is built from; handed in, never looked up. runCapture hands each
 * step only the parts it uses.
 */
export interface CaptureDeps {
  readonly queue: CaptureQueuePort;
  readonly api: KubeApi;
  readonly kubelet: Checkpointer;
  readonly store: ObjectStore;
  readonly signingKey: SigningKey;
  readonly log: Logger;
  readonly settings: CaptureSettings;
  readonly actor: CustodyActor;
  readonly version: string;
  readonly now?: () => Date;
  /**
   * Bounds the heavy part (upload and sealing) separately from checkpoint requests, so a new
   * alert's checkpoint never waits behind older captures' uploads. Default: no bound.
   */
  readonly uploads?: Semaphore;
  /** Bounds captures in their checkpoint step (pod read, kubelet request). Default: no bound. */
  readonly checkpoints?: Semaphore;
  /** Told of each capture that ends Sealed or Failed (notifications). Default: nobody. */
  readonly events?: CaptureEvents;
  /** The YARA rules the triage report scans memory and added files with. Default: none. */
  readonly yara?: YaraRules;
  /** The indicator lists the triage report matches (analysis.lists). Default: none. */
  readonly lists?: ListSource;
}

export interface CaptureSettings {
  /** Where this node's kubelet writes archives, as mounted here (/var/lib/kubelet/checkpoints). */
  readonly checkpointDir: string;
  /** Cluster name in bundle keys. */
  readonly cluster: string;
  /** Key prefix inside the store. */
  readonly storePrefix: string;
  /** Delete the node's archive once the stored copy is checked. */
  readonly deleteNodeCopy: boolean;
  /** Refuse new checkpoints when the checkpoint directory has less free space than this. */
  readonly minFreeBytes: number;
  readonly maxAttempts: number;
  /** First retry delay; doubles per attempt. */
  readonly retryBaseMs: number;
  readonly logTailLines: number;
  /** After sealing, analyse the archives into report.json under a signed addendum. */
  readonly report: boolean;
  /** Where the kubelet is, instead of the Node's addresses (the agent's NODE_IP, --kubelet-address). */
  readonly kubeletAddress?: KubeletAddress | undefined;
}

export const DEFAULT_CAPTURE_SETTINGS: CaptureSettings = {
  checkpointDir: '/var/lib/kubelet/checkpoints',
  cluster: 'default',
  storePrefix: '',
  deleteNodeCopy: true,
  minFreeBytes: 1024 * 1024 * 1024,
  maxAttempts: 3,
  retryBaseMs: 2000,
  logTailLines: 1000,
  report: true,
};
