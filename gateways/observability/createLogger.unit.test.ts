import { Writable } from "node:stream";
import test from "ava";
import { createLogger } from "./createLogger.ts";

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { lines, logger: createLogger({ level: "debug", base: { service: "test" } }, destination) };
}

test("phone numbers, balances, SMS bodies and keys never reach a line: by key at any depth, by pattern anywhere", (t) => {
  const { lines, logger } = capture();
  logger.info(
    {
      account: { phone: "+447911123456", balance: { amount: "42.00", currency: "GBP" } },
      sms: { to: "+447911123456", body: "Your balance is £42.00, below £100.00." },
      headers: { authorization: "Bearer tm_live_0123456789abcdef0123456789abcdef" },
      notificationId: "n-1",
    },
    "sent to +447911123456: Your balance is £42.00 (key tm_dev_0123456789abcdef0123)",
  );
  logger.error(
    { err: new Error("provider refused +447911123456 with body 'balance -20.00 GBP'") },
    "request failed",
  );
  logger.warn("consumer sms-gateway: event e-1 dead after 3 attempts: 21211 invalid To +15005550001");
  const text = lines.join("");
  for (const secret of [
    "+447911123456",
    "+15005550001",
    "42.00",
    "£100.00",
    "-20.00 GBP",
    "tm_live_",
    "tm_dev_",
    "Your balance is £",
  ]) {
    t.false(text.includes(secret), `${secret} in ${text}`);
  }
  // What is not secret stays readable.
  t.true(text.includes('"notificationId":"n-1"'));
  t.true(text.includes('"service":"test"'));
  t.true(text.includes("provider refused [redacted]"));
  t.true(text.includes('"stack":"Error: provider refused [redacted]'));
  t.true(text.includes("dead after 3 attempts"));
  t.is(lines.length, 3);
});
