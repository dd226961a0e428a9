import { randomBytes } from "node:crypto";
import { bodyParser } from "@koa/bodyparser";
import Router, { type RouterMiddleware } from "@koa/router";
import Koa, { type Context } from "koa";
import { twilioSignature } from "../twilioSignature.ts";

/** How the simulated provider behaves; change them at any time (they are read per request). */
export interface SmsSimulatorKnobs {
  /** Relative weights of an accepted message's final status. */
  outcomes: { delivered: number; undelivered: number; failed: number };
  /** Milliseconds from accepted to `sent`, and from `sent` to the final status. */
  sentAfterMs: number;
  finalAfterMs: number;
  /** Share (0–1) of create requests answered 500, nothing created. */
  serverErrorRate: number;
  /**
   * Share of create requests whose message is created but whose answer never comes (the caller
   * times out not knowing): the case reconciliation exists for.
   */
  timeoutRate: number;
  /**
   * Share of create requests whose message is created, then the connection is cut before any
   * answer (a reset mid-flight): the caller cannot tell it from a request that never got there.
   */
  connectionLostRate: number;
  /** Share of create requests whose message is created and answered 201 with a body cut short. */
  garbledAnswerRate: number;
  /** Share of status callbacks never sent (the poller has to find the status). */
  lostCallbackRate: number;
  /**
   * Milliseconds between creating a message and answering its create request: while they pass,
   * the message exists and its sender does not know it yet.
   */
  answerAfterMs: number;
}

export const DEFAULT_SMS_SIMULATOR_KNOBS: SmsSimulatorKnobs = {
  outcomes: { delivered: 95, undelivered: 3, failed: 2 },
  sentAfterMs: 50,
  finalAfterMs: 200,
  serverErrorRate: 0,
  timeoutRate: 0,
  connectionLostRate: 0,
  garbledAnswerRate: 0,
  lostCallbackRate: 0,
  answerAfterMs: 0,
};

/** A message as the simulator keeps it (Twilio's field names, plus our `reference`). */
export interface SimulatedMessage {
  readonly sid: string;
  readonly account_sid: string;
  readonly to: string;
  readonly from: string;
  readonly body: string;
  status: "queued" | "sent" | "delivered" | "undelivered" | "failed";
  error_code: number | null;
  readonly num_segments: string;
  readonly date_created: string;
  date_updated: string;
  readonly status_callback: string | null;
  /**
   * The `reference` query parameter of the StatusCallback URL, if any: for tests and benchmarks
   * to tell messages apart. Not part of the resource (Twilio shows no callback), nor a filter.
   */
  readonly reference: string | null;
}

export interface SmsProviderSimulator {
  readonly app: Koa;
  readonly knobs: SmsSimulatorKnobs;
  /** Every message the simulator created (accepted), in order: what "SMS accepted" counts. */
  readonly messages: readonly SimulatedMessage[];
  /** Callbacks sent, and those that failed to reach the receiver. */
  readonly callbacks: { sent: number; failed: number };
  /**
   * Pins the final status of the messages to `to` that have not reached one yet, whatever the
   * outcome mix would draw (undefined: the mix again); also `PUT|DELETE /__admin/numbers/{to}/outcome`.
   */
  setOutcome(to: string, outcome: FinalStatus | undefined): void;
  /** Stops the lifecycle timers and releases requests held by the timeout knob. */
  close(): void;
}

/** A message's final status, as the outcome mix draws it or `setOutcome` pins it. */
export type FinalStatus = "delivered" | "undelivered" | "failed";

const FINAL_STATUSES: readonly string[] = ["delivered", "undelivered", "failed"] satisfies FinalStatus[];

export interface SmsProviderSimulatorOptions {
  readonly accountSid: string;
  readonly authToken: string;
  readonly knobs?: Partial<SmsSimulatorKnobs>;
  /** Source of the knobs' dice (default Math.random); seed it for a reproducible run. */
  readonly random?: () => number;
  /** Called as each message is created (accepted): what a latency benchmark times. */
  readonly onAccepted?: (message: SimulatedMessage) => void;
}

const API = "/2010-04-01/Accounts/:accountSid";
const E164 = /^\+[1-9]\d{6,14}$/;

