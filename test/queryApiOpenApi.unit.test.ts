import test from "ava";
import { rulePublishingOpenApiPaths } from "../commands/api/openApiDocument.ts";
import { operationsOpenApiPaths } from "../projections/api/operations/operationsOpenApiPaths.ts";
import { mergedPaths, queryOpenApiDocument } from "../projections/api/queryOpenApiDocument.ts";
import { rulesetOpenApiPaths } from "../projections/api/rulesetRoutes.ts";

/** Every `$ref` in `value`. */
function refsIn(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(refsIn);
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value).flatMap(([key, item]) =>
    key === "$ref" && typeof item === "string" ? [item] : refsIn(item),
  );
}

test("the query API's document, as the query API role builds it, lists the rule publishing it mounts, and every reference resolves", (t) => {
  const document = queryOpenApiDocument(
    [],
    mergedPaths(rulesetOpenApiPaths(), rulePublishingOpenApiPaths(), operationsOpenApiPaths()),
  );
  const paths = document.paths as Record<string, Record<string, { security?: unknown }>>;
  t.deepEqual(Object.keys(paths["/rules/versions"] ?? {}).sort(), ["get", "post"]);
  t.deepEqual(paths["/rules/versions"]?.post?.security, [{ apiKey: ["rules:write"] }]);
  t.deepEqual(paths["/rules/versions"]?.get?.security, [{ apiKey: ["queries:read"] }]);
  t.deepEqual(Object.keys(paths["/rules"] ?? {}), ["get"]);
  t.truthy(paths["/rules/backtests"]?.post, "the operations paths are kept beside them");
  const components = document.components as { responses: Record<string, unknown> };
  for (const ref of refsIn(document)) {
    const name = ref.replace("#/components/responses/", "");
    t.truthy(components.responses[name], `${ref} resolves`);
  }
});

test("paths merged from several sources keep every method of each", (t) => {
  t.deepEqual(mergedPaths({ "/a": { get: 1 } }, { "/a": { post: 2 }, "/b": { get: 3 } }), {
    "/a": { get: 1, post: 2 },
    "/b": { get: 3 },
  });
});
