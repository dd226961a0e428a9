import { randomUUID } from "node:crypto";
import { bodyParser } from "@koa/bodyparser";
import Router, { type RouterMiddleware } from "@koa/router";
import Koa, { type Context, type Next } from "koa";

/** How the simulated Banking API behaves; change them at any time (read per request). */
export interface BankingSimulatorKnobs {
  /** Added before every answer, in milliseconds. */
  latencyMs: number;
  /** Share (0–1) of reads answered 500. */
  errorRate: number;
  /** Share of reads answered 429 with `Retry-After: retryAfterSeconds`. */
  tooManyRequestsRate: number;
  retryAfterSeconds: number;
  /** Balances per page (`Links.Next`, `Meta.TotalPages`); 0: every balance on one page. */
  pageSize: number;
}

export const DEFAULT_BANKING_SIMULATOR_KNOBS: BankingSimulatorKnobs = {
  latencyMs: 20,
  errorRate: 0,
  tooManyRequestsRate: 0,
  retryAfterSeconds: 1,
  pageSize: 0,
};

/** One scripted balance: a signed decimal amount, answered as an `InterimAvailable` balance. */
export interface ScriptedBalance {
  readonly amount: string;
  readonly currency: string;
  readonly creditLine?: string;
}

/**
 * A balance as the simulator answers it: an `OBReadBalance1` `Data.Balance` entry without its
 * `AccountId` (the simulator adds it). Sent as given, so a test may also set one that breaks the
 * spec; a missing `DateTime` is the time of the read.
 */
export interface SimulatedBalance {
  readonly Amount: { readonly Amount: string; readonly Currency: string };
  readonly CreditDebitIndicator: string;
  readonly Type: string;
  readonly DateTime?: string;
  readonly CreditLine?: readonly {
    readonly Included: boolean;
    readonly Type?: string;
    readonly Amount?: { readonly Amount: string; readonly Currency: string };
  }[];
}

/** A refusal an account answers every read with, as an `OBErrorResponse1`. */
export interface SimulatedFault {
  readonly status: number;
  /** e.g. `UK.OBIE.Resource.InvalidConsentStatus`. */
  readonly errorCode: string;
  readonly message?: string;
  /** Sent as `Retry-After` (a 429, a 503). */
  readonly retryAfterSeconds?: number;
}

export interface BankingApiSimulator {
  readonly app: Koa;
  readonly knobs: BankingSimulatorKnobs;
  /**
   * Scripts an account's balances: each read answers the next one, the last one from then on.
   * An account without a script or balances answers `unscripted`, or is unknown (404).
   */
  script(accountId: string, balances: readonly ScriptedBalance[]): void;
  /** Sets every balance an account answers (several types, currencies, credit lines), until changed. */
  setBalances(accountId: string, balances: readonly SimulatedBalance[]): void;
  /** Makes every read of the account answer this refusal until cleared (undefined). */
  setFault(accountId: string, fault: SimulatedFault | undefined): void;
  /** Reads answered (any status), per account: what a budget test counts. */
  readonly reads: ReadonlyMap<string, number>;
}

export interface BankingApiSimulatorOptions {
  /** The bearer token clients (and the admin routes) must send. */
  readonly accessToken: string;
  readonly knobs?: Partial<BankingSimulatorKnobs>;
  readonly random?: () => number;
  /**
   * What an account nobody has set answers; none: 404 (an account the bank does not know). Its
   * DateTime is when the simulator was created (at most a day ago), not the time of the read:
   * pushed and pulled balances compete by the bank's reference time, and a default dated "now"
   * would replace a balance pushed moments before with one nobody chose. A push after the
   * simulator started (or within the last day) wins.
   */
  readonly unscripted?: ScriptedBalance;
  /** The simulator's clock for each balance's DateTime (default Date.now). */
  readonly clock?: () => number;
  /** Balances to start with, per account (a seed file's content). */
  readonly seed?: Readonly<Record<string, readonly SimulatedBalance[]>> | undefined;
}

/** How old the default balance's DateTime gets at most (see `unscripted`). */
const DEFAULT_BALANCE_MAX_AGE_MS = 86_400_000;

/** Open Banking's `AccountId` (`Max40Text`). */
const ACCOUNT_ID_MAX = 40;

/**
 * A Banking API in the shape of UK Open Banking's Account Information API v3.1:
 * `GET /accounts/{AccountId}/balances` → `OBReadBalance1` (absolute `Links`, `Meta.TotalPages`,
 * pages of `pageSize` balances), every refusal an `OBErrorResponse1`, behind a bearer token;
 * knobs for latency, 5xx and 429 + Retry-After. Per account: scripted balances, any set of OB
 * balances, or a standing refusal (e.g. 403 `UK.OBIE.Resource.InvalidConsentStatus`), also
 * through the admin routes `PUT /__admin/accounts/{id}/balances` (body: an array of balances, or
 * `{"Balance": [...]}`), `PUT|DELETE /__admin/accounts/{id}/fault`, `DELETE /__admin/accounts/{id}`
 * and `PUT /__admin/knobs` (e.g. `{"pageSize": 2}`).
 */
