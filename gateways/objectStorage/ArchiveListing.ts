import { z } from "zod";

/** The archive's manifest file: storage always moves it last. */
export const MANIFEST_FILE = "manifest.json";

/**
 * What storage needs from an archive's manifest: which files to move and the sha256 each must
 * have, and the figures a listing shows. The rest of the manifest is the event log archive's
 * business; storage moves the manifest's bytes untouched.
 */
export interface ArchiveListing {
  readonly createdAt: string;
  readonly complete: boolean;
  readonly events: number;
  readonly lastPosition: string | null;
  readonly files: readonly { readonly name: string; readonly sha256: string }[];
}

// A plain file name: a manifest read back from a bucket must not make us write outside the directory.
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

const listingSchema = z.object({
  format: z.string().startsWith("tidemark-event-log/"),
  createdAt: z.string(),
  complete: z.boolean(),
  events: z.number().int().nonnegative(),
  lastPosition: z.string().nullable(),
  files: z.array(
    z.object({
      name: z
        .string()
        .regex(FILE_NAME)
        .refine((name) => name !== MANIFEST_FILE),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
    }),
  ),
});

/** The listing in a manifest's text, or why it is not a usable event log archive manifest. */
export function parseArchiveListing(
  text: string,
):
  { readonly ok: true; readonly listing: ArchiveListing } | { readonly ok: false; readonly problem: string } {
  let json: unknown;
  try {
    json = JSON.parse(text) as unknown;
  } catch {
    return { ok: false, problem: "is not JSON" };
  }
  const parsed = listingSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      problem: `is not an event log archive manifest (${issue?.path.join(".") || "top level"}: ${issue?.message ?? "invalid"})`,
    };
  }
  const names = parsed.data.files.map((file) => file.name);
  const repeated = names.find((name, index) => names.indexOf(name) !== index);
  if (repeated !== undefined) return { ok: false, problem: `lists ${repeated} twice` };
  return { ok: true, listing: parsed.data };
}
