import { defineConfig } from "vite";

/**
 * The operator console: built once by `npm install` (`npm run build:console`) into
 * `console/dist`, which the query API serves at `/console/`. Everything is bundled: nothing is
 * fetched at run time from anywhere but the query API itself (no CDN; works offline).
 */
export default defineConfig({
  root: new URL(".", import.meta.url).pathname,
  base: "/console/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // The CSP forbids inline scripts and styles: keep every asset a file.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: "es2022",
  },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  server: {
    proxy: Object.fromEntries(
      ["/accounts", "/notifications", "/qualifications", "/reports", "/operations", "/me"].map((path) => [
        path,
        process.env["QUERY_API_URL"] ?? "http://127.0.0.1:3002",
      ]),
    ),
  },
});
