import test from "ava";
import { positionOf } from "../../gateways/eventStore/Position.ts";
import { trackingProjection } from "../tracking/trackingProjection.ts";
import { readModelStatus, type BuildWithLag } from "./readModelStatus.ts";

const at = (minute: number) => new Date(Date.UTC(2026, 10, 24, 9, minute));

function build(
  overrides: Partial<BuildWithLag> & Pick<BuildWithLag, "buildSchema" | "status">,
): BuildWithLag {
  return {
    name: "tracking",
    version: 1,
    position: positionOf(7n, 1n),
    updatedAt: at(0),
    liveSince: null,
    error: null,
    errorAt: null,
    lagEvents: 0,
    lagSeconds: 0,
    ...overrides,
  };
}

test("no build at all is not-built; a first build filling is building", (t) => {
  t.like(readModelStatus(trackingProjection, []), { status: "not-built", liveBuild: null, lastError: null });
  t.like(readModelStatus(trackingProjection, [build({ buildSchema: "rm_tracking_1", status: "building" })]), {
    status: "building",
    liveBuild: null,
  });
});

test("a live build with another filling beside it is rebuilding; other read models' builds do not count", (t) => {
  const builds = [
    build({ buildSchema: "rm_tracking_2", status: "building", position: positionOf(3n, 0n) }),
    build({ buildSchema: "rm_tracking_1", status: "live", lagEvents: 4, lagSeconds: 1.5 }),
    build({
      buildSchema: "rm_accounts_1",
      name: "accounts",
      status: "failed",
      error: "elsewhere",
      errorAt: at(9),
    }),
  ];
  const status = readModelStatus(trackingProjection, builds);
  t.like(status, {
    status: "rebuilding",
    liveBuild: { build: "rm_tracking_1", checkpoint: positionOf(7n, 1n), lagEvents: 4, lagSeconds: 1.5 },
    lastError: null,
  });
  t.deepEqual(
    status.builds.map((kept) => `${kept.build} ${kept.status}`),
    ["rm_tracking_2 building", "rm_tracking_1 live"],
  );
});

test("a live build whose checkpoint has not moved since its error is failed; once it moves it is live again, the error still the last", (t) => {
  const stopped = build({
    buildSchema: "rm_tracking_1",
    status: "live",
    error: "bad event",
    errorAt: at(5),
    updatedAt: at(5),
  });
  t.like(readModelStatus(trackingProjection, [stopped]), {
    status: "failed",
    lastError: { message: "bad event", at: at(5) },
  });
  const movedOn = { ...stopped, updatedAt: at(6) };
  t.like(readModelStatus(trackingProjection, [movedOn]), {
    status: "live",
    lastError: { message: "bad event", at: at(5) },
  });
});

test("the last error is the newest of the builds kept, by when it was recorded", (t) => {
  const builds = [
    build({
      buildSchema: "rm_tracking_3",
      status: "failed",
      error: "digest differs",
      errorAt: at(8),
      updatedAt: at(30),
    }),
    build({
      buildSchema: "rm_tracking_2",
      status: "failed",
      error: "older",
      errorAt: at(2),
      updatedAt: at(40),
    }),
    build({ buildSchema: "rm_tracking_1", status: "live", updatedAt: at(50) }),
  ];
  t.like(readModelStatus(trackingProjection, builds), {
    status: "live",
    lastError: { message: "digest differs", at: at(8) },
  });
});
