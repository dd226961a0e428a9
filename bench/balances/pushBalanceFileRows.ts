import { createReadStream } from "node:fs";
import http from "node:http";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";

/** Which file's rows to push one at a time, where, and how many at once. */
export interface BalanceFilePushes {
  /** The command API's base URL, e.g. `http://127.0.0.1:3000`. */
  readonly url: string;
  /** A key with the `balances:write` scope. */
  readonly apiKey: string;
  /** An NDJSON balance file, as the bulk import reads it: one push body with its accountId a line. */
  readonly file: string;
  /** How many of the file's first rows to push. */
  readonly rows: number;
  /** Pushes under way at once, each on a keep-alive connection of its own. */
  readonly connections: number;
  /** Told the number of rows answered so far, after each answer. */
  readonly onPushed?: (pushed: number) => void;
}

/**
 * Pushes the file's first `rows` rows one at a time, as a core-banking client without the bulk
 * file would: `POST /accounts/{accountId}/balances` with the rest of the row as the body, on
 * `connections` keep-alive connections, each sending its next row when its last is answered (a
 * closed loop). No retries: a benchmark that lost a row must not hide it. Answers the seconds from
 * the first send to the last answer.
 * @throws Error at the first answer that is not a 202 recording a BalanceObserved event (after
 * the pushes under way have been answered), or when the file holds fewer rows than asked for.
 */
export async function pushBalanceFileRows(pushes: BalanceFilePushes): Promise<number> {
  const lines = firstLines(pushes.file, pushes.rows);
  const agent = new http.Agent({ keepAlive: true, maxSockets: pushes.connections });
  let pushed = 0;
  let failed = false;
  const connection = async () => {
    for (let line = await lines.next(); line !== undefined && !failed; line = await lines.next()) {
      try {
        await pushRow(agent, pushes, line);
      } catch (error) {
        failed = true;
        throw error;
      }
      pushed += 1;
      pushes.onPushed?.(pushed);
    }
  };
  const startedAt = performance.now();
  try {
    const settled = await Promise.allSettled(Array.from({ length: pushes.connections }, connection));
    const seconds = (performance.now() - startedAt) / 1000;
    const failure = settled.find((outcome) => outcome.status === "rejected");
    if (failure !== undefined) throw failure.reason;
    if (pushed !== pushes.rows) {
      throw new Error(`${pushes.file} holds ${pushed} rows, fewer than the ${pushes.rows} to push`);
    }
    return seconds;
  } finally {
    agent.destroy();
    lines.close();
  }
}

/** One row's push; throws unless the command API answers 202 with the balance observed. */
async function pushRow(agent: http.Agent, pushes: BalanceFilePushes, line: string): Promise<void> {
  const { accountId, ...body } = JSON.parse(line) as { readonly accountId: string };
  const path = `/accounts/${encodeURIComponent(accountId)}/balances`;
  const answer = await post(agent, new URL(path, pushes.url), pushes.apiKey, JSON.stringify(body));
  const events = answer.status === 202 ? (JSON.parse(answer.body) as { events?: unknown }).events : [];
  if (!Array.isArray(events) || !events.includes("BalanceObserved")) {
    throw new Error(`POST ${path} answered ${answer.status}, not 202 with BalanceObserved: ${answer.body}`);
  }
}

async function post(
  agent: http.Agent,
  url: URL,
  apiKey: string,
  body: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        agent,
        method: "POST",
        headers: {
          authorization: `Bearer ${apiKey}`,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
        },
      },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text }));
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

/**
 * The file's first `count` lines, handed out one at a time to callers that may ask at once (each
 * `next` waits for the one before it); undefined after the last. `close` stops the reading early.
 */
function firstLines(file: string, count: number): { next(): Promise<string | undefined>; close(): void } {
  const input = createReadStream(file, { highWaterMark: 256 * 1024 });
  const lines = createInterface({ input, crlfDelay: Infinity })[Symbol.asyncIterator]();
  let taken = 0;
  let last = Promise.resolve<string | undefined>(undefined);
  const take = async () => {
    if (taken >= count) return undefined;
    const line = await lines.next();
    if (line.done === true) return undefined;
    taken += 1;
    return line.value;
  };
  return {
    next: () => (last = last.then(take)),
    close: () => input.destroy(),
  };
}