export function createBankingApiSimulator(options: BankingApiSimulatorOptions): BankingApiSimulator {
  const clock = options.clock ?? Date.now;
  const bank: SimulatedBank = {
    options,
    knobs: { ...DEFAULT_BANKING_SIMULATOR_KNOBS, ...options.knobs },
    random: options.random ?? Math.random,
    clock,
    startedAtMs: clock(),
    scripts: new Map(),
    balancesOf: new Map(Object.entries(options.seed ?? {})),
    faults: new Map(),
    reads: new Map(),
  };
  const router = new Router();
  router.get("/accounts/:accountId/balances", readBalances(bank));
  router.put("/__admin/accounts/:accountId/balances", setBalancesRoute(bank));
  router.put("/__admin/accounts/:accountId/fault", setFaultRoute(bank));
  router.delete("/__admin/accounts/:accountId/fault", clearFaultRoute(bank));
  router.put("/__admin/knobs", setKnobsRoute(bank));
  router.delete("/__admin/accounts/:accountId", forgetAccountRoute(bank));

  const app = new Koa();
  app.use(interactionIdAndUnroutedErrors);
  app.use(badBodiesAsObErrors);
  app.use(bodyParser({ enableTypes: ["json"], jsonLimit: "1mb" }));
  app.use(router.routes());
  app.use(router.allowedMethods());
  const { knobs, reads, scripts, balancesOf, faults } = bank;
  return {
    app,
    knobs,
    reads,
    script(accountId, balances) {
      scripts.set(accountId, { balances, next: 0 });
    },
    setBalances(accountId, balances) {
      balancesOf.set(accountId, balances);
    },
    setFault(accountId, fault) {
      if (fault === undefined) faults.delete(accountId);
      else faults.set(accountId, fault);
    },
  };
}

/** The simulated bank's state, which its routes read and change. */
interface SimulatedBank {
  readonly options: BankingApiSimulatorOptions;
  readonly knobs: BankingSimulatorKnobs;
  readonly random: () => number;
  readonly clock: () => number;
  /** When the simulator was created: the default balance's DateTime (see `unscripted`). */
  readonly startedAtMs: number;
  readonly scripts: Map<string, { balances: readonly ScriptedBalance[]; next: number }>;
  readonly balancesOf: Map<string, readonly SimulatedBalance[]>;
  readonly faults: Map<string, SimulatedFault>;
  readonly reads: Map<string, number>;
}

function authorised(bank: SimulatedBank, ctx: Context): boolean {
  return ctx.get("authorization") === `Bearer ${bank.options.accessToken}`;
}

/**
 * `GET /accounts/{AccountId}/balances?page=n`, refused in this order: 401 without the token, 400
 * for a too long id, the account's fault, the 429 and 5xx knobs, 400 for a bad page, 404 for an
 * unknown account; otherwise a page of `OBReadBalance1`. Every read past the first two checks is
 * counted and waits the latency knob, whatever its answer.
 */
function readBalances(bank: SimulatedBank): RouterMiddleware {
  const { knobs, random, reads, faults, clock } = bank;
  return async (ctx) => {
    const accountId = String(ctx.params.accountId);
    if (!authorised(bank, ctx)) {
      return obError(ctx, 401, "UK.OBIE.Header.Invalid", "a valid bearer token is required", "Authorization");
    }
    if (accountId.length > ACCOUNT_ID_MAX) {
      return obError(
        ctx,
        400,
        "UK.OBIE.Field.Invalid",
        `AccountId is longer than ${ACCOUNT_ID_MAX} characters`,
        "AccountId",
      );
    }
    reads.set(accountId, (reads.get(accountId) ?? 0) + 1);
    if (knobs.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, knobs.latencyMs));
    const fault = faults.get(accountId);
    if (fault !== undefined) {
      if (fault.retryAfterSeconds !== undefined) ctx.set("retry-after", String(fault.retryAfterSeconds));
      return obError(ctx, fault.status, fault.errorCode, fault.message ?? "simulated refusal");
    }
    if (random() < knobs.tooManyRequestsRate) {
      ctx.set("retry-after", String(knobs.retryAfterSeconds));
      return obError(ctx, 429, "UK.Simulator.TooManyRequests", "slow down");
    }
    if (random() < knobs.errorRate) return obError(ctx, 500, "UK.OBIE.UnexpectedError", "simulated failure");
    const pageText = typeof ctx.query.page === "string" ? ctx.query.page : "1";
    const page = /^[1-9]\d{0,5}$/.test(pageText) ? Number(pageText) : undefined;
    if (page === undefined)
      return obError(ctx, 400, "UK.OBIE.Field.Invalid", "page must be 1 or more", "page");
    const balances = currentBalances(bank, accountId, page === 1);
    if (balances === undefined) {
      return obError(ctx, 404, "UK.OBIE.Resource.NotFound", `no account ${accountId}`);
    }
    const size = knobs.pageSize > 0 ? knobs.pageSize : Math.max(balances.length, 1);
    const totalPages = Math.max(1, Math.ceil(balances.length / size));
    if (page > totalPages) {
      return obError(ctx, 400, "UK.OBIE.Field.Invalid", `page ${page} of ${totalPages}`, "page");
    }
    const self = `${ctx.protocol}://${ctx.host}/accounts/${encodeURIComponent(accountId)}/balances`;
    const onPage = balances.slice((page - 1) * size, page * size);
    ctx.body = readBalancePage(self, accountId, onPage, page, totalPages, new Date(clock()).toISOString());
    return undefined;
  };
}

