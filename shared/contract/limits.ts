/**
 * Default bounds both sides agree on. Each is configurable (handler/README.md and relay/README.md); the relay sizes its
 * batches below the handler's request limits so that a full batch is never refused.
 */
export const DEFAULT_LIMITS = {
  /** Compressed request body, as it arrives on the socket. */
  bodyBytesMax: 8 * 1024 * 1024,
  /**
   * Request body after gzip decoding; a gzip bomb is cut off here. The handler keeps a request's rows until its commit,
   * up to 4 bytes per decoded byte (`handler/memory_budget.ts`), so this also sizes the most one request can hold.
   */
  decodedBodyBytesMax: 16 * 1024 * 1024,
  /** One NDJSON line, without its line end. */
  lineBytesMax: 1024 * 1024,
  /** Records (non-blank lines) in one request. */
  recordsMax: 10_000,
  /** Nesting of arrays and objects within one line. */
  jsonDepthMax: 32,
  /** Relay: records in one batch. */
  batchRecordsMax: 1_000,
  /** Relay: uncompressed NDJSON bytes in one batch. */
  batchBytesMax: 2 * 1024 * 1024,
  /** Relay: a batch is sent at the latest this long after its first record was queued. */
  flushIntervalMs: 250,
  /** Relay: bytes of events waiting to be sent before the watch is paused. */
  queueBytesMax: 4 * 1024 * 1024,
} as const;
