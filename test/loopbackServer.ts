import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type Koa from "koa";

/** `app` listening on a free loopback port, and its base URL. */
export async function listenOnLoopback(app: Koa): Promise<{ readonly server: Server; readonly url: string }> {
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** Closes `server` at once, open keep-alive connections included. */
export function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
