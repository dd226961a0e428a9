/** One headline figure with its label; `testId` lets the browser tests read it. */
export function Stat({
  label,
  value,
  note,
  testId,
}: {
  readonly label: string;
  readonly value: string;
  readonly note?: string;
  readonly testId: string;
}) {
  return (
    <div class="stat">
      <dt>{label}</dt>
      <dd data-testid={testId}>{value}</dd>
      {note === undefined ? null : <dd class="note">{note}</dd>}
    </div>
  );
}
