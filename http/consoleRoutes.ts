import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Router from "@koa/router";
import type { Context } from "koa";
import { ProblemError } from "./ProblemError.ts";

/**
 * The console's Content-Security-Policy: scripts, styles, images and API calls from this origin
 * only; no inline script or style, no plugin, no framing, no `<base>`. Stored strings (SMS
 * bodies, names) are rendered as text by the console, and this policy stops any that slipped
 * through from running.
 */
export const CONSOLE_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

/** Where `npm run build:console` writes the console (Vite's `outDir`). */
export const CONSOLE_BUILD_DIRECTORY = fileURLToPath(new URL("../console/dist/", import.meta.url));

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".woff2": "font/woff2",
  ".json": "application/json; charset=utf-8",
};

interface ConsoleFile {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

/** The console's built files by URL path under `/console/`, read once: they never change while running. */
async function readBuild(directory: string): Promise<Map<string, ConsoleFile> | undefined> {
  const files = new Map<string, ConsoleFile>();
  let names: string[];
  try {
    names = (await readdir(directory, { recursive: true })).map(String);
  } catch {
    return undefined;
  }
  for (const name of names) {
    const type = CONTENT_TYPES[extname(name)];
    if (type === undefined) continue;
    const body = await readFile(join(directory, name));
    const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`;
    files.set(name.split("\\").join("/"), { body, type, etag });
  }
  return files.has("index.html") ? files : undefined;
}

/**
 * Serves the operator console's build (`console/dist`) at `/console/`, with its strict CSP. The
 * console has no key of its own: the operator pastes one, and it calls the same API as anyone.
 * Without a build every console path answers 503 with what to run.
 */
export async function consoleRoutes(directory: string): Promise<Router> {
  const files = await readBuild(directory);
  const router = new Router({ strict: true });
  router.get("/console", (ctx) => {
    ctx.redirect("/console/");
  });
  router.get("/console/{*path}", (ctx) => {
    if (files === undefined) {
      throw new ProblemError(
        "unavailable",
        "the console is not built: run `npm run build` (npm install does it)",
      );
    }
    const wanted = ctx.params["path"] ?? "";
    // Hashed assets live under assets/; every other path is the page itself (routes are in the fragment).
    const file = files.get(wanted.startsWith("assets/") ? wanted : "index.html");
    if (file === undefined) throw new ProblemError("not_found", `no console file ${wanted}`);
    sendFile(ctx, file, wanted.startsWith("assets/"));
  });
  return router;
}

function sendFile(ctx: Context, file: ConsoleFile, immutable: boolean): void {
  ctx.set("Content-Security-Policy", CONSOLE_CONTENT_SECURITY_POLICY);
  ctx.set("Cache-Control", immutable ? "public, max-age=31536000, immutable" : "no-cache");
  ctx.set("ETag", file.etag);
  ctx.set("X-Content-Type-Options", "nosniff");
  if (ctx.get("if-none-match") === file.etag) {
    ctx.status = 304;
    return;
  }
  ctx.type = file.type;
  ctx.body = file.body;
}
