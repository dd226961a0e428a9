import { renderTemplate, type TemplateVariables } from "./renderTemplate.ts";
import { smsSegments, type SmsEncoding } from "./smsSegments.ts";

/** A message's body, and how it travels (encoding, segments). */
export interface RenderedMessage {
  readonly body: string;
  readonly encoding: SmsEncoding;
  readonly segments: number;
}

/**
 * A template filled with `variables` as a message, or why it cannot be one: what a request renders
 * and, when it is restated before an attempt, what that attempt sends (the same function, so the
 * gateway sends exactly what the claim records).
 */
export function renderedMessage(
  templateId: string,
  template: string,
  variables: TemplateVariables,
): RenderedMessage | { readonly problem: "template_render_failed" | "empty_body"; readonly detail: string } {
  const rendered = renderTemplate(template, variables);
  switch (rendered.outcome) {
    case "missing-variables":
      return {
        problem: "template_render_failed",
        detail: `template ${templateId} needs variables: ${rendered.missing.join(", ")}`,
      };
    case "malformed-placeholder":
      return {
        problem: "template_render_failed",
        detail: `template ${templateId} has a malformed placeholder at ${rendered.index}: ${rendered.excerpt}`,
      };
    case "rendered":
      break;
  }
  if (rendered.body.trim() === "") {
    return { problem: "empty_body", detail: `template ${templateId} renders to an empty message` };
  }
  const { encoding, segments } = smsSegments(rendered.body);
  return { body: rendered.body, encoding, segments };
}
