import type { Context, Next } from "koa";
import { ProblemError, type FieldProblem } from "./ProblemError.ts";

/**
 * What the body's string values may hold besides printable text: nothing (`single-line`, the
 * APIs: every field is an id, a code, a number or a short one-line note), or tab, line feed and
 * carriage return (`free-text`, the SMS webhooks: a customer's message may hold line breaks).
 * Ids, path segments, query parameters and object keys are always single-line.
 */
export type BodyStrings = "single-line" | "free-text";

// C0 controls (NUL among them: PostgreSQL refuses it in text) and DEL. Matching them is the point.
/* eslint-disable no-control-regex */
const CONTROL = /[\u0000-\u001f\u007f]/;
const CONTROL_BUT_TAB_AND_LINE_BREAKS = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
/* eslint-enable no-control-regex */
const ENCODED_CONTROL = /%(?:[01][0-9a-f]|7f)/i;

/**
 * Middleware: 400 naming every path, query parameter and body field (value or key) that holds a
 * control character. One check at the edge, before any route, so no id or filter carrying one
 * ever reaches a query or the event store. Goes after the body parser.
 */
export function refuseControlCharacters(bodyStrings: BodyStrings) {
  const inBodyValue = bodyStrings === "free-text" ? CONTROL_BUT_TAB_AND_LINE_BREAKS : CONTROL;
  return async (ctx: Context, next: Next): Promise<void> => {
    const problems: FieldProblem[] = [];
    if (ENCODED_CONTROL.test(ctx.path) || CONTROL.test(ctx.path)) problems.push(controlIn("path"));
    for (const [name, value] of Object.entries(ctx.query)) {
      const values = Array.isArray(value) ? value : [value ?? ""];
      if (CONTROL.test(name) || values.some((text) => CONTROL.test(text))) {
        problems.push(controlIn(`query.${printable(name)}`));
      }
    }
    findIn(ctx.request.body, "body", inBodyValue, problems);
    if (problems.length > 0) {
      throw new ProblemError("invalid_request", `${problems.length} field(s) hold a control character`, {
        errors: problems,
      });
    }
    await next();
  };
}

function findIn(value: unknown, field: string, inValue: RegExp, problems: FieldProblem[]): void {
  if (typeof value === "string") {
    if (inValue.test(value)) problems.push(controlIn(field));
  } else if (Array.isArray(value)) {
    value.forEach((item, index) => findIn(item, `${field}.${index}`, inValue, problems));
  } else if (typeof value === "object" && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if (CONTROL.test(key)) problems.push(controlIn(`${field}.${printable(key)}`));
      else findIn(item, `${field}.${key}`, inValue, problems);
    }
  }
}

function controlIn(field: string): FieldProblem {
  return { field, problem: "must not contain control characters (U+0000-U+001F, U+007F)" };
}

/** A name as it can be shown back: control characters escaped (`\u0000`), the rest as sent. */
function printable(name: string): string {
  return JSON.stringify(name).slice(1, -1);
}
