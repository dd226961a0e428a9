/** Values for a template's placeholders, already formatted for the customer (money, dates). */
export type TemplateVariables = Readonly<Record<string, string>>;

/**
 * The outcome of rendering: the SMS body, or why there is none. A template problem is a result,
 * not a throw, so the caller can refuse the notification with the names to fix.
 */
export type RenderedTemplate =
  | { readonly outcome: "rendered"; readonly body: string }
  | { readonly outcome: "missing-variables"; readonly missing: readonly string[] }
  | { readonly outcome: "malformed-placeholder"; readonly index: number; readonly excerpt: string };

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/;

/**
 * Substitutes `{{name}}` (spaces inside the braces allowed) with `variables[name]`, in one pass:
 * values are inserted verbatim and never scanned again, and nothing is evaluated. Every missing
 * variable is named (an SMS never says "undefined"); a `{{` that does not open a well-formed
 * placeholder is an error, not literal text, because it is always a template bug. Single braces
 * are ordinary text.
 */
export function renderTemplate(template: string, variables: TemplateVariables): RenderedTemplate {
  const placeholder = new RegExp(PLACEHOLDER.source, "y");
  const parts: string[] = [];
  const missing = new Set<string>();
  let index = 0;
  while (index < template.length) {
    const open = template.indexOf("{{", index);
    if (open === -1) {
      parts.push(template.slice(index));
      break;
    }
    parts.push(template.slice(index, open));
    placeholder.lastIndex = open;
    const match = placeholder.exec(template);
    const name = match?.[1];
    if (match === null || name === undefined) {
      return { outcome: "malformed-placeholder", index: open, excerpt: template.slice(open, open + 24) };
    }
    // Own keys only: "{{constructor}}" must not render Object.prototype.constructor.
    const value = Object.hasOwn(variables, name) ? variables[name] : undefined;
    if (value === undefined) missing.add(name);
    else parts.push(value);
    index = open + match[0].length;
  }
  if (missing.size > 0) return { outcome: "missing-variables", missing: [...missing] };
  return { outcome: "rendered", body: parts.join("") };
}
