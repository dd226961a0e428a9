import { accountsProjection } from "./accounts/accountsProjection.ts";
import { qualificationProjection } from "./qualification/qualificationProjection.ts";
import { reportingProjection } from "./reporting/reportingProjection.ts";
import type { AnyProjection } from "./runtime/Projection.ts";
import { timelineProjection } from "./timeline/timelineProjection.ts";
import { trackingProjection } from "./tracking/trackingProjection.ts";

/** Every read model's projection: what the projector runs and the CLI rebuilds. */
export const allProjections: readonly AnyProjection[] = [
  accountsProjection,
  qualificationProjection,
  trackingProjection,
  reportingProjection,
  timelineProjection,
];
