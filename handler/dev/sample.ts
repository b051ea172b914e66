/**
 * What `deno task dev` prints so a developer can send an event by hand: a sample event record and a curl command
 * that gzips it and posts it with the dev token.
 */
import { encodeNdjson } from "../../shared/contract/ndjson.ts";
import { EVENTS_PATH, NDJSON_CONTENT_TYPE } from "../../shared/contract/protocol.ts";
import { type EventRecord, RECORD_VERSION } from "../../shared/contract/records.ts";

/** A core/v1 Pod event record for `cluster`, dated `now`, with a fresh uid. */
export function toSampleEventRecord(options: { cluster: string; now: Date }): EventRecord {
  const at = options.now.toISOString().replace(/\.\d{3}Z$/, "Z");
  return {
    v: RECORD_VERSION,
    kind: "event",
    cluster: options.cluster,
    observedAt: at,
    event: {
      apiVersion: "v1",
      kind: "Event",
      metadata: {
        name: "web-0.sample",
        namespace: "default",
        uid: crypto.randomUUID(),
        resourceVersion: "1",
        creationTimestamp: at,
      },
      involvedObject: { apiVersion: "v1", kind: "Pod", name: "web-0", namespace: "default", uid: crypto.randomUUID() },
      reason: "Started",
      message: "Started container web",
      type: "Normal",
      count: 1,
      firstTimestamp: at,
      lastTimestamp: at,
      source: { component: "kubelet", host: "node-1" },
    },
    enrichment: { labels: { app: "web" } },
  };
}

/**
 * A shell command that posts `records` as gzip NDJSON to `baseUrl` with `token`. Record JSON must not contain
 * a single quote (sample records do not).
 */
export function toCurlCommand(options: { baseUrl: string; token: string; records: EventRecord[] }): string {
  const lines = encodeNdjson(options.records).trimEnd().split("\n");
  if (lines.some((line) => line.includes("'"))) throw new RangeError("Cannot quote the records: one holds a '");
  return [
    `printf '%s\\n' ${lines.map((line) => `'${line}'`).join(" ")} | gzip |`,
    `curl -sS -H 'Authorization: Bearer ${options.token}' -H 'Content-Type: ${NDJSON_CONTENT_TYPE}'`,
    `-H 'Content-Encoding: gzip' --data-binary @- ${options.baseUrl}${EVENTS_PATH}`,
  ].join(" ");
}