/**
 * A Twilio-compatible subset, enough for the SMS gateway and its tests: create a message
 * (form-encoded `POST …/Messages.json` with basic auth → `sid`, `status`), fetch one, list them
 * (filtered by `To`, or by our `Reference` — an extension: the `reference` query parameter of the
 * message's StatusCallback URL), and status callbacks signed with `X-Twilio-Signature` as
 * Twilio signs them. The knobs inject what a real provider does to its clients: 5xx answers,
 * answers that never come (after the message was created), lost callbacks, and the outcome mix.
 */
export function createSmsProviderSimulator(options: SmsProviderSimulatorOptions): SmsProviderSimulator {
  const knobs: SmsSimulatorKnobs = { ...DEFAULT_SMS_SIMULATOR_KNOBS, ...options.knobs };
  const random = options.random ?? Math.random;
  const callbacks = { sent: 0, failed: 0 };
  const pinned = new Map<string, FinalStatus>();
  const simulation: Simulation = {
    options,
    knobs,
    random,
    messages: [],
    bySid: new Map(),
    lifecycle: messageLifecycle(options, knobs, random, callbacks, pinned),
  };

  const router = new Router();
  router.use(API, (ctx, next) => {
    if (!authorised(ctx, options)) {
      ctx.status = 401;
      ctx.body = twilioError(20003, "Authenticate", 401);
      return undefined;
    }
    return next();
  });
  router.post(`${API}/Messages.json`, createMessage(simulation));
  router.get(`${API}/Messages/:sid.json`, fetchMessage(simulation));
  router.get(`${API}/Messages.json`, listMessages(simulation));
  pinOutcomeRoutes(router, options, pinned);

  const app = new Koa();
  app.use(bodyParser({ enableTypes: ["form"] }));
  app.use(router.routes());
  app.use(router.allowedMethods());
  return {
    app,
    knobs,
    messages: simulation.messages,
    callbacks,
    setOutcome(to, outcome) {
      if (outcome === undefined) pinned.delete(to);
      else pinned.set(to, outcome);
    },
    close() {
      simulation.lifecycle.close();
    },
  };
}

/** What the simulator's routes share. */
interface Simulation {
  readonly options: SmsProviderSimulatorOptions;
  readonly knobs: SmsSimulatorKnobs;
  readonly random: () => number;
  readonly messages: SimulatedMessage[];
  readonly bySid: Map<string, SimulatedMessage>;
  readonly lifecycle: MessageLifecycle;
}

/** The timers that move accepted messages on, and the answers the timeout knob holds back. */
interface MessageLifecycle {
  /** Moves an accepted message to `sent`, then to a final status drawn from the outcome mix. */
  start(message: SimulatedMessage): void;
  /** Resolves only when the simulator closes: an answer that never comes. */
  holdAnswer(): Promise<void>;
  /** Stops the timers and releases the held answers. */
  close(): void;
}

/** Each move of a message calls back, unless the lost-callback knob drops it. */
function messageLifecycle(
  options: SmsProviderSimulatorOptions,
  knobs: SmsSimulatorKnobs,
  random: () => number,
  callbacks: { sent: number; failed: number },
  pinned: ReadonlyMap<string, FinalStatus>,
): MessageLifecycle {
  const timers = new Set<NodeJS.Timeout>();
  const held = new Set<() => void>();
  let closed = false;

  const later = (ms: number, work: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      work();
    }, ms);
    timers.add(timer);
  };

  const move = (message: SimulatedMessage, status: SimulatedMessage["status"], errorCode: number | null) => {
    message.status = status;
    message.error_code = errorCode;
    message.date_updated = new Date().toUTCString();
    if (message.status_callback !== null && random() >= knobs.lostCallbackRate) {
      void sendCallback(options, message, callbacks);
    }
  };

  return {
    start(message) {
      later(knobs.sentAfterMs, () => {
        move(message, "sent", null);
        later(knobs.finalAfterMs, () => {
          const outcome = pinned.get(message.to) ?? pick(knobs.outcomes, random());
          move(message, outcome, outcome === "delivered" ? null : outcome === "undelivered" ? 30003 : 30008);
        });
      });
    },
    holdAnswer() {
      return new Promise<void>((resolve) => {
        if (closed) resolve();
        else held.add(resolve);
      });
    },
    close() {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      for (const release of held) release();
      held.clear();
    },
  };
}

