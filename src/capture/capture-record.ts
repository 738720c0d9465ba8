import { AmberError } from '../core/amber-error.js';
import type { Capture, CaptureStatus, Phase } from '../core/capture.js';
import type { CustodyActor, CustodyEntry } from '../core/custody-entry.js';
import { CustodyChain } from '../evidence/custody-chain.js';
import type { Plaintext, PlaintextLedger } from './evidence-bundle.js';

/**
 * Where a capture's status is kept: the subset of the capture queue that the status writer needs
 * (queue/CaptureQueue is one; the capture side owns this port so that it needs nothing of queue/).
 */
export interface CaptureStatusStore {
  get(id: string): Promise<Capture | undefined>;
  /** Durably replaces the capture's status; resolves with the capture as stored (joined signals included). */
  updateStatus(id: string, status: CaptureStatus): Promise<Capture>;
}

/**
 * One capture while an attempt runs, and the only writer of its status: every step changes the
 * status through `save`, so progress lands in the queue after every step and a restart resumes
 * where it stopped. It holds the capture as last stored, the custody chain so far (written with
 * every save) and the time each phase was entered. Saves run one after another in call order, so
 * one may be started without waiting for it; each writes the chain as it was when it was called.
 */
export class CaptureRecord implements PlaintextLedger {
  private saving: Promise<void> = Promise.resolve();
  private chain: CustodyChain;

  private constructor(
    private readonly store: CaptureStatusStore,
    private capture: Capture,
    private readonly actor: CustodyActor,
    private readonly now: () => Date,
  ) {
    this.chain = new CustodyChain(actor, now, capture.status.custody ?? []);
  }

  /** The capture as stored now; CAPTURE_NOT_FOUND when there is none. */
  static async load(store: CaptureStatusStore, id: string, actor: CustodyActor, now: () => Date = () => new Date()): Promise<CaptureRecord> {
    const capture = await store.get(id);
    if (!capture) throw new AmberError('CAPTURE_NOT_FOUND', { id });
    return new CaptureRecord(store, capture, actor, now);
  }

  /** The capture as last stored (or as this attempt began it: see `clearOutcome`). */
  get current(): Capture {
    return this.capture;
  }

  /** The custody chain so far: steps append to it, and the next save writes it. */
  get custody(): CustodyChain {
    return this.chain;
  }

  /**
   * Writes `patch` over the status, with the custody chain as it is now; with `phase`, enters that
   * phase (its time recorded) unless the capture is in it already.
   */
  save(patch: Partial<CaptureStatus>, phase?: Phase): Promise<void> {
    const custody = [...this.chain.entries];
    const at = this.now().toISOString();
    this.saving = this.saving
      .catch(() => undefined)
      .then(async () => {
        const current = this.capture;
        const status: CaptureStatus = { ...current.status, ...patch, custody };
        if (phase && phase !== current.status.phase) {
          status.phase = phase;
          status.phaseTimes = { ...current.status.phaseTimes, [phase]: at };
        }
        this.capture = await this.store.updateStatus(current.id, status);
      });
    return this.saving;
  }

  /** A new attempt begins: the last one's outcome (retryAt, reason, message) goes with the next save. */
  clearOutcome(): void {
    const { retryAt: _r, reason: _reason, message: _m, ...rest } = this.capture.status;
    this.capture = { ...this.capture, status: rest };
  }

  /**
   * A copy of the chain to append to without touching the record: the triage report's entries
   * land only with the report (`adoptCustody`), never half-made.
   */
  forkCustody(): CustodyChain {
    return new CustodyChain(this.actor, this.now, this.chain.entries);
  }

  /** Entries that continue the chain (the report's, from a fork or a stored addendum) replace any from their first `seq` on. */
  adoptCustody(entries: readonly CustodyEntry[]): void {
    const from = entries[0]?.seq ?? this.chain.entries.length;
    this.chain = new CustodyChain(this.actor, this.now, [...this.chain.entries.filter((e) => e.seq < from), ...entries]);
  }

  /** The capture as the queue holds it now (after a failure, the record may not know). */
  async reload(): Promise<Capture> {
    this.capture = (await this.store.get(this.capture.id)) ?? this.capture;
    return this.capture;
  }

  plaintextOf(name: string): Plaintext | undefined {
    return this.capture.status.plaintexts?.[name];
  }

  async recordPlaintext(name: string, plaintext: Plaintext): Promise<void> {
    await this.save({ plaintexts: { ...(this.capture.status.plaintexts ?? {}), [name]: plaintext } });
  }
}

/** `DISK_PRESSURE` → `DiskPressure`: Kubernetes-style reasons for status.reason. */
export function reasonOf(code: string): string {
  return code
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}
