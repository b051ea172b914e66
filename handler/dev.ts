/**
 * `deno task dev`: the handler on this machine. Without DATABASE_URL or DB_HOST it starts an embedded PostgreSQL
 * with its data in `.data/` (git-ignored, kept between runs). It adds a token for cluster "dev" (kept in
 * `.data/dev_token`), serves on PORT (8080), and prints the URL, the token and a curl command that sends a sample
 * event. Ctrl-C stops the handler and the embedded database.
 */
import { isDatabaseConfigured } from "./config.ts";
import { type EmbeddedDatabase, startEmbeddedDatabase } from "./embedded_database.ts";
import { serveApp } from "./server.ts";
import { prepareHandler } from "./start.ts";
import { toTokenHashHex } from "./token_hashes.ts";
import { toCurlCommand, toSampleEventRecord } from "./dev_sample.ts";

const DATA_DIR = new URL("../.data/", import.meta.url).pathname;
const DEV_CLUSTER = "dev";

async function readOrCreateToken(path: string): Promise<string> {
  try {
    return (await Deno.readTextFile(path)).trim();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    const token = Array.from(crypto.getRandomValues(new Uint8Array(24)), (b) => b.toString(16).padStart(2, "0"))
      .join("");
    await Deno.writeTextFile(path, token + "\n", { mode: 0o600 });
    return token;
  }
}

async function dev(): Promise<number> {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  await Deno.mkdir(DATA_DIR, { recursive: true });
  const env = Deno.env.toObject();
  let database: EmbeddedDatabase | undefined;
  try {
    if (!isDatabaseConfigured(env)) {
      console.error(`starting embedded PostgreSQL (data in ${DATA_DIR}postgres)`);
      database = await startEmbeddedDatabase({ dataDir: `${DATA_DIR}postgres`, isPersistent: true });
      env.DATABASE_URL = database.url;
    }
    const token = await readOrCreateToken(`${DATA_DIR}dev_token`);
    const devHash = `${DEV_CLUSTER}=${await toTokenHashHex(token)}`;
    env.CLUSTER_TOKEN_HASHES = env.CLUSTER_TOKEN_HASHES ? `${env.CLUSTER_TOKEN_HASHES},${devHash}` : devHash;
    const { app, config, store, logger } = await prepareHandler(env, { signal: controller.signal });
    const serving = serveApp({
      app,
      port: config.port,
      shutdownDeadlineS: config.shutdownDeadlineS,
      logger,
      signal: controller.signal,
    });
    const baseUrl = `http://localhost:${serving.port}`;
    const record = toSampleEventRecord({ cluster: DEV_CLUSTER, now: new Date() });
    console.error([
      "",
      `events-ingester handler: ${baseUrl}  (cluster "${DEV_CLUSTER}", token ${token})`,
      "send a sample event (run it twice: the second answer counts a duplicate):",
      "",
      `  ${toCurlCommand({ baseUrl, token, records: [record] })}`,
      "",
      `checkpoint: curl -sS -H 'Authorization: Bearer ${token}' ${baseUrl}/v1/checkpoints/${DEV_CLUSTER}`,
      "Ctrl-C stops the handler" + (database ? " and the embedded database" : ""),
      "",
    ].join("\n"));
    await serving.finished;
    await store.close();
    return 0;
  } catch (error) {
    // prepareHandler logged configuration and database problems; anything else is shown here.
    if (!controller.signal.aborted) console.error(`dev handler failed: ${(error as Error).message}`);
    return 1;
  } finally {
    await database?.stop();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

if (import.meta.main) Deno.exit(await dev());
