import { connect, createServer, type Server, type Socket } from "node:net";
import { freePort } from "./PostgresCluster.ts";

/**
 * The network between the primary's site and the replica's, as a TCP relay on loopback: what
 * the primary sends (the WAL stream) arrives `delayMs` later; what the standby sends back (its
 * flush and replay positions) passes at once. `cut()` is the primary's host dying: every
 * connection is dropped and the bytes still on the way are lost with it.
 *
 * Without it, loopback delivers WAL within microseconds and a hard kill in asynchronous mode
 * almost never loses anything: the drill could not tell a synchronous configuration that works
 * from one that does not. With a few milliseconds of delay, asynchronous mode loses what was
 * acknowledged in the last few milliseconds, and synchronous mode (commits wait for the standby's
 * flush) must still lose nothing.
 */
export class ReplicationLink {
  readonly port: number;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();

  private constructor(port: number, server: Server) {
    this.port = port;
    this.#server = server;
  }

  /** Listens on a free loopback port and relays each connection to `targetPort`. */
  static async open(options: { targetPort: number; delayMs: number }): Promise<ReplicationLink> {
    const port = await freePort();
    const server = createServer();
    const link = new ReplicationLink(port, server);
    server.on("connection", (downstream) => link.#relay(downstream, options.targetPort, options.delayMs));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", resolve);
    });
    return link;
  }

  /** Drops every connection and everything still in transit; new connections are refused. */
  cut(): void {
    this.#server.close();
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #relay(downstream: Socket, targetPort: number, delayMs: number): void {
    const upstream = connect(targetPort, "127.0.0.1");
    for (const socket of [downstream, upstream]) {
      this.#sockets.add(socket);
      socket.setNoDelay(true);
      socket.on("error", () => undefined);
      socket.on("close", () => {
        this.#sockets.delete(socket);
        downstream.destroy();
        upstream.destroy();
      });
    }
    downstream.on("data", (chunk: Buffer) => upstream.write(chunk));
    upstream.on("data", (chunk: Buffer) => {
      if (delayMs === 0) {
        downstream.write(chunk);
        return;
      }
      // Equal delays fire in the order they were set: the stream stays in order.
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        downstream.write(chunk);
      }, delayMs);
      this.#timers.add(timer);
    });
  }
}