/**
 * One page of an `OBReadBalance1`: the page's balances with the account id (and `now` where they
 * have no DateTime), absolute `Links` from `self` (the first page's URL), and `Meta.TotalPages`.
 */
function readBalancePage(
  self: string,
  accountId: string,
  onPage: readonly SimulatedBalance[],
  page: number,
  totalPages: number,
  now: string,
): object {
  const pageUrl = (number: number) => (number === 1 ? self : `${self}?page=${number}`);
  return {
    Data: {
      Balance: onPage.map((balance) => ({
        AccountId: accountId,
        ...balance,
        DateTime: balance.DateTime ?? now,
      })),
    },
    Links: {
      Self: pageUrl(page),
      ...(totalPages > 1 ? { First: pageUrl(1), Last: pageUrl(totalPages) } : {}),
      ...(page > 1 ? { Prev: pageUrl(page - 1) } : {}),
      ...(page < totalPages ? { Next: pageUrl(page + 1) } : {}),
    },
    Meta: { TotalPages: totalPages },
  };
}

/** The account's balances now; a first page moves its script on. Undefined: unknown account. */
function currentBalances(
  bank: SimulatedBank,
  accountId: string,
  firstPage: boolean,
): readonly SimulatedBalance[] | undefined {
  const set = bank.balancesOf.get(accountId);
  if (set !== undefined) return set;
  const script = bank.scripts.get(accountId);
  if (script !== undefined) {
    const scripted = script.balances[Math.min(script.next, script.balances.length - 1)];
    if (firstPage) script.next += 1;
    return scripted === undefined ? undefined : [fromScripted(scripted)];
  }
  if (bank.options.unscripted === undefined) return undefined;
  // Dated at the start, or a day ago in a simulator running longer: older than any balance
  // pushed since (or in the last day), yet never so old that the domain refuses it as stale.
  const dated = Math.max(bank.startedAtMs, bank.clock() - DEFAULT_BALANCE_MAX_AGE_MS);
  return [fromScripted(bank.options.unscripted, new Date(dated).toISOString())];
}

/** `PUT /__admin/accounts/{id}/balances`: an array of balances, or `{"Balance": [...]}`. */
function setBalancesRoute(bank: SimulatedBank): RouterMiddleware {
  return (ctx) => {
    if (!authorised(bank, ctx))
      return obError(ctx, 401, "UK.OBIE.Header.Invalid", "a valid bearer token is required");
    const body = (ctx.request as { body?: unknown }).body;
    const list = Array.isArray(body) ? body : (body as { Balance?: unknown } | undefined)?.Balance;
    if (!Array.isArray(list) || list.length === 0 || !list.every(isObject)) {
      return obError(
        ctx,
        400,
        "UK.OBIE.Field.Invalid",
        "a non-empty array of balances is required",
        "Balance",
      );
    }
    bank.balancesOf.set(String(ctx.params.accountId), list as SimulatedBalance[]);
    ctx.status = 204;
    return undefined;
  };
}

/** `PUT /__admin/accounts/{id}/fault`: a `SimulatedFault` with a 4xx or 5xx status. */
function setFaultRoute(bank: SimulatedBank): RouterMiddleware {
  return (ctx) => {
    if (!authorised(bank, ctx))
      return obError(ctx, 401, "UK.OBIE.Header.Invalid", "a valid bearer token is required");
    const body = (ctx.request as { body?: unknown }).body as Partial<SimulatedFault> | undefined;
    if (
      typeof body?.status !== "number" ||
      body.status < 400 ||
      body.status > 599 ||
      typeof body.errorCode !== "string"
    ) {
      return obError(ctx, 400, "UK.OBIE.Field.Invalid", "status (4xx, 5xx) and errorCode are required");
    }
    bank.faults.set(String(ctx.params.accountId), body as SimulatedFault);
    ctx.status = 204;
    return undefined;
  };
}

