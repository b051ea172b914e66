/**
 * Leader election with a coordination.k8s.io/v1 Lease, following client-go's rules: a Lease is expired when its
 * record has not changed for its leaseDurationSeconds as observed on this relay's own clock (so clock skew between
 * nodes does not matter), the holder renews every retry period and gives up when it could not renew within the
 * renew deadline, and a graceful shutdown releases the Lease so a standby takes over at once.
 */
import { describeError, type Logger } from "../../shared/telemetry/log.ts";
import type { Fence } from "../../shared/contract/protocol.ts";
import { type Delay, delay as realDelay } from "../../shared/delay.ts";
import { type KubeApi, KubeApiError, type Lease } from "./kube_api.ts";
import { toMicroTime } from "./kube_wire.ts";

export interface LeaderElectionOptions {
  kube: Pick<KubeApi, "getLease" | "createLease" | "replaceLease">;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationS: number;
  renewDeadlineS: number;
  retryPeriodS: number;
  logger: Logger;
  now?: () => number;
  delay?: Delay;
  random?: () => number;
}

/** What the leader's work receives: its fence and a signal that aborts when leadership is lost. */
export interface Leadership {
  fence: Fence;
  /** Aborts when the Lease could not be renewed in time: stop at once, another relay may be leader. */
  lostSignal: AbortSignal;
}

/** Campaigns for the Lease and runs the leader's work while it is held. */
export class LeaderElector {
  readonly #options: LeaderElectionOptions;
  readonly #now: () => number;
  readonly #delay: Delay;
  #observed: { resourceVersion: string; atMs: number } | undefined;
  #lease: Lease | undefined;
  #isLeader = false;
  #lastContactMs: number | undefined;
  #refusal: string | undefined;

  constructor(options: LeaderElectionOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#delay = options.delay ?? realDelay;
  }

  get isLeader(): boolean {
    return this.#isLeader;
  }

  /**
   * Why the API server refuses this relay's Lease requests (401 or 403: its RBAC lacks a verb), until a request
   * succeeds again; undefined while nothing is refused. Readiness reports it: such a relay can never lead.
   */
  get refusal(): string | undefined {
    return this.#refusal;
  }

  /** When the API server last answered a Lease request (ms clock); standby health is judged by it. */
  get lastContactMs(): number | undefined {
    return this.#lastContactMs;
  }

  /**
   * Campaigns until `signal` aborts. Each time the Lease is won, runs `lead` and keeps renewing until `lead`
   * returns (then the Lease is released and the campaign continues unless shutting down) or renewal fails (then
   * `lostSignal` aborts, `lead` is awaited, and the campaign starts over). Releases the Lease on the way out.
   */
  async run(options: { signal: AbortSignal; lead: (leadership: Leadership) => Promise<void> }): Promise<void> {
    const { signal, lead } = options;
    while (!signal.aborted) {
      const fence = await this.#acquire(signal);
      if (fence === undefined) return;
      this.#isLeader = true;
      this.#options.logger.info("became leader", { holder: fence.holder, transitions: fence.transitions });
      const lost = new AbortController();
      const done = new AbortController();
      const work = lead({ fence, lostSignal: lost.signal }).catch((error) => {
        this.#options.logger.error("leader work failed", { error: describeError(error) });
      }).finally(() => done.abort());
      await this.#renewUntil(done.signal, lost);
      await work;
      this.#isLeader = false;
      if (!lost.signal.aborted) await this.#release();
      else this.#options.logger.warn("lost leadership", { holder: fence.holder });
      // Leadership ended without a shutdown (lost, fenced, or the work failed): pause before campaigning again.
      // The pause only rejects when shutdown aborts it, which the loop condition then handles.
      if (!signal.aborted) await this.#delay(this.#options.retryPeriodS * 1000, signal).catch(() => undefined);
    }
  }

  /** Tries until it holds the Lease; undefined when `signal` aborted first. */
  async #acquire(signal: AbortSignal): Promise<Fence | undefined> {
    while (!signal.aborted) {
      const fence = await this.#tryAcquireOrRenew(signal);
      if (fence !== undefined) return fence;
      const jitter = 1 + 0.2 * (this.#options.random ?? Math.random)();
      try {
        await this.#delay(this.#options.retryPeriodS * 1000 * jitter, signal);
      } catch (error) {
        if (signal.aborted) return undefined;
        throw error;
      }
    }
    return undefined;
  }

