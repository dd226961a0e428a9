import type { z } from "zod";
import { ProblemError, type FieldProblem } from "./ProblemError.ts";

/**
 * Validates one part of a request (`body`, `params`, `headers`) and answers 400 listing every bad
 * field at once, not just the first.
 */
export function parseRequest<Schema extends z.ZodType>(
  part: string,
  schema: Schema,
  value: unknown,
): z.infer<Schema> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const errors: FieldProblem[] = parsed.error.issues.map((issue) => ({
    field: [part, ...issue.path.map(String)].join("."),
    problem: issue.message,
  }));
  throw new ProblemError("invalid_request", `${errors.length} invalid field(s)`, { errors });
}

/** Fails with every collected field problem, if any. */
export function rejectIfAny(errors: readonly FieldProblem[]): void {
  if (errors.length > 0)
    throw new ProblemError("invalid_request", `${errors.length} invalid field(s)`, { errors });
}
