import { parseArgs } from "node:util";
import { UsageError } from "./UsageError.ts";

/** A flag's whole-number value, at least `minimum`; a UsageError naming the flag otherwise. */
export function wholeNumber(flag: string, text: string, minimum: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < minimum) {
    throw new UsageError(`${flag} must be a whole number >= ${minimum}, not "${text}"`);
  }
  return value;
}

/** `--only a,b`: the chosen names among `known`, in `known`'s order; a UsageError for any other. */
export function chosenNames<Name extends string>(text: string, known: readonly Name[]): Name[] {
  const names = text.split(",").map((name) => name.trim());
  const chosen = known.filter((name) => names.includes(name));
  const unknown = names.filter((name) => !known.some((knownName) => knownName === name));
  if (unknown.length > 0 || chosen.length === 0) {
    throw new UsageError(`--only takes ${known.join(", ")} (comma-separated), not "${text}"`);
  }
  return chosen;
}

/** One of `known` names, as the value of `flag`; a UsageError for anything else. */
export function oneName<Name extends string>(flag: string, text: string, known: readonly Name[]): Name {
  const name = known.find((knownName) => knownName === text.trim());
  if (name === undefined) throw new UsageError(`${flag} takes one of ${known.join(", ")}, not "${text}"`);
  return name;
}

type FlagOptions = Record<
  string,
  { type: "string"; default: string } | { type: "boolean"; default: boolean }
>;

/** A benchmark's flags (no positionals, no unknown flags); a UsageError for anything else. */
export function parseBenchmarkFlags<const Options extends FlagOptions>(
  args: readonly string[],
  options: Options,
): ReturnType<
  typeof parseArgs<{ args: string[]; strict: true; allowPositionals: false; options: Options }>
>["values"] {
  try {
    return parseArgs({ args: [...args], strict: true, allowPositionals: false, options }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}