/**
 * `POST …/Messages.json`: 400 for a bad `To`, no `From` or no `Body`, then the server-error and
 * timeout knobs; otherwise 201 with the created message.
 */
function createMessage({ options, knobs, random, messages, bySid, lifecycle }: Simulation): RouterMiddleware {
  return async (ctx) => {
    const form = (ctx.request.body ?? {}) as Record<string, string | undefined>;
    const to = form.To ?? "";
    const from = form.From ?? form.MessagingServiceSid ?? "";
    const body = form.Body ?? "";
    if (!E164.test(to))
      return answer(ctx, 400, twilioError(21211, `The 'To' number ${to} is not a valid phone number.`, 400));
    if (from === "") return answer(ctx, 400, twilioError(21603, "A 'From' phone number is required.", 400));
    if (body === "") return answer(ctx, 400, twilioError(21602, "Message body is required.", 400));
    if (random() < knobs.serverErrorRate)
      return answer(ctx, 500, twilioError(20500, "Internal Server Error", 500));
    const now = new Date().toUTCString();
    const statusCallback = form.StatusCallback ?? null;
    const message: SimulatedMessage = {
      sid: `SM${randomBytes(16).toString("hex")}`,
      account_sid: options.accountSid,
      to,
      from,
      body,
      status: "queued",
      error_code: null,
      num_segments: String(Math.max(1, Math.ceil(body.length / 153))),
      date_created: now,
      date_updated: now,
      status_callback: statusCallback,
      reference: referenceOf(statusCallback),
    };
    messages.push(message);
    options.onAccepted?.(message);
    bySid.set(message.sid, message);
    lifecycle.start(message);
    if (random() < knobs.timeoutRate) {
      // Created, but the answer never comes: the caller's timeout decides.
      await lifecycle.holdAnswer();
      ctx.status = 504;
      return undefined;
    }
    if (random() < knobs.connectionLostRate) {
      ctx.respond = false; // Koa leaves the socket alone: cut it before a byte of the answer
      ctx.req.socket.destroy();
      return undefined;
    }
    if (random() < knobs.garbledAnswerRate) {
      ctx.status = 201;
      ctx.type = "application/json";
      ctx.body = JSON.stringify(resource(message)).slice(0, 20);
      return undefined;
    }
    if (knobs.answerAfterMs > 0) await new Promise((resolve) => setTimeout(resolve, knobs.answerAfterMs));
    return answer(ctx, 201, resource(message));
  };
}

/** `GET …/Messages/{sid}.json`. */
function fetchMessage({ bySid }: Simulation): RouterMiddleware {
  return (ctx) => {
    const message = bySid.get(String(ctx.params.sid));
    if (message === undefined)
      return answer(ctx, 404, twilioError(20404, "The requested resource was not found", 404));
    return answer(ctx, 200, resource(message));
  };
}

/** `PUT|DELETE /__admin/numbers/{to}/outcome`: `setOutcome` over HTTP, with the account's credentials. */
function pinOutcomeRoutes(
  router: Router,
  options: SmsProviderSimulatorOptions,
  pinned: Map<string, FinalStatus>,
): void {
  router.put("/__admin/numbers/:to/outcome", (ctx) => {
    if (!adminAuthorised(ctx, options)) return answer(ctx, 401, twilioError(20003, "Authenticate", 401));
    const to = String(ctx.params.to);
    const outcome = ((ctx.request.body ?? {}) as Record<string, string | undefined>).Outcome ?? "";
    if (!E164.test(to))
      return answer(ctx, 400, twilioError(21211, `${to} is not a valid phone number.`, 400));
    if (!FINAL_STATUSES.includes(outcome)) {
      return answer(ctx, 400, { message: "Outcome must be delivered, undelivered or failed", status: 400 });
    }
    pinned.set(to, outcome as FinalStatus);
    ctx.status = 204;
    return undefined;
  });
  router.delete("/__admin/numbers/:to/outcome", (ctx) => {
    if (!adminAuthorised(ctx, options)) return answer(ctx, 401, twilioError(20003, "Authenticate", 401));
    pinned.delete(String(ctx.params.to));
    ctx.status = 204;
    return undefined;
  });
}

