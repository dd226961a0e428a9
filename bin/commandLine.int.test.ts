import { execFile } from "node:child_process";
import { promisify } from "node:util";
import test from "ava";
import { builtEntryPoint } from "./builtEntryPoint.ts";

const run = promisify(execFile);

/** Each CLI's entry point and the name its messages start with. */
const CLIS = [
  ["projections", "projections"],
  ["eventLog", "event-log"],
  ["backup", "backup"],
  ["deadLetters", "dead-letters"],
  ["drill", "drill"],
  ["demo", "demo"],
] as const;

/** Runs a CLI as a user would; resolves with its exit code and output whatever the code. */
async function cli(entryPoint: string, ...args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [...builtEntryPoint(entryPoint), ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

for (const [entryPoint, name] of CLIS) {
  test(`${name} --help: the usage on stdout, nothing on stderr, exit status 0`, async (t) => {
    const answer = await cli(entryPoint, "--help");
    t.is(answer.code, 0, answer.stderr);
    t.true(answer.stdout.startsWith("Usage: npm run "), answer.stdout);
    t.is(answer.stderr, "");
  });

  test(`${name}: an unknown option is bad usage: the reason and the usage on stderr, exit status 2`, async (t) => {
    const answer = await cli(entryPoint, "--no-such-option");
    t.is(answer.code, 2, answer.stderr);
    t.is(answer.stdout, "");
    t.regex(
      answer.stderr,
      new RegExp(`^${name}: Unknown option '--no-such-option'[^]*\\n\\nUsage: npm run `),
    );
  });
}
