/**
 * The narrow view of a database session that migrations and partition upkeep need. The PostgreSQL adapter
 * (`postgres_store.ts`) implements it over one transaction; nothing else depends on the client library.
 */

/** A value passed as a query parameter; never interpolated into SQL text. */
export type SqlValue = string | number | boolean | null;

/** One transaction's worth of queries. Rows come back as plain objects keyed by column name. */
export interface SqlRunner {
  query<T extends Record<string, unknown> = Record<string, unknown>>(
    text: string,
    params?: readonly SqlValue[],
  ): Promise<T[]>;
}

/**
 * Quotes an identifier for SQL text (`a"b` becomes `"a""b"`). Used only for names from configuration (schema) and
 * names built from dates, never for request content. Throws RangeError for an empty name or a NUL character.
 */
export function quoteIdentifier(name: string): string {
  if (name === "" || name.includes("\u0000")) {
    throw new RangeError(`Cannot quote identifier: ${JSON.stringify(name)} is empty or contains NUL`);
  }
  return `"${name.replaceAll('"', '""')}"`;
}
