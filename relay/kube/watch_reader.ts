/**
 * Reading a Kubernetes watch response: newline-delimited JSON notifications, decoded into WatchEvents, one line per
 * read so that a consumer that stops asking stops the stream.
 */
import { type NdjsonLine, NdjsonLineStream } from "../../shared/contract/ndjson.ts";
import { raceSignal } from "../../shared/race.ts";
import { KubeApiError, type KubeObject, type WatchEvent } from "./kube_api.ts";

export interface ReadWatchOptions {
  /** Longest notification line accepted. */
  lineBytesMax: number;
  /** A read that waits longer than this for a byte fails with KubeApiError reason `IdleTimeout`. */
  idleTimeoutMs: number;
  /** Ends the reading (the read in progress rejects with the signal's reason). */
  signal: AbortSignal;
}

/**
 * Yields the notifications of a watch body. Ends when the body ends; throws KubeApiError for an ERROR notification
 * (its code as status, 410 Gone included), an unreadable line, an unknown type or an idle stream. Cancels the body
 * when it stops for any reason.
 */
export async function* readWatchEvents(
  body: ReadableStream<Uint8Array>,
  options: ReadWatchOptions,
): AsyncGenerator<WatchEvent> {
  const { signal, idleTimeoutMs } = options;
  const lines = body.pipeThrough(new NdjsonLineStream({ lineBytesMax: options.lineBytesMax })).getReader();
  try {
    while (true) {
      let idleTimer: ReturnType<typeof setTimeout> | undefined;
      const idle = new Promise<never>((_, reject) => {
        idleTimer = setTimeout(() => {
          reject(
            new KubeApiError(`Cannot read the watch: no data for ${idleTimeoutMs} ms`, {
              status: 0,
              reason: "IdleTimeout",
            }),
          );
        }, idleTimeoutMs);
      });
      let next: ReadableStreamReadResult<NdjsonLine>;
      try {
        // Deno does not always end a streaming response body when its fetch signal aborts (a watch kept delivering
        // bookmarks after shutdown), so every read also races the signal, and the finally cancels the body.
        next = await raceSignal(Promise.race([lines.read(), idle]), signal);
      } finally {
        clearTimeout(idleTimer);
      }
      if (next.done) return;
      const line = next.value;
      if ("error" in line) {
        throw new KubeApiError(`Cannot read the watch: ${line.error.message}`, { status: 0, reason: "BadLine" });
      }
      yield toWatchEvent(JSON.parse(line.text) as { type?: string; object?: KubeObject });
    }
  } finally {
    await lines.cancel().catch(() => {
      // The connection is already gone; cancelling it again has nothing left to release.
    });
  }
}

/** Decodes one notification; throws KubeApiError for ERROR and unknown types. */
export function toWatchEvent(notification: { type?: string; object?: KubeObject }): WatchEvent {
  const object = notification.object ?? {};
  const resourceVersion = String((object.metadata as Record<string, unknown> | undefined)?.resourceVersion ?? "");
  switch (notification.type) {
    case "ADDED":
    case "MODIFIED":
    case "DELETED":
      return { type: notification.type, object, resourceVersion };
    case "BOOKMARK":
      return { type: "BOOKMARK", resourceVersion };
    case "ERROR":
      throw new KubeApiError(`Cannot continue the watch: ${String(object.message ?? "ERROR notification")}`, {
        status: typeof object.code === "number" ? object.code : 500,
        reason: String(object.reason ?? "Unknown"),
      });
    default:
      throw new KubeApiError(`Cannot read the watch: unknown notification type ${String(notification.type)}`, {
        status: 0,
        reason: "BadLine",
      });
  }
}
