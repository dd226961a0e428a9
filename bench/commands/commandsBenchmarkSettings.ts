/**
 * What the commands benchmark and its server share. Kept apart from commandsBenchmarkServer.ts,
 * which starts a server when it is loaded: importing these must not.
 */
export const BENCH_API_KEY = "bench-admin-key-0123456789abcdef";
export const BENCH_SCHEMA = "bench_commands";
