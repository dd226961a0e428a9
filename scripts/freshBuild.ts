import { ensureFreshBuild } from "./buildServer.ts";

/**
 * Preloaded by `npm start` and the CLIs' npm scripts (`node --import ./scripts/freshBuild.ts
 * dist/<name>.js`): builds dist/ again first when a file it was made of has changed since, so an
 * edited source never runs stale. When nothing changed, it costs reading the sources once (a few ms).
 */
// Not the previous build instead: the code as it stands does not compile.
if (!(await ensureFreshBuild())) process.exit(1);
