import http from "node:http";
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";

/** A request to send: what `next` returns for each scheduled slot. */
export interface OpenLoopRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface OpenLoopOptions {
  /** Base URL, e.g. `http://127.0.0.1:3000`. */
  readonly url: string;
  readonly requestsPerSecond: number;
  readonly seconds: number;
  readonly next: () => OpenLoopRequest;
  /** Called with each answer as it completes (`answeredAt` from `performance.now()`). */
  readonly onAnswer: (status: number, body: string, answeredAt: number) => void;
  /** Longest wait for the answers still out when sending stops. */
  readonly drainTimeoutMs?: number;
}

/** What an open-loop run sent and got back. */
export interface OpenLoopResult {
  readonly sent: number;
  /** Answers with a 2xx status. */
  readonly succeeded: number;
  /** Answers with another status, and requests that failed or were still out at the end. */
  readonly failed: number;
  /** Seconds from the first send to the last answer. */
  readonly seconds: number;
  /** When the last request was sent (`performance.now()`). */
  readonly lastSentAt: number;
  /** Send → answer, in ms, per 2xx answer, sorted. */
  readonly latenciesMs: number[];
}

/**
 * An open-loop load: request i is sent at `i / requestsPerSecond` seconds after the start, whether
 * or not earlier ones have been answered (unlike autocannon's rate limit, which lets each
 * connection send a burst at the start of every second). The schedule is kept by a 1 ms timer;
 * after a stall, the requests that fell due are sent at once. Keep-alive connections are opened
 * as needed, so a slow server sees more requests in flight, not fewer.
 */
export async function runOpenLoopLoad(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const target = new URL(options.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  const latenciesMs: number[] = [];
  let sent = 0;
  let succeeded = 0;
  let failed = 0;
  let outstanding = 0;
  let lastAnswerAt = performance.now();
  let allAnswered: (() => void) | undefined;
  let finished = false;

  const send = () => {
    const request = options.next();
    const sentAt = performance.now();
    outstanding += 1;
    const settle = () => {
      if (finished) return; // given up on when the run ended
      outstanding -= 1;
      lastAnswerAt = performance.now();
      if (outstanding === 0) allAnswered?.();
    };
    const outgoing = http.request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        method: request.method,
        path: request.path,
        headers: { ...request.headers, "content-length": String(Buffer.byteLength(request.body)) },
      },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (body += chunk));
        response.on("end", () => {
          if (finished) return;
          const answeredAt = performance.now();
          const status = response.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            succeeded += 1;
            latenciesMs.push(answeredAt - sentAt);
          } else {
            failed += 1;
          }
          options.onAnswer(status, body, answeredAt);
          settle();
        });
      },
    );
    outgoing.on("error", () => {
      if (finished) return;
      failed += 1;
      settle();
    });
    outgoing.end(request.body);
    sent += 1;
  };

  const total = Math.round(options.requestsPerSecond * options.seconds);
  let lastSentAt = Number.NaN;
  const startedAt = performance.now();
  try {
    while (sent < total) {
      const due = Math.min(
        total,
        Math.floor(((performance.now() - startedAt) * options.requestsPerSecond) / 1000) + 1,
      );
      while (sent < due) send();
      lastSentAt = performance.now();
      await sleep(1);
    }
    if (outstanding > 0) {
      await Promise.race([
        new Promise<void>((resolve) => (allAnswered = resolve)),
        sleep(options.drainTimeoutMs ?? 30_000),
      ]);
    }
  } finally {
    finished = true;
    agent.destroy();
  }
  return {
    sent,
    succeeded,
    failed: failed + outstanding,
    seconds: (lastAnswerAt - startedAt) / 1000,
    lastSentAt,
    latenciesMs: latenciesMs.sort((a, b) => a - b),
  };
}
