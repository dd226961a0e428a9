/** The parts of the system one process can run; `npm start -- <role> …` picks some, none means all. */
export const ROLES = [
  "command-api",
  "query-api",
  "projector",
  "relay",
  "qualification",
  "banking",
  "notification",
  "tracking",
  "scheduler",
  "simulators",
] as const;

export type Role = (typeof ROLES)[number];