/** `DELETE /__admin/accounts/{id}/fault`. */
function clearFaultRoute(bank: SimulatedBank): RouterMiddleware {
  return (ctx) => {
    if (!authorised(bank, ctx))
      return obError(ctx, 401, "UK.OBIE.Header.Invalid", "a valid bearer token is required");
    bank.faults.delete(String(ctx.params.accountId));
    ctx.status = 204;
    return undefined;
  };
}

/** `PUT /__admin/knobs`: any of the knobs, each a number of 0 or more (a rate at most 1). */
function setKnobsRoute(bank: SimulatedBank): RouterMiddleware {
  const { knobs } = bank;
  return (ctx) => {
    if (!authorised(bank, ctx)) {
      return obError(ctx, 401, "UK.OBIE.Header.Invalid", "a valid bearer token is required");
    }
    const body = (ctx.request as { body?: unknown }).body;
    const changes = isObject(body) ? Object.entries(body as Record<string, unknown>) : undefined;
    const valid =
      changes?.every(
        ([name, value]) =>
          Object.hasOwn(knobs, name) &&
          typeof value === "number" &&
          Number.isFinite(value) &&
          value >= 0 &&
          (!name.endsWith("Rate") || value <= 1),
      ) ?? false;
    if (!valid || changes === undefined) {
      return obError(
        ctx,
        400,
        "UK.OBIE.Field.Invalid",
        `knobs are numbers of 0 or more (rates up to 1): ${Object.keys(knobs).join(", ")}`,
      );
    }
    Object.assign(knobs, Object.fromEntries(changes));
    ctx.status = 204;
    return undefined;
  };
}

/** `DELETE /__admin/accounts/{id}`: forgets its balances, script and fault. */
function forgetAccountRoute(bank: SimulatedBank): RouterMiddleware {
  return (ctx) => {
    if (!authorised(bank, ctx))
      return obError(ctx, 401, "UK.OBIE.Header.Invalid", "a valid bearer token is required");
    const accountId = String(ctx.params.accountId);
    bank.balancesOf.delete(accountId);
    bank.scripts.delete(accountId);
    bank.faults.delete(accountId);
    ctx.status = 204;
    return undefined;
  };
}

/**
 * Echoes (or makes) `x-fapi-interaction-id`; what the router leaves without a body (no such
 * route, another method) is still an OB error.
 */
async function interactionIdAndUnroutedErrors(ctx: Context, next: Next): Promise<void> {
  ctx.set("x-fapi-interaction-id", ctx.get("x-fapi-interaction-id") || randomUUID());
  await next();
  if (ctx.status === 404 && ctx.body === undefined) {
    obError(ctx, 404, "UK.OBIE.Resource.NotFound", `no resource ${ctx.path}`);
  } else if (ctx.status === 405 && (ctx.body === undefined || typeof ctx.body === "string")) {
    obError(ctx, 405, "UK.Simulator.MethodNotAllowed", `${ctx.method} is not allowed on ${ctx.path}`);
  }
}

/** The body parser's refusals (not JSON, too large), as OB errors. */
async function badBodiesAsObErrors(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (error) {
    const status = (error as { status?: unknown }).status;
    if (typeof status !== "number" || status < 400 || status >= 500) throw error;
    obError(ctx, status, "UK.OBIE.Field.Invalid", error instanceof Error ? error.message : "bad request");
  }
}

function fromScripted(scripted: ScriptedBalance, dateTime?: string): SimulatedBalance {
  const negative = scripted.amount.startsWith("-");
  return {
    Amount: { Amount: negative ? scripted.amount.slice(1) : scripted.amount, Currency: scripted.currency },
    CreditDebitIndicator: negative ? "Debit" : "Credit",
    Type: "InterimAvailable",
    ...(dateTime === undefined ? {} : { DateTime: dateTime }),
    ...(scripted.creditLine === undefined
      ? {}
      : {
          CreditLine: [
            {
              Included: false,
              Amount: { Amount: scripted.creditLine, Currency: scripted.currency },
              Type: "Pre-Agreed",
            },
          ],
        }),
  };
}

function isObject(value: unknown): boolean {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An `OBErrorResponse1` answer. */
function obError(ctx: Context, status: number, errorCode: string, message: string, path?: string): undefined {
  ctx.status = status;
  ctx.body = {
    Code: `${status} ${reasonPhrase(status)}`.slice(0, 40),
    Id: randomUUID(),
    Message: message,
    Errors: [{ ErrorCode: errorCode, Message: message, ...(path === undefined ? {} : { Path: path }) }],
  };
  return undefined;
}

function reasonPhrase(status: number): string {
  const phrases: Record<number, string> = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
  };
  return phrases[status] ?? "Error";
}
