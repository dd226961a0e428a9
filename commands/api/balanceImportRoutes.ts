import Router from "@koa/router";
import type { Context, Middleware } from "koa";
import { z } from "zod";
import type { ApiCaller, ApiKeys } from "../../http/ApiKeys.ts";
import { parseRequest } from "../../http/parseRequest.ts";
import { ProblemError } from "../../http/ProblemError.ts";
import type { BalanceImports } from "../balances/BalanceImports.ts";
import { BalanceFileTooLarge, type BalanceImportRunner } from "../balances/BalanceImportRunner.ts";
import type { BalanceFileFormat } from "../balances/balanceFileRows.ts";

export interface BalanceImportRoutesDependencies {
  readonly runner: BalanceImportRunner;
  readonly imports: BalanceImports;
  readonly apiKeys: ApiKeys;
  readonly limited: Middleware;
}

/** The media types of a balance file, and the format each names. */
const FORMATS: Readonly<Record<string, BalanceFileFormat>> = {
  "application/x-ndjson": "ndjson",
  "application/ndjson": "ndjson",
  "application/jsonl": "ndjson",
  "text/csv": "csv",
  "application/xml": "camt",
  "text/xml": "camt",
};

const batchParams = z.strictObject({
  id: z.uuid({ message: "must be a batch id (a UUID)" }),
});
const sendQuery = z.strictObject({
  name: z
    .string()
    .regex(/^[\w.-]{1,200}$/, { message: "must be 1-200 letters, digits, _, . or -" })
    .optional(),
});

/**
 * `POST /balance-imports`: an end-of-day balance file as the request body (NDJSON or CSV, as its
 * Content-Type says; gzipped bytes are recognised), streamed to disk, then imported in the
 * background as one batch (202 and Location); a file imported before answers its batch (200).
 * `GET /balance-imports/{id}` how one stands (counts, committed row, bad rows), `GET
 * /balance-imports` the latest. Mounted before the JSON body parser: the body is a file.
 */
export function balanceImportRoutes(dependencies: BalanceImportRoutesDependencies): Router {
  const { apiKeys, limited, runner, imports } = dependencies;
  const write = apiKeys.require("balances:write");
  const router = new Router();

  router.post("/balance-imports", write, limited, async (ctx: Context) => {
    const format = formatOf(ctx);
    const query = parseRequest("query", sendQuery, ctx.query);
    const caller = ctx.state.caller as ApiCaller;
    let batch;
    try {
      const length = ctx.get("content-length");
      batch = await runner.accept({
        body: ctx.req,
        ...(/^\d{1,15}$/.test(length) ? { announcedBytes: Number(length) } : {}),
        name: query.name ?? `balances.${format}`,
        format,
        requestedBy: caller.name,
      });
    } catch (error) {
      if (error instanceof BalanceFileTooLarge) {
        // The rest of the body is not read: the connection closes after the answer.
        ctx.set("Connection", "close");
        throw new ProblemError("payload_too_large", error.message);
      }
      throw error;
    }
    ctx.status = batch.status === "done" ? 200 : 202;
    ctx.set("Location", `/balance-imports/${batch.batchId}`);
    ctx.body = batch;
  });

  router.get("/balance-imports/:id", write, limited, async (ctx: Context) => {
    const { id } = parseRequest("params", batchParams, ctx.params);
    const batch = await imports.find(id);
    if (batch === undefined) throw new ProblemError("not_found", `no balance import ${id}`);
    ctx.set("Cache-Control", "no-store");
    ctx.body = batch;
  });

  router.get("/balance-imports", write, limited, async (ctx: Context) => {
    parseRequest("query", z.strictObject({}), ctx.query);
    ctx.set("Cache-Control", "no-store");
    ctx.body = { imports: await imports.list(50) };
  });

  return router;
}

/** The file's format from its Content-Type; 415 for another type, charset or content coding. */
function formatOf(ctx: Context): BalanceFileFormat {
  const type = (ctx.request.type || "").toLowerCase();
  const format = FORMATS[type];
  if (format === undefined) {
    throw new ProblemError(
      "unsupported_media_type",
      `send the file as ${Object.keys(FORMATS).join(", ")} (gzipped or not)`,
    );
  }
  const charset = ctx.request.charset.toLowerCase();
  if (charset !== "" && charset !== "utf-8" && charset !== "utf8") {
    throw new ProblemError("unsupported_media_type", `send the file in UTF-8, not charset=${charset}`);
  }
  const coding = ctx.get("content-encoding").toLowerCase();
  if (coding !== "" && coding !== "gzip" && coding !== "identity") {
    throw new ProblemError("unsupported_media_type", `send the file plain or gzipped, not ${coding}`);
  }
  return format;
}

/** The balance import routes for the command API's OpenAPI document. */
export function balanceImportOpenApiPaths(): Record<string, Record<string, unknown>> {
  const problem = { $ref: "#/components/responses/Problem" };
  const security = [{ apiKey: ["balances:write"] }];
  const batch = {
    description:
      "The batch: status (running, done, failed: resumable), committedRow, counts (rows, recorded, unchanged, refused, invalid), the first 1,000 badRows (row, line, accountId, reason, detail)",
    content: { "application/json": { schema: { type: "object" } } },
  };
  const file = { schema: { type: "string", format: "binary" } };
  return {
    "/balance-imports": {
      post: {
        summary: "Import an end-of-day balance file",
        description:
          "The body is the file: NDJSON (one push body with its accountId per line), CSV (header accountId,amount,currency,balanceType,referenceTime[,bankReference][,creditLineIncluded]) or an ISO 20022 camt.052 / camt.053 report (application/xml: each opening, interim or closing Bal of each statement or report, its account the IBAN or Othr/Id), gzipped or not, at most BALANCE_IMPORT_MAX_MB. Each row is parsed and decided exactly as POST /accounts/{id}/balances; bad rows are listed with their line and reason and do not stop the file. One batch per file (its SHA-256): the same file again answers 200 with that batch and does nothing. The import runs in the background of the receiving process (202, Location), and resumes after its last committed row if that process stops.",
        security,
        parameters: [
          {
            name: "name",
            in: "query",
            required: false,
            schema: { type: "string", pattern: "^[\\w.-]{1,200}$" },
          },
        ],
        requestBody: {
          required: true,
          content: {
            "application/x-ndjson": file,
            "application/jsonl": file,
            "text/csv": file,
            "application/xml": file,
          },
        },
        responses: {
          "200": { ...batch, description: `Imported before: ${batch.description}` },
          "202": { ...batch, description: `Accepted, importing: ${batch.description}` },
          "400": problem,
          "401": problem,
          "403": problem,
          "413": problem,
          "415": problem,
          "429": problem,
        },
      },
      get: {
        summary: "The latest balance imports, newest first (without their bad rows)",
        security,
        responses: { "200": batch, "401": problem, "403": problem },
      },
    },
    "/balance-imports/{id}": {
      get: {
        summary: "How a balance import stands",
        security,
        parameters: [{ name: "id", in: "path", required: true, schema: { type: "string", format: "uuid" } }],
        responses: { "200": batch, "400": problem, "401": problem, "403": problem, "404": problem },
      },
    },
  };
}
