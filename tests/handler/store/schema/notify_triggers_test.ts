import assert from "node:assert/strict";
import { toNotifiedChannels } from "../../../../handler/store/schema/notify_triggers.ts";

Deno.test("toNotifiedChannels reads the channel of the Krateo trigger and of the handler's own", () => {
  const krateo = `
BEGIN
    PERFORM pg_notify(
        'events',
        json_build_object('event_id', NEW.event_id, 'global_uid', NEW.global_uid)::text
    );
    RETURN NEW;
END;`;
  assert.deepEqual(toNotifiedChannels(krateo), ["events"]);
  const ours = `perform pg_notify('events', json_build_object('event_id', event_id)::text) from inserted_rows;`;
  assert.deepEqual(toNotifiedChannels(ours), ["events"]);
});

Deno.test("toNotifiedChannels takes pg_notify channels as written and folds unquoted NOTIFY channels", () => {
  assert.deepEqual(toNotifiedChannels(`PERFORM PG_NOTIFY('Events', 'x');`), ["Events"]);
  assert.deepEqual(toNotifiedChannels(`perform pg_notify ( 'it''s' , 'x');`), ["it's"]);
  assert.deepEqual(toNotifiedChannels(`NOTIFY Events, 'x';`), ["events"]);
  assert.deepEqual(toNotifiedChannels(`notify "Events";`), ["Events"]);
  assert.deepEqual(toNotifiedChannels(`NOTIFY events; perform pg_notify('other', 'x');`), ["events", "other"]);
});

Deno.test("toNotifiedChannels ignores comments, computed channels and words that only contain notify", () => {
  const source = `
    -- PERFORM pg_notify('events', 'x');
    /* NOTIFY events; */
    PERFORM pg_notify(TG_ARGV[0], NEW.global_uid);
    PERFORM my_notify('events');
    RAISE NOTICE 'notify_count %', 1;
    RETURN NEW;`;
  assert.deepEqual(toNotifiedChannels(source), []);
});
