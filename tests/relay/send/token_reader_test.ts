import assert from "node:assert/strict";
import { createTokenReader } from "../../../relay/send/token_reader.ts";

Deno.test("createTokenReader returns the inline token as it is", async () => {
  assert.equal(await createTokenReader({ value: "dev-token" })(), "dev-token");
});

Deno.test("createTokenReader reads the token file, trimmed, and picks up a rotated token", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/token`;
  try {
    await Deno.writeTextFile(file, "first\n");
    const read = createTokenReader({ file });
    assert.equal(await read(), "first");
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await Deno.writeTextFile(file, "second\n");
    await Deno.utime(file, new Date(), new Date(Date.now() + 5_000));
    assert.equal(await read(), "second");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createTokenReader refuses an empty token file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/token`, "  \n");
    await assert.rejects(createTokenReader({ file: `${dir}/token` })(), {
      message: `Cannot read the handler token: ${dir}/token is empty`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createTokenReader re-reads the file when forced, even when its modification time is unchanged", async () => {
  const dir = await Deno.makeTempDir();
  const file = `${dir}/token`;
  try {
    await Deno.writeTextFile(file, "first\n");
    const { mtime } = await Deno.stat(file);
    const read = createTokenReader({ file });
    assert.equal(await read(), "first");
    await Deno.writeTextFile(file, "second\n");
    await Deno.utime(file, mtime!, mtime!);
    assert.equal(await read(), "first");
    assert.equal(await read({ isForced: true }), "second");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
