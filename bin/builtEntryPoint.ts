import { fileURLToPath } from "node:url";

/**
 * The arguments to `node` that run entry point `bin/<name>.ts` as its npm script does (`npm start`,
 * `npm run projections` …): its bundle in dist/, built again first when a source file has changed
 * since the last build (scripts/freshBuild.ts), with stack traces naming the TypeScript sources.
 */
export function builtEntryPoint(name: string): string[] {
  return [
    "--enable-source-maps",
    "--import",
    new URL("../scripts/freshBuild.ts", import.meta.url).href,
    fileURLToPath(new URL(`../dist/${name}.js`, import.meta.url)),
  ];
}
