import { readFile } from "node:fs/promises";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import type { Templates } from "../../domain/notification/Templates.ts";

/** The templates shipped as the default, one per example rule. */
export const DEFAULT_TEMPLATES_FILE = new URL("./defaultTemplates.yaml", import.meta.url);

export type { Templates };

const fileSchema = z
  .object({
    version: z.literal(1),
    templates: z.record(
      z
        .string()
        .regex(/^[a-z][a-z0-9-]{0,62}$/, { message: "ids are lower-case letters, digits and dashes" }),
      z.string().min(1).max(1600),
    ),
  })
  .strict();

/**
 * Reads and validates a templates file (YAML or JSON).
 * @throws Error naming the file and every problem.
 */
export async function loadTemplates(file: URL | string = DEFAULT_TEMPLATES_FILE): Promise<Templates> {
  const name = file instanceof URL ? file.pathname : file;
  let document: unknown;
  try {
    document = parseYaml(await readFile(file, "utf8"));
  } catch (error) {
    throw new Error(`templates file ${name}: ${(error as Error).message.split("\n")[0] ?? "unreadable"}`, {
      cause: error,
    });
  }
  const parsed = fileSchema.safeParse(document);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.map(String).join(".")}: ${issue.message}`,
    );
    throw new Error(`templates file ${name}: ${problems.join("; ")}`);
  }
  return new Map(Object.entries(parsed.data.templates));
}