/**
 * `GET …/Messages.json`, as Twilio lists: newest first, filtered by `To` and `From` when given,
 * `PageSize` at a time (50 unless asked, at most 1,000); other parameters change nothing (Twilio
 * ignores what it does not know). One page: the simulator never says there is a next one.
 */
function listMessages({ messages }: Simulation): RouterMiddleware {
  return (ctx) => {
    const to = typeof ctx.query.To === "string" ? ctx.query.To : undefined;
    const from = typeof ctx.query.From === "string" ? ctx.query.From : undefined;
    const asked = Number(ctx.query.PageSize ?? 50);
    const pageSize = Number.isInteger(asked) && asked >= 1 ? Math.min(asked, 1000) : 50;
    const found = messages
      .filter(
        (message) => (to === undefined || message.to === to) && (from === undefined || message.from === from),
      )
      .reverse()
      .slice(0, pageSize);
    return answer(ctx, 200, { messages: found.map(resource), page: 0, page_size: pageSize });
  };
}

function answer(ctx: Context, status: number, body: object): undefined {
  ctx.status = status;
  ctx.body = body;
  return undefined;
}

/** Basic authentication with the account's SID and auth token. */
function adminAuthorised(ctx: Context, options: SmsProviderSimulatorOptions): boolean {
  const header = ctx.get("authorization");
  const match = /^Basic (.+)$/.exec(header);
  if (match?.[1] === undefined) return false;
  const [user, password] = Buffer.from(match[1], "base64").toString("utf8").split(":");
  return user === options.accountSid && password === options.authToken;
}

/** Basic authentication as the account whose path is requested. */
function authorised(ctx: Context, options: SmsProviderSimulatorOptions): boolean {
  const { accountSid } = ctx.params as Record<string, string | undefined>;
  return adminAuthorised(ctx, options) && accountSid === options.accountSid;
}

function twilioError(code: number, message: string, status: number): object {
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status };
}

function resource(message: SimulatedMessage): object {
  // Every field but status_callback, which Twilio does not show.
  return {
    sid: message.sid,
    account_sid: message.account_sid,
    to: message.to,
    from: message.from,
    body: message.body,
    status: message.status,
    error_code: message.error_code,
    num_segments: message.num_segments,
    date_created: message.date_created,
    date_updated: message.date_updated,
    api_version: "2010-04-01",
    direction: "outbound-api",
    uri: `/2010-04-01/Accounts/${message.account_sid}/Messages/${message.sid}.json`,
  };
}

function referenceOf(statusCallback: string | null): string | null {
  if (statusCallback === null) return null;
  try {
    return new URL(statusCallback).searchParams.get("reference");
  } catch {
    return null;
  }
}

function pick(weights: SmsSimulatorKnobs["outcomes"], dice: number): FinalStatus {
  const total = weights.delivered + weights.undelivered + weights.failed;
  const point = dice * total;
  if (point < weights.delivered) return "delivered";
  return point < weights.delivered + weights.undelivered ? "undelivered" : "failed";
}

/** Posts the message's status to its callback URL, signed as Twilio signs it; no retry, as Twilio. */
async function sendCallback(
  options: SmsProviderSimulatorOptions,
  message: SimulatedMessage,
  callbacks: { sent: number; failed: number },
): Promise<void> {
  const url = message.status_callback;
  if (url === null) return;
  const params: Record<string, string> = {
    AccountSid: message.account_sid,
    ApiVersion: "2010-04-01",
    From: message.from,
    MessageSid: message.sid,
    MessageStatus: message.status,
    SmsSid: message.sid,
    SmsStatus: message.status,
    To: message.to,
  };
  if (message.error_code !== null) params.ErrorCode = String(message.error_code);
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilioSignature(options.authToken, url, params),
      },
      body: new URLSearchParams(params).toString(),
      signal: AbortSignal.timeout(5000),
    });
    await response.arrayBuffer();
    if (response.ok) callbacks.sent += 1;
    else callbacks.failed += 1;
  } catch {
    callbacks.failed += 1;
  }
}
