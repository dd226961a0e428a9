import { readdir, readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { gzipSync } from "node:zlib";
import { CONSOLE_BUILD_DIRECTORY } from "../../http/consoleRoutes.ts";

/** One built file: its size as built and gzipped at level 9. */
export interface BundleFile {
  readonly name: string;
  readonly bytes: number;
  readonly gzipBytes: number;
}

/** What `npm run build:console` wrote that a browser loads. */
export interface ConsoleBundle {
  readonly scripts: readonly BundleFile[];
  readonly styles: readonly BundleFile[];
}

/** Every `.js` and `.css` file of the console's build (`console/dist`), with its gzip -9 size. */
export async function measureConsoleBundle(directory = CONSOLE_BUILD_DIRECTORY): Promise<ConsoleBundle> {
  const names = (await readdir(directory, { recursive: true })).map(String).sort();
  const files: (BundleFile & { readonly extension: string })[] = [];
  for (const name of names) {
    const extension = extname(name);
    if (extension !== ".js" && extension !== ".css") continue;
    const body = await readFile(join(directory, name));
    files.push({ name, extension, bytes: body.length, gzipBytes: gzipSync(body, { level: 9 }).length });
  }
  const only = (extension: string) =>
    files
      .filter((file) => file.extension === extension)
      .map(({ name, bytes, gzipBytes }) => ({ name, bytes, gzipBytes }));
  return { scripts: only(".js"), styles: only(".css") };
}
