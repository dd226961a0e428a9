import type { Middleware } from "koa";
import type { Kysely } from "kysely";
import type { Logger } from "pino";
import type { RulesInForce } from "../../../domain/ruleset/RuleBook.ts";
import type { EventStore } from "../../../gateways/eventStore/EventStore.ts";
import type { DeadLetterInbox } from "../../../gateways/fanout/DeadLetterInbox.ts";
import type { IdempotencyStore } from "../../../http/IdempotencyStore.ts";
import type { AnyProjection } from "../../runtime/Projection.ts";
import type { ProjectionSchemas } from "../../runtime/ProjectionBuilds.ts";
import type { RebuildJobs } from "../../runtime/RebuildJobs.ts";
import type { BacktestJobs } from "../../backtest/BacktestJobs.ts";
import type { Rule } from "../../../domain/rules/Rule.ts";
import type { RulesetDocument } from "../../../domain/ruleset/RulesetDocument.ts";

/** What the operations routes read and act on. */
export interface OperationsDependencies {
  /** The registry and the read schema. */
  readonly db: Kysely<unknown>;
  /** For the log's head and each build's lag (counted on PostgreSQL only). */
  readonly store: EventStore;
  readonly schemas: ProjectionSchemas;
  /** The read models this code builds (`allProjections`). */
  readonly projections: readonly AnyProjection[];
  readonly rebuilds: RebuildJobs;
  readonly deadLetters: DeadLetterInbox;
  /** The fan-out's consumers, whose dead letters are listed and requeued. */
  readonly consumers: readonly string[];
  /** The rules in force, kept current from the rule set's stream. */
  readonly rules: RulesInForce;
  /** Idempotency-Key on the POSTs, stored as the command API stores it. */
  readonly idempotency: IdempotencyStore;
  /** Backtests of candidate rule sets (none: the routes are not offered). */
  readonly backtests?: BacktestDependencies;
  readonly logger: Logger;
  readonly clock?: () => number;
}

/** How the operations routes guard themselves: reads, and the admin's actions. */
export interface OperationsGuards {
  readonly read: Middleware;
  /** `admin`, a bounded JSON body without control characters, Idempotency-Key honoured. */
  readonly admin: readonly Middleware[];
  /** The same for `rules:write`, with room for a rule set's nesting. */
  readonly rulesWrite: readonly Middleware[];
}

/** What the backtest routes need: the jobs, and the rule set validation the command API uses. */
export interface BacktestDependencies {
  readonly jobs: BacktestJobs;
  /** @throws ProblemError (422, each problem naming the rule and field) for an invalid rule set. */
  readonly parseCandidate: (document: unknown) => {
    readonly document: RulesetDocument;
    readonly rules: readonly Rule[];
  };
}
