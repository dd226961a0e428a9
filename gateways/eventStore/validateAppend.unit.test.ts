import test from "ava";
import { InvalidAppendError } from "./EventStoreError.ts";
import { validateAppend } from "./validateAppend.ts";

const metadata = { correlationId: "c-1", actor: "test" };
const id = "0b6a2f1e-58f4-4c71-9d5f-3a1f0e9b7c11";

test("a valid append is serialised once, with its id lower-cased", (t) => {
  const checked = validateAppend("account-1", 3, [
    {
      id: id.toUpperCase(),
      type: "BalanceObserved",
      data: { amount: "12.50", tags: ["a"], nested: { ok: true } },
      metadata,
    },
  ]);
  t.is(checked.events[0]?.id, id);
  t.is(checked.events[0]?.dataJson, '{"amount":"12.50","tags":["a"],"nested":{"ok":true}}');
  t.is(checked.events[0]?.metadataJson, JSON.stringify(metadata));
});

test("text that PostgreSQL jsonb cannot store is refused, but escaped look-alikes pass", (t) => {
  const attempt = (text: string) => () =>
    validateAppend("s-1", "any", [{ id, type: "T", data: { text }, metadata }]);
  t.throws(attempt("a\u0000b"), { instanceOf: InvalidAppendError });
  t.throws(attempt("lone \ud800 surrogate"), { instanceOf: InvalidAppendError });
  t.throws(attempt("lone \udc00 low surrogate"), { instanceOf: InvalidAppendError });
  t.notThrows(attempt("a pair \ud83d\ude00 is fine"));
  t.notThrows(attempt("a literal backslash-u0000: \\u0000"));
});

test("the same event id twice in one append is refused", (t) => {
  const error = t.throws(
    () =>
      validateAppend("s-1", "any", [
        { id, type: "A", data: {}, metadata },
        { id, type: "B", data: {}, metadata },
      ]),
    { instanceOf: InvalidAppendError },
  );
  t.is(error.reason, "bad_event_id");
});

test("a bad traceparent is refused, a W3C one accepted", (t) => {
  const withTrace = (traceparent: string) => () =>
    validateAppend("s-1", "any", [{ id, type: "A", data: {}, metadata: { ...metadata, traceparent } }]);
  t.throws(withTrace("not-a-trace"), { instanceOf: InvalidAppendError });
  t.notThrows(withTrace("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
});

test("a value JSON cannot carry is refused with the path to it", (t) => {
  const refusal = (data: unknown) =>
    t.throws(() => validateAppend("account-1", "any", [{ id, type: "T", data, metadata }]), {
      instanceOf: InvalidAppendError,
    }).message;
  t.regex(
    refusal({ items: [1, { amount: Number.NaN }] }),
    /data\.items\[1\]\.amount is NaN, which JSON cannot hold/,
  );
  t.regex(refusal({ at: new Date(0) }), /data\.at is a Date, not plain JSON/);
  t.regex(
    refusal({ odd: Object.create(Object.create(null) as object) as object }),
    /data\.odd is a non-plain object/,
  );
  t.regex(refusal({ big: [[10n]] }), /data\.big\[0\]\[0\] is a bigint/);
  const loop: Record<string, unknown> = { a: {} };
  (loop.a as Record<string, unknown>).back = loop;
  t.regex(refusal(loop), /data\.a\.back refers back to itself/);
  const shared = { x: 1 };
  t.notThrows(() =>
    validateAppend("account-1", "any", [{ id, type: "T", data: { one: shared, two: [shared] }, metadata }]),
  );
});
