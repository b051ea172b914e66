/**
 * The content headers of `POST /v1/events`: the body must be UTF-8 NDJSON, sent as gzip or as it is.
 */
import { NDJSON_CONTENT_TYPE } from "../../../shared/contract/protocol.ts";
import type { BodyEncoding } from "./body_stream.ts";
import { HttpError } from "../http_error.ts";

/**
 * Checks Content-Type and reads Content-Encoding. Throws HttpError UNSUPPORTED_MEDIA_TYPE or
 * UNSUPPORTED_ENCODING (both 415).
 */
export function readBodyEncoding(headers: Headers): BodyEncoding {
  checkContentType(headers.get("content-type"));
  return readEncoding(headers.get("content-encoding"));
}

/** Accepts `application/x-ndjson` with no parameter or `charset=utf-8`; throws 415 otherwise. */
function checkContentType(contentType: string | null): void {
  const [type = "", ...params] = (contentType ?? "").split(";").map((part) => part.trim().toLowerCase());
  const isUtf8 = params.every((p) => p === "" || /^charset="?utf-8"?$/.test(p));
  if (type !== NDJSON_CONTENT_TYPE || !isUtf8) {
    throw new HttpError(
      "UNSUPPORTED_MEDIA_TYPE",
      `Cannot read a body of type "${(contentType ?? "").slice(0, 80)}": send ${NDJSON_CONTENT_TYPE} (UTF-8)`,
    );
  }
}

/** `gzip` (or `x-gzip`) and `identity` (or no header); throws 415 otherwise. */
function readEncoding(contentEncoding: string | null): BodyEncoding {
  const encoding = (contentEncoding ?? "").trim().toLowerCase();
  if (encoding === "" || encoding === "identity") return "identity";
  if (encoding === "gzip" || encoding === "x-gzip") return "gzip";
  throw new HttpError(
    "UNSUPPORTED_ENCODING",
    `Cannot decode Content-Encoding "${encoding.slice(0, 40)}": send gzip or identity`,
  );
}
