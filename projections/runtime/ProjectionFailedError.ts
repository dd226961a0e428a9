import type { Position } from "../../gateways/eventStore/Position.ts";

/** A projection stopped on an event it could not apply; the others keep running. */
export class ProjectionFailedError extends Error {
  readonly code = "projection_failed";

  constructor(
    readonly projection: string,
    readonly eventId: string,
    readonly eventType: string,
    readonly position: Position,
    cause: unknown,
  ) {
    super(
      `projection ${projection} stopped at event ${eventId} (${eventType}, position ${position}): ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = "ProjectionFailedError";
  }
}
