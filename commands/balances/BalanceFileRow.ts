/**
 * One row of a balance file, in file order (`row` counts from 1): the account and the balance as
 * a push's JSON body, or why the row could not even be read. `line` is where the row starts.
 */
export type BalanceFileRow =
  | { readonly row: number; readonly line: number; readonly accountId: string; readonly body: unknown }
  | { readonly row: number; readonly line: number; readonly problem: string };

/** A file that cannot be read at all (not a bad row: its header, its compression). */
export class BalanceFileError extends Error {}
