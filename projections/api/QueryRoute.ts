import type { Kysely } from "kysely";
import type { z } from "zod";
import type { Rule } from "../../domain/rules/Rule.ts";
import type { ReferenceTimeBounds } from "../../domain/values/ReferenceTimeBounds.ts";

/** What a query handler knows about its caller and where to read. */
export interface QueryContext {
  /**
   * The read schema's connection, typed as the tables of the read model a query reads (the
   * schema's views hold every read model's tables, so any of them is right).
   */
  readonly readModel: <Tables>() => Kysely<Tables>;
  /** The read schema: views onto each projection's live build. */
  readonly readSchema: string;
  /** The caller holds `pii:read`: phone numbers and message bodies are shown unmasked. */
  readonly showPii: boolean;
  /** `csv` only on routes that offer it (`offersCsv`). */
  readonly format: "json" | "csv";
  /** The rules in force, as the command side decides with them. */
  readonly rules: readonly Rule[];
  /**
   * Every version of every rule ever published, those in force among them: a decision made under
   * an older version is explained with that version's threshold.
   */
  readonly publishedRules: readonly Rule[];
  /** The bounds of a balance's reference time, as the command side decides with them. */
  readonly referenceTimeBounds: ReferenceTimeBounds;
}

/** An answer: JSON, or CSV text when the route offers it and the caller asked. */
export type QueryAnswer =
  | { readonly kind: "json"; readonly body: unknown }
  | { readonly kind: "csv"; readonly body: string; readonly filename: string }
  | { readonly kind: "not_found"; readonly detail: string };

/**
 * One GET route of the query API: its path (Koa router syntax), the projections it reads (for
 * read-your-writes and the cache key), how its path and query parameters are validated, and
 * how it answers.
 */
export interface QueryRoute<Params extends z.ZodType = z.ZodType> {
  readonly path: string;
  /** One line for the OpenAPI document. */
  readonly summary: string;
  readonly projections: readonly string[];
  /** Validates `{ ...path params, ...query params }` (without minPosition); unknown keys are refused. */
  readonly params: Params;
  /** The route answers `?format=csv` too. */
  readonly offersCsv?: boolean;
  answer(context: QueryContext, params: z.infer<Params>): Promise<QueryAnswer>;
}

/** Keeps the schema's type attached to its handler. */
export function queryRoute<Params extends z.ZodType>(route: QueryRoute<Params>): QueryRoute<Params> {
  return route;
}
