/**
 * Rows as RFC 4180 CSV (CRLF line ends, a header row of `columns`). Cells that a spreadsheet
 * would run as a formula (starting with = + - @ tab or CR) get a leading apostrophe, except
 * plain negative numbers.
 */
export function toCsv(columns: readonly string[], rows: readonly object[]): string {
  const lines = [columns.map(csvCell).join(",")];
  for (const row of rows) {
    const fields = row as Readonly<Record<string, unknown>>;
    lines.push(columns.map((column) => csvCell(fields[column])).join(","));
  }
  return `${lines.join("\r\n")}\r\n`;
}

function csvCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  let text =
    typeof value === "string"
      ? value
      : typeof value === "number" || typeof value === "boolean" || typeof value === "bigint"
        ? String(value)
        : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(text) && !/^-\d+(\.\d+)?$/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
