import assert from "node:assert/strict";
import { RowFeed } from "../../../handler/ingest/row_feed.ts";
import type { EventRow } from "../../../shared/contract/event_row.ts";
import { makeRow } from "../store/store_support.ts";

async function* chunks(items: (EventRow[] | Error)[], pulled: number[]): AsyncGenerator<EventRow[]> {
  for (let i = 0; i < items.length; i++) {
    pulled.push(i);
    const item = items[i]!;
    if (item instanceof Error) throw item;
    yield item;
  }
}

Deno.test("RowFeed hands out deduplicated non-empty chunks, keeps every row, and reads one chunk ahead", async () => {
  const [a, b, c] = [makeRow("c", 1), makeRow("c", 2), makeRow("c", 3)];
  const pulled: number[] = [];
  const feed = new RowFeed(chunks([[a, b], [b], [], [c, a]], pulled));
  assert.deepEqual(await feed.next(), [a, b]);
  assert.deepEqual(pulled, [0, 1]);
  assert.deepEqual(await feed.next(), [c]);
  assert.equal(await feed.next(), undefined);
  assert.deepEqual([feed.rows, feed.repeats, feed.isDone, feed.hasFailed], [[a, b, c], 2, true, false]);
});

Deno.test("RowFeed rethrows an error of its source and marks it as the source's", async () => {
  const error = new SyntaxError("Cannot read the body: broken");
  const feed = new RowFeed(chunks([[makeRow("c", 1)], error], []));
  assert.equal((await feed.next())?.length, 1);
  await assert.rejects(feed.next(), (thrown: unknown) => thrown === error);
  assert.deepEqual([feed.hasFailed, feed.isDone], [true, true]);
});

Deno.test("RowFeed.close stops its source before the end", async () => {
  let isStopped = false;
  async function* source(): AsyncGenerator<EventRow[]> {
    try {
      for (let i = 0; i < 10; i++) yield [makeRow("c", i)];
    } finally {
      isStopped = true;
    }
  }
  const feed = new RowFeed(source());
  await feed.next();
  feed.close();
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(isStopped, true);
  assert.equal(await feed.next(), undefined);
});
