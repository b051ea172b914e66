/**
 * Storm control: while the relay's queue is backlogged (versions arrive faster than the pipeline drains), a newer
 * version of an event replaces its older version still waiting in the queue, so the watch keeps being read instead of
 * pausing until the API server's watch window or event TTL runs out (which would turn the storm into a gap record).
 *
 * Backlogged means at least half full (`STORM_FILL_RATIO`). Below that the pipeline keeps up and every version is
 * sent as its own row. The other half is headroom for versions that have nothing to replace: the first version of
 * another event, or the next version of one whose queued version was just handed to the batcher. Without it such a
 * version would pause the watch until the next batch leaves the queue, and a storm goes on meanwhile.
 *
 * Nothing is lost: a core/v1 Event's `count`, `lastTimestamp` and `series` accumulate from one version to the next,
 * so the newer version says everything the replaced one said, and a replacement is allowed only when nothing else
 * differs (`toStableJson`). The replacing record carries how many versions it stands for (`replacedVersions`), and
 * the relay counts every replacement. Never merged: different events (uids), an older version over a newer one, a
 * version whose other fields changed (an aggregated event's message), and an item already handed to the batcher.
 *
 * Resume points. Each queue item carries the watch position that is safe to resume from once it and everything
 * before it are stored. The replacement takes the replaced item's place and keeps that item's resumeVersion: the
 * position after the replaced version is still safe there, because what that version said is now stored in the
 * same place. It must not take its own notification's position there: items queued between the two (other events'
 * versions) would then be covered by a checkpoint stored before them, and a restart in between would skip them.
 * The notification's own position is not dropped either: it moves to the newest queued item, whose batch is stored
 * after the replacement's. That is safe because every notification read after the newest item was queued was merged
 * into an item at or before it (anything else would have been queued after it), so once the newest item is stored,
 * everything up to this notification is. Without that move the checkpoint would stall for as long as a storm is
 * merged, and a restart would resume from before the whole storm. A newest item without a resume point (a gap or a
 * list item: a list is still being queued) is left alone, and so are list items, which are no resume point.
 */
import type { ByteQueue } from "./byte_queue.ts";
import type { EventItem, QueueItem } from "./queue_item.ts";

/** The key storm control replaces by: the event's uid; gaps and marks are never replaced. */
export function toStormKey(item: QueueItem): string | undefined {
  return item.kind === "event" && item.uid !== "" ? item.uid : undefined;
}

/**
 * Share of `bytesMax` from which storm control replaces queued versions instead of appending (see the module
 * comment).
 */
export const STORM_FILL_RATIO = 0.5;

/**
 * Queues `item`. Once the queue is backlogged (it would be filled past `STORM_FILL_RATIO`), first tries to replace
 * the newest queued version of the same event (when the queue was built with `toStormKey`; without a key index this
 * is a plain push); otherwise appends, waiting for room while the queue is full. Resolves true when the item
 * replaced a queued version, false when it was appended. Rejects with the signal's reason when aborted while waiting.
 */
export async function queueEventItem(
  queue: ByteQueue<QueueItem>,
  item: EventItem,
  signal?: AbortSignal,
): Promise<boolean> {
  const bytes = item.eventBytes;
  while (true) {
    const isBacklogged = queue.length > 0 && queue.bytes + bytes > queue.bytesMax * STORM_FILL_RATIO;
    if (isBacklogged && replaceQueuedVersion(queue, item)) return true;
    if (!queue.isFullFor(bytes)) break;
    signal?.throwIfAborted();
    await queue.waitForSpace(bytes, signal);
  }
  await queue.push(item, bytes, signal);
  return false;
}

/** Replaces the newest queued version of `item`'s event with `item` when allowed; true when it did. */
function replaceQueuedVersion(queue: ByteQueue<QueueItem>, item: EventItem): boolean {
  const queued = queue.queued(item.uid);
  const merged = queued?.kind === "event" ? toMergedItem(queued, item) : undefined;
  if (merged === undefined || !queue.replace(merged, item.eventBytes)) return false;
  moveResumeVersionToNewest(queue, item.resumeVersion);
  return true;
}

/**
 * The item that replaces `queued` with `next`, or undefined when `next` may not replace it: another event, not a
 * newer version, or a version that differs in more than its cumulative fields. The result keeps `queued`'s place in
 * time (`queuedAtMs`, so the flush deadline does not move back) and its resume point (see the module comment).
 */
export function toMergedItem(queued: EventItem, next: EventItem): EventItem | undefined {
  if (queued.uid !== next.uid || !isNewerResourceVersion(next.resourceVersion, queued.resourceVersion)) {
    return undefined;
  }
  const stableJson = queued.stableJson ??= toStableJson(queued.eventJson);
  if ((next.stableJson ??= toStableJson(next.eventJson)) !== stableJson) return undefined;
  return {
    ...next,
    resumeVersion: queued.resumeVersion,
    queuedAtMs: queued.queuedAtMs,
    replacedVersions: (queued.replacedVersions ?? 0) + 1,
  };
}

/**
 * True when `candidate` is a later resourceVersion than `queued`. Both must be decimal integers (etcd revisions, what
 * every API server sends); anything else is opaque and never ordered, so such versions are never replaced.
 */
export function isNewerResourceVersion(candidate: string, queued: string): boolean {
  if (!DECIMAL.test(candidate) || !DECIMAL.test(queued)) return false;
  return candidate.length === queued.length ? candidate > queued : candidate.length > queued.length;
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/**
 * The event's JSON without what changes from one version of the same occurrence to the next: the resourceVersion,
 * and the cumulative `count`, `lastTimestamp` and `series`. Two versions with equal stable JSON differ only in those.
 */
export function toStableJson(eventJson: string): string {
  const event = JSON.parse(eventJson) as Record<string, unknown>;
  const metadata = event.metadata;
  // Set to undefined, which JSON.stringify leaves out, so the remaining keys keep their order.
  if (typeof metadata === "object" && metadata !== null) event.metadata = { ...metadata, resourceVersion: undefined };
  event.count = undefined;
  event.lastTimestamp = undefined;
  event.series = undefined;
  return JSON.stringify(event);
}

/** Gives the newest queued item the position of a notification merged into an item at or before it. */
function moveResumeVersionToNewest(queue: ByteQueue<QueueItem>, resumeVersion: string | null): void {
  const newest = queue.peekLast();
  if (resumeVersion === null || newest === undefined || newest.kind === "gap" || newest.resumeVersion === null) return;
  newest.resumeVersion = resumeVersion;
}
