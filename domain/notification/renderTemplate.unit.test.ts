import test from "ava";
import { renderTemplate } from "./renderTemplate.ts";

test("placeholders are replaced by their values, spaces inside the braces allowed", (t) => {
  t.deepEqual(
    renderTemplate("Hi {{name}}, your balance is {{ balance }}. {{name}}!", {
      name: "Ann",
      balance: "£9.50",
    }),
    {
      outcome: "rendered",
      body: "Hi Ann, your balance is £9.50. Ann!",
    },
  );
  t.deepEqual(renderTemplate("No placeholders, {single} braces.", {}), {
    outcome: "rendered",
    body: "No placeholders, {single} braces.",
  });
});

test("every missing variable is named, once, and nothing renders 'undefined'", (t) => {
  t.deepEqual(renderTemplate("{{a}} {{b}} {{a}} {{c}}", { b: "x" }), {
    outcome: "missing-variables",
    missing: ["a", "c"],
  });
});

test("inherited object properties are not variables", (t) => {
  t.deepEqual(renderTemplate("{{constructor}} {{toString}} {{__proto__}}", {}), {
    outcome: "missing-variables",
    missing: ["constructor", "toString", "__proto__"],
  });
});

test("values are inserted verbatim: never scanned for placeholders, never evaluated", (t) => {
  t.deepEqual(renderTemplate("{{a}} {{b}}", { a: "{{b}}", b: "${process.exit()}" }), {
    outcome: "rendered",
    body: "{{b}} ${process.exit()}",
  });
  t.deepEqual(renderTemplate("{{a}}", { a: "$& $1 $$" }), { outcome: "rendered", body: "$& $1 $$" });
});

test("a '{{' that does not open a well-formed placeholder is an error, with where it is", (t) => {
  for (const [template, index] of [
    ["Hi {{first name}}", 3],
    ["Hi {{name", 3],
    ["{{}}", 0],
    ["ok {{a}} then {{ 1x }}", 14],
    ["{{a.b}}", 0],
  ] as const) {
    t.like(
      renderTemplate(template, { a: "x", name: "y" }),
      { outcome: "malformed-placeholder", index },
      template,
    );
  }
});

test("an empty template renders to an empty body", (t) => {
  t.deepEqual(renderTemplate("", {}), { outcome: "rendered", body: "" });
});
