import type { Logger } from "pino";
import { RULESET_STREAM, type RulesetEvent } from "../../domain/ruleset/RulesetEvent.ts";
import { rulesetDecider, type RulesetRefusal } from "../../domain/ruleset/rulesetDecider.ts";
import type { Instant } from "../../domain/values/Instant.ts";
import type { EventMetadata, EventStore } from "../../gateways/eventStore/EventStore.ts";
import { handleCommand, type CommandOutcome } from "../handleCommand.ts";
import type { ValidatedRuleset } from "./loadRules.ts";

export interface PublishOptions {
  readonly publishedBy: string;
  readonly comment: string;
  readonly now: Instant;
  /** The version the publisher read (`If-Match`); 0: only if none is published yet. */
  readonly expectedVersion: number;
  readonly newEventId: () => string;
  readonly metadata: EventMetadata;
}

/**
 * Publishes a validated rule set as the next version of the `ruleset` stream, if the version in
 * force is still `expectedVersion`. The same document as the one in force appends nothing.
 */
export function publishRuleset(
  store: EventStore,
  ruleset: ValidatedRuleset,
  options: PublishOptions,
): Promise<CommandOutcome<RulesetEvent, RulesetRefusal>> {
  return handleCommand(
    store,
    rulesetDecider(),
    RULESET_STREAM,
    {
      type: "PublishRuleset",
      data: {
        document: ruleset.document,
        publishedBy: options.publishedBy,
        comment: options.comment,
        now: options.now,
      },
    },
    {
      expectedRevision: options.expectedVersion - 1,
      newEventId: options.newEventId,
      metadata: options.metadata,
    },
  );
}

/**
 * At start-up: when no rule set has been published, the rules file becomes version 1. When one
 * has, the stream is what counts and the file is only compared, with a warning when it differs
 * (publish it with `npm run rules -- import`). Several processes starting at once publish it once.
 */
export async function publishInitialRuleset(
  store: EventStore,
  file: { readonly name: string; readonly ruleset: ValidatedRuleset },
  options: Omit<PublishOptions, "expectedVersion" | "publishedBy" | "comment"> & { readonly logger: Logger },
): Promise<void> {
  const outcome = await publishRuleset(store, file.ruleset, {
    ...options,
    publishedBy: `file:${file.name}`,
    comment: "the rules file, as the first version",
    expectedVersion: 0,
  });
  if (outcome.outcome === "accepted") {
    options.logger.info({ file: file.name }, "rules file published as rule set version 1");
  } else if (outcome.outcome === "revision_mismatch") {
    options.logger.debug(
      { version: outcome.actual + 1 },
      "rule set already published; the stream is in force",
    );
  } else {
    throw new Error(`rules file ${file.name} could not be published: ${outcome.detail}`);
  }
}
