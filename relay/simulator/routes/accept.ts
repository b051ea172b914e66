/**
 * Reads the Accept header the way the API server does for the representations we serve: plain JSON, a Table
 * (kubectl get) or PartialObjectMetadata (metadata-only GETs).
 */

export type Representation = "json" | "table" | "metadata";

/**
 * The first acceptable representation in the header's order. `application/json;as=Table;g=meta.k8s.io;v=v1`
 * is a table, `...;as=PartialObjectMetadata` or `...;as=PartialObjectMetadataList` metadata; anything else JSON.
 */
export function toRepresentation(accept: string | null): Representation {
  if (accept === null) return "json";
  for (const part of accept.split(",")) {
    const [mediaType = "", ...parameters] = part.split(";").map((p) => p.trim());
    if (mediaType !== "application/json" && mediaType !== "*/*") continue;
    const values = new Map(parameters.map((p) => {
      const equals = p.indexOf("=");
      return [p.slice(0, equals).trim(), p.slice(equals + 1).trim()] as const;
    }));
    const as = values.get("as");
    if (as === undefined) return "json";
    const isMetaGroup = values.get("g") === "meta.k8s.io" &&
      (values.get("v") === "v1" || values.get("v") === "v1beta1");
    if (!isMetaGroup) continue;
    if (as === "Table") return "table";
    if (as === "PartialObjectMetadata" || as === "PartialObjectMetadataList") return "metadata";
  }
  return "json";
}