  /** Renews every retry period until `done` aborts; aborts `lost` when a renewal deadline passes. */
  async #renewUntil(done: AbortSignal, lost: AbortController): Promise<void> {
    const { retryPeriodS, renewDeadlineS } = this.#options;
    let renewedAtMs = this.#now();
    while (!done.aborted) {
      try {
        await this.#delay(retryPeriodS * 1000, done);
      } catch (error) {
        if (done.aborted) return;
        throw error;
      }
      const attempt = AbortSignal.timeout(Math.max(1, renewedAtMs + renewDeadlineS * 1000 - this.#now()));
      if (await this.#tryAcquireOrRenew(attempt) !== undefined) renewedAtMs = this.#now();
      else if (this.#now() - renewedAtMs >= renewDeadlineS * 1000) {
        lost.abort(new Error("Cannot renew the Lease: the renew deadline passed"));
        return;
      }
    }
  }

  /** One round of client-go's tryAcquireOrRenew; the fence when this relay holds the Lease afterwards. */
  async #tryAcquireOrRenew(signal: AbortSignal): Promise<Fence | undefined> {
    const { kube, namespace, name, identity, leaseDurationS, logger } = this.#options;
    const nowMs = this.#now();
    try {
      const current = await kube.getLease({ namespace, name, signal });
      this.#lastContactMs = this.#now();
      if (current === undefined) {
        const created = await kube.createLease({
          namespace,
          name,
          holderIdentity: identity,
          leaseDurationSeconds: leaseDurationS,
          acquireTime: toMicroTime(nowMs),
          renewTime: toMicroTime(nowMs),
          leaseTransitions: 0,
        }, signal);
        return this.#hold(created);
      }
      let observed = this.#observed;
      if (observed === undefined || observed.resourceVersion !== current.resourceVersion) {
        observed = { resourceVersion: current.resourceVersion ?? "", atMs: nowMs };
        this.#observed = observed;
      }
      const holder = current.holderIdentity;
      const durationMs = (current.leaseDurationSeconds ?? leaseDurationS) * 1000;
      const isExpired = holder === null || observed.atMs + durationMs <= nowMs;
      if (holder !== identity && !isExpired) return undefined;
      const isTakeover = holder !== identity;
      const replaced = await kube.replaceLease({
        ...current,
        holderIdentity: identity,
        leaseDurationSeconds: leaseDurationS,
        renewTime: toMicroTime(nowMs),
        acquireTime: isTakeover ? toMicroTime(nowMs) : current.acquireTime,
        leaseTransitions: isTakeover ? current.leaseTransitions + 1 : current.leaseTransitions,
      }, signal);
      return this.#hold(replaced);
    } catch (error) {
      if (error instanceof KubeApiError && (error.status === 401 || error.status === 403)) {
        this.#refuse(error);
      } else if (!(error instanceof KubeApiError && error.status === 409)) {
        logger.warn("cannot acquire or renew the Lease", { error: describeError(error) });
      }
      return undefined;
    }
  }

  /** Records a refused Lease request; logs an error when the refusal starts or changes, not at every retry. */
  #refuse(error: KubeApiError): void {
    if (this.#refusal !== error.message) {
      this.#options.logger.error("Cannot take part in leader election: the API server refuses a Lease request", {
        error: describeError(error),
        hint: "grant get, create and update on leases (deploy/base/relay/role.yaml)",
      });
    }
    this.#refusal = error.message;
  }

  #hold(lease: Lease): Fence {
    this.#refusal = undefined;
    this.#lastContactMs = this.#now();
    this.#lease = lease;
    this.#observed = { resourceVersion: lease.resourceVersion ?? "", atMs: this.#now() };
    return { holder: this.#options.identity, transitions: lease.leaseTransitions };
  }

  /** Hands the Lease back (holder cleared, 1 s duration) so a standby takes over without waiting for expiry. */
  async #release(): Promise<void> {
    const lease = this.#lease;
    if (lease === undefined) return;
    const nowMs = this.#now();
    try {
      await this.#options.kube.replaceLease({
        ...lease,
        holderIdentity: null,
        leaseDurationSeconds: 1,
        renewTime: toMicroTime(nowMs),
        acquireTime: toMicroTime(nowMs),
      }, AbortSignal.timeout(this.#options.renewDeadlineS * 1000));
      this.#options.logger.info("released the Lease", { holder: this.#options.identity });
    } catch (error) {
      // The Lease then expires on its own after leaseDurationS; releasing only makes the takeover faster.
      this.#options.logger.warn("cannot release the Lease", { error: describeError(error) });
    }
  }
}
