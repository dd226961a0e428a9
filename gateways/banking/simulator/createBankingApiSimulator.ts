import Router from "@koa/router";
import Koa, { type Context } from "koa";

/** How the simulated Banking API behaves; change them at any time (read per request). */
export interface BankingSimulatorKnobs {
  /** Added before every answer, in milliseconds. */
  latencyMs: number;
  /** Share (0–1) of reads answered 500. */
  errorRate: number;
  /** Share of reads answered 429 with `Retry-After: retryAfterSeconds`. */
  tooManyRequestsRate: number;
  retryAfterSeconds: number;
}

export const DEFAULT_BANKING_SIMULATOR_KNOBS: BankingSimulatorKnobs = {
  latencyMs: 20,
  errorRate: 0,
  tooManyRequestsRate: 0,
  retryAfterSeconds: 1,
};

/** One scripted balance: a signed decimal amount in the account's currency. */
export interface ScriptedBalance {
  readonly amount: string;
  readonly currency: string;
  readonly creditLine?: string;
}

export interface BankingApiSimulator {
  readonly app: Koa;
  readonly knobs: BankingSimulatorKnobs;
  /**
   * Scripts an account's balances: each read answers the next one, the last one from then on.
   * An account without a script answers `unscripted`, or is unknown (404).
   */
  script(accountId: string, balances: readonly ScriptedBalance[]): void;
  /** Reads answered (any status), per account: what a budget test counts. */
  readonly reads: ReadonlyMap<string, number>;
}

export interface BankingApiSimulatorOptions {
  /** The bearer token clients must send. */
  readonly accessToken: string;
  readonly knobs?: Partial<BankingSimulatorKnobs>;
  readonly random?: () => number;
  /** What an account without a script answers; none: 404 (an account the bank does not know). */
  readonly unscripted?: ScriptedBalance;
  /** The simulator's clock for each balance's DateTime (default Date.now). */
  readonly clock?: () => number;
}

/**
 * A Banking API in the shape of UK Open Banking's Account and Transaction API:
 * `GET /accounts/{AccountId}/balances` → `OBReadBalance1` (Amount, Currency,
 * CreditDebitIndicator, Type, DateTime, CreditLine), behind a bearer token, with knobs for
 * latency, 5xx and 429 + Retry-After, and scripted balances per account.
 */
export function createBankingApiSimulator(options: BankingApiSimulatorOptions): BankingApiSimulator {
  const knobs: BankingSimulatorKnobs = { ...DEFAULT_BANKING_SIMULATOR_KNOBS, ...options.knobs };
  const random = options.random ?? Math.random;
  const clock = options.clock ?? Date.now;
  const scripts = new Map<string, { balances: readonly ScriptedBalance[]; next: number }>();
  const reads = new Map<string, number>();
  const router = new Router();

  router.get("/accounts/:accountId/balances", async (ctx: Context) => {
    const accountId = String((ctx.params as Record<string, string>).accountId);
    ctx.set("x-fapi-interaction-id", ctx.get("x-fapi-interaction-id") || crypto.randomUUID());
    if (ctx.get("authorization") !== `Bearer ${options.accessToken}`) {
      return problem(ctx, 401, "UK.OBIE.Unauthorized", "a valid bearer token is required");
    }
    reads.set(accountId, (reads.get(accountId) ?? 0) + 1);
    if (knobs.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, knobs.latencyMs));
    if (random() < knobs.tooManyRequestsRate) {
      ctx.set("retry-after", String(knobs.retryAfterSeconds));
      return problem(ctx, 429, "UK.OBIE.TooManyRequests", "slow down");
    }
    if (random() < knobs.errorRate) return problem(ctx, 500, "UK.OBIE.UnexpectedError", "simulated failure");
    const script = scripts.get(accountId);
    const balance = script?.balances[Math.min(script.next, script.balances.length - 1)] ?? options.unscripted;
    if (balance === undefined)
      return problem(ctx, 404, "UK.OBIE.Resource.NotFound", `no account ${accountId}`);
    if (script !== undefined) script.next += 1;
    const negative = balance.amount.startsWith("-");
    ctx.body = {
      Data: {
        Balance: [
          {
            AccountId: accountId,
            Amount: {
              Amount: negative ? balance.amount.slice(1) : balance.amount,
              Currency: balance.currency,
            },
            CreditDebitIndicator: negative ? "Debit" : "Credit",
            Type: "InterimAvailable",
            DateTime: new Date(clock()).toISOString(),
            CreditLine:
              balance.creditLine === undefined
                ? []
                : [
                    {
                      Included: false,
                      Amount: { Amount: balance.creditLine, Currency: balance.currency },
                      Type: "Pre-Agreed",
                    },
                  ],
          },
        ],
      },
      Links: { Self: `/accounts/${accountId}/balances` },
      Meta: { TotalPages: 1 },
    };
    return undefined;
  });

  const app = new Koa();
  app.use(router.routes());
  app.use(router.allowedMethods());
  return {
    app,
    knobs,
    reads,
    script(accountId, balances) {
      scripts.set(accountId, { balances, next: 0 });
    },
  };
}

function problem(ctx: Context, status: number, code: string, message: string): undefined {
  ctx.status = status;
  ctx.body = { Code: String(status), Message: message, Errors: [{ ErrorCode: code, Message: message }] };
  return undefined;
}
