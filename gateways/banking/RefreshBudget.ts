import type pg from "pg";
import { MicroBatcher } from "../postgres/MicroBatcher.ts";
import { migrateOperationalTables } from "../postgres/operationalMigrations.ts";

/**
 * The per-account budget of unattended balance reads (PSD2 allows four in any 24 hours without
 * the customer present: RTS art. 36(5)(b)): a table `<schema>.refresh_reads` with one row per read
 * claimed, at its time, keyed by the refresh request's event id, so a redelivered request finds
 * its claim instead of taking another.
 */
export class RefreshBudget {
  readonly #pool: pg.Pool;
  readonly #schema: string;
  readonly #claimFunction: string;
  readonly #claimsFunction: string;
  readonly #perDay: number;
  readonly #claims: MicroBatcher<Claim, boolean>;

  constructor(pool: pg.Pool, schema: string, perDay = 4) {
    this.#pool = pool;
    this.#schema = schema;
    this.#claimFunction = `"${schema}".claim_refresh_read_within_day`;
    this.#claimsFunction = `"${schema}".claim_refresh_reads_within_day`;
    this.#perDay = perDay;
    this.#claims = new MicroBatcher((claims) => this.#claimAll(claims), CLAIMS_IN_FLIGHT, CLAIMS_AT_ONCE, {
      alone: (claim) => this.#claimOne(claim),
    });
  }

  /** Creates the schema and table if missing (the `banking` migration history). */
  async migrate(): Promise<void> {
    await migrateOperationalTables(this.#pool, "banking", this.#schema);
  }

  /**
   * Claims one of the account's reads at `atMs` (epoch ms) for the request `eventId`: true when
   * fewer than the budget were claimed in the 24 hours before (or this very request claimed one
   * before). Claims of one account are serialised by an advisory lock, so two requests never both
   * take the last read. One statement (`claim_refresh_read_within_day`, made at start-up:
   * `operationalAdditions`); claims made while others are on the wire wait and go together
   * (`claim_refresh_reads_within_day`), one round trip.
   */
  claim(accountId: string, atMs: number, eventId: string): Promise<boolean> {
    return this.#claims.submit({ accountId, at: new Date(atMs), eventId });
  }

  /**
   * The claims that waited, in one statement. A lone claim, or each claim of a batch whose
   * statement failed, is the one-claim function (`#claimOne`, the batcher's `alone`): a claim is
   * kept under its request's id, so one made twice is granted once.
   */
  async #claimAll(claims: readonly Claim[]): Promise<readonly boolean[]> {
    const { rows } = await this.#pool.query<{ granted: boolean[] }>(
      `select ${this.#claimsFunction}($1::text[], $2::timestamptz[], $3::uuid[], $4) as granted`,
      [
        claims.map((claim) => claim.accountId),
        claims.map((claim) => claim.at),
        claims.map((claim) => claim.eventId),
        this.#perDay,
      ],
    );
    const granted = rows[0]?.granted ?? [];
    return claims.map((_, index) => granted[index] === true);
  }

  async #claimOne(claim: Claim): Promise<boolean> {
    const { rows } = await this.#pool.query<{ granted: boolean }>(
      `select ${this.#claimFunction}($1, $2, $3, $4) as granted`,
      [claim.accountId, claim.at, claim.eventId, this.#perDay],
    );
    return rows[0]?.granted === true;
  }
}

/** One read of an account claimed, at a time, for one request. */
interface Claim {
  readonly accountId: string;
  readonly at: Date;
  readonly eventId: string;
}

/** Claim statements on the wire at once; claims arriving meanwhile wait and go together. */
const CLAIMS_IN_FLIGHT = 2;
/** The most claims in one statement. */
const CLAIMS_AT_ONCE = 64;
