/**
 * A parsed JSON value as text in one canonical form: object keys sorted (by UTF-16 code units,
 * as RFC 8785 sorts them) at every depth, no spacing, strings and numbers as `JSON.stringify`
 * writes them. Two bodies that parse to the same value give the same text, whatever their key
 * order or spacing. Recursive: call it only on bodies whose depth the edge has bounded.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const keys = Object.keys(value).sort();
    const members = keys.map(
      (key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`,
    );
    return `{${members.join(",")}}`;
  }
  return JSON.stringify(value);
}
