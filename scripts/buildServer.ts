import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Plugin } from "esbuild";

/**
 * `npm run build:server` (`npm install` runs it, through `prepare`): bundles each entry point
 * `bin/<name>.ts` into `dist/<name>.js`: our code compiled once, the packages left to
 * node_modules, code that entry points share in chunks. `npm start` and the CLIs run the bundles
 * with plain Node.js, so no run compiles TypeScript. `node scripts/buildServer.ts <name…>` builds
 * only the entry points named (the container image holds no failover drill).
 *
 * Runs on Node.js's own type stripping (no tsx): it uses only syntax that strips away.
 */

const REPOSITORY = path.dirname(import.meta.dirname);
const OUT_DIR = path.join(REPOSITORY, "dist");
/** What the last build was made of: how `isStale` tells. */
const STAMP = path.join(OUT_DIR, "build.json");
/** Read by the build besides the code: a change to either changes the bundles too. */
const BUILD_FILES = [path.relative(REPOSITORY, import.meta.filename), "tsconfig.json"];

export const ENTRY_POINTS = [
  "tidemark",
  "projections",
  "deadLetters",
  "backup",
  "eventLog",
  "drill",
  "demo",
  "rules",
  "balances",
  "backtestWorker",
];

export interface BuildStamp {
  /** Every file the bundles were made of, relative to the repository. */
  readonly inputs: readonly string[];
  /** Of the inputs' contents, as the build read them (contents, not times: no clock can fool it). */
  readonly digest: string;
}

/**
 * Builds `entryPoints` into dist/. `clean` first removes what earlier builds left there; without
 * it, files are only added or replaced, each by a rename, chunks before the entry points that
 * load them, so a process starting meanwhile (or a concurrent build) finds whole files. `quiet`
 * prints errors only (a rebuild before a CLI runs must not add to its stderr). False when the code
 * does not compile (esbuild has printed why; dist/ is left as it was).
 */
export async function buildServer(options: {
  readonly entryPoints: readonly string[];
  readonly clean: boolean;
  readonly quiet: boolean;
}): Promise<boolean> {
  const read = new Map(BUILD_FILES.map((file) => [file, readFileSync(path.join(REPOSITORY, file))]));
  const esbuild = await import("esbuild");
  const built = esbuild.build({
    absWorkingDir: REPOSITORY,
    entryPoints: options.entryPoints.map((name) => `bin/${name}.ts`),
    outdir: OUT_DIR,
    bundle: true,
    // Separate files for what is imported dynamically: tracing starts before the system's
    // modules (and the packages it instruments) load.
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node24",
    packages: "external",
    sourcemap: "linked",
    metafile: true,
    write: false,
    logLevel: options.quiet ? "error" : "warning",
    plugins: [sourcesAsRead(read)],
  });
  const result = await built.catch((error: unknown) => {
    if (error instanceof Error && "errors" in error) return undefined;
    throw error;
  });
  if (result === undefined) return false;
  if (options.clean) await rm(OUT_DIR, { recursive: true, force: true });
  await mkdir(OUT_DIR, { recursive: true });
  const entryFiles = new Set(
    Object.entries(result.metafile.outputs).flatMap(([file, output]) =>
      output.entryPoint === undefined ? [] : [path.join(REPOSITORY, file)],
    ),
  );
  const isEntry = (file: string) => entryFiles.has(file.replace(/\.map$/, ""));
  const outputs = result.outputFiles.toSorted((a, b) => Number(isEntry(a.path)) - Number(isEntry(b.path)));
  for (const output of outputs) await replaceFile(output.path, output.contents);
  const inputs = [...Object.keys(result.metafile.inputs), ...BUILD_FILES];
  const stamp: BuildStamp = {
    inputs,
    digest: digestOf(inputs, (file) => read.get(file) ?? readFileSync(path.join(REPOSITORY, file))),
  };
  await replaceFile(STAMP, JSON.stringify(stamp, null, 2));
  return true;
}

/**
 * Builds every entry point again when a file the last build was made of has changed (or there
 * is none); false when the code does not compile.
 */
export async function ensureFreshBuild(): Promise<boolean> {
  const build = await lastBuild();
  if (build !== undefined && !isStale(build)) return true;
  return buildServer({ entryPoints: ENTRY_POINTS, clean: false, quiet: true });
}

/** The last build's stamp; undefined when there is none. */
export async function lastBuild(): Promise<BuildStamp | undefined> {
  try {
    return JSON.parse(await readFile(STAMP, "utf8")) as BuildStamp;
  } catch {
    return undefined;
  }
}

/** True when a file `build` was made of has changed (or gone) since. */
export function isStale(build: BuildStamp): boolean {
  try {
    return digestOf(build.inputs, (file) => readFileSync(path.join(REPOSITORY, file))) !== build.digest;
  } catch {
    return true;
  }
}

function digestOf(inputs: readonly string[], contents: (file: string) => Uint8Array): string {
  const hash = createHash("sha256");
  for (const input of inputs) hash.update(`${input}\0`).update(contents(input)).update("\0");
  return hash.digest("hex");
}

/**
 * Loads each TypeScript file for esbuild, keeping what it read in `read` (so the stamp describes
 * the contents built, even if a file changes while building). `import.meta.url` keeps naming the
 * source file (as a URL relative to the bundle, so a moved checkout still works): the code reads
 * files beside it (the default rules and templates) and finds the repository (the drill) with
 * it; a copy in dist/ could be stale.
 */
function sourcesAsRead(read: Map<string, Buffer>): Plugin {
  return {
    name: "sources as read",
    setup(build) {
      build.onLoad({ filter: /\.ts$/ }, async ({ path: file }) => {
        const bytes = await readFile(file);
        read.set(path.relative(REPOSITORY, file), bytes);
        const fromBundle = path.relative(OUT_DIR, file).split(path.sep).join("/");
        return {
          contents: bytes
            .toString("utf8")
            .replaceAll("import.meta.url", `new URL(${JSON.stringify(fromBundle)}, import.meta.url).href`),
          loader: "ts",
        };
      });
    },
  };
}

async function replaceFile(file: string, contents: Uint8Array | string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, contents);
  await rename(temporary, file);
}

if (import.meta.filename === process.argv[1]) {
  const named = process.argv.slice(2);
  const built = await buildServer({
    entryPoints: named.length > 0 ? named : ENTRY_POINTS,
    clean: true,
    quiet: false,
  });
  if (!built) process.exitCode = 1;
}
