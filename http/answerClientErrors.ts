import { STATUS_CODES, type Server, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import { ProblemError } from "./ProblemError.ts";
import { problemDocument } from "./problemMiddleware.ts";

// Node's parser codes for the requests it refuses, by the problem each one is.
const PROBLEMS: Readonly<Record<string, ProblemError>> = {
  HPE_HEADER_OVERFLOW: new ProblemError(
    "request_header_fields_too_large",
    "the request's header fields exceed the server's limit; send fewer or shorter ones",
  ),
  HPE_CHUNK_EXTENSIONS_OVERFLOW: new ProblemError("payload_too_large", "the chunk extensions are too large"),
};
const MALFORMED = new ProblemError("invalid_request", "the request is not valid HTTP/1.1");

/**
 * Answers the requests Node's HTTP parser refuses before any middleware runs (header fields over
 * the server's limit, malformed HTTP) with problem+json like every other error of the edge; Node's
 * own answers to them have no body. Call it on each server an edge app listens on.
 */
export function answerClientErrors(server: Server): void {
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
    // Nothing can be answered on a closed socket, or once a response has begun on it.
    const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (error.code === "ECONNRESET" || !socket.writable || inFlight?.headersSent === true) {
      socket.destroy();
      return;
    }
    if (error.code === "ERR_HTTP_REQUEST_TIMEOUT") {
      // Node's own answer: the request took too long to arrive; there is nothing more to say.
      socket.end("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n");
      return;
    }
    const document = problemDocument(PROBLEMS[error.code ?? ""] ?? MALFORMED);
    const status = document.status as number;
    const body = JSON.stringify(document);
    socket.end(
      [
        `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}`,
        "Content-Type: application/problem+json",
        `Content-Length: ${Buffer.byteLength(body)}`,
        "Connection: close",
        "",
        body,
      ].join("\r\n"),
    );
  });
}
