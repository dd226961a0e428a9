/**
 * The console's only way to data: the query API it is served from, with the API key the operator
 * pasted. The key lives in sessionStorage (gone with the browser session) and only ever travels in
 * the Authorization header, never in a URL.
 */

const KEY_ITEM = "tidemark.apiKey";

/** An API answer that was not a success: the problem+json the API sent, or what went wrong. */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  /** Each bad field's problem, as the API listed them in `errors` (e.g. a rule set's). */
  readonly fields: readonly string[];
  constructor(status: number, code: string, detail: string, fields: readonly string[] = []) {
    super(detail);
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

/** Who the key belongs to and what it may do (`GET /me`). */
export interface Caller {
  readonly name: string;
  readonly scopes: readonly string[];
}

export function storedKey(): string | null {
  return sessionStorage.getItem(KEY_ITEM);
}

export function rememberKey(key: string): void {
  sessionStorage.setItem(KEY_ITEM, key);
}

export function forgetKey(): void {
  sessionStorage.removeItem(KEY_ITEM);
}

/** Whether the caller holds `scope` (`admin` holds every scope). */
export function allows(caller: Caller, scope: string): boolean {
  return caller.scopes.includes(scope) || caller.scopes.includes("admin");
}

/** `path` (which may carry a query already) with more query parameters; those without a value are left out. */
export function withQuery(
  path: string,
  query: Readonly<Record<string, string | number | undefined | null>>,
): string {
  const [route = "", existing = ""] = path.split("?", 2);
  const search = new URLSearchParams(existing);
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") search.set(name, String(value));
  }
  const text = search.toString();
  return text === "" ? route : `${route}?${text}`;
}

/** GET a JSON answer. */
export async function getJson<T>(path: string, key: string | null = storedKey()): Promise<T> {
  const response = await send(path, { method: "GET" }, key);
  return (await response.json()) as T;
}

/** POST a JSON body; every POST carries a fresh Idempotency-Key, as the APIs ask. */
export async function postJson<T>(
  path: string,
  body: unknown,
  headers: Readonly<Record<string, string>> = {},
): Promise<T> {
  const response = await send(path, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": crypto.randomUUID(), ...headers },
    body: JSON.stringify(body),
  });
  return (await response.json()) as T;
}

/** Downloads a report's CSV (`?format=csv`) with the key in the header, as a file. */
export async function downloadCsv(path: string, filename: string): Promise<void> {
  const response = await send(path, { method: "GET", headers: { accept: "text/csv" } });
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function send(path: string, init: RequestInit, key: string | null = storedKey()): Promise<Response> {
  const headers = new Headers(init.headers);
  if (key !== null) headers.set("authorization", `Bearer ${key}`);
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers, cache: "no-store" });
  } catch {
    throw new ApiError(0, "unreachable", "The query API does not answer. Is Tidemark running?");
  }
  if (response.ok) return response;
  throw await problemOf(response);
}

async function problemOf(response: Response): Promise<ApiError> {
  try {
    const problem = (await response.json()) as {
      code?: unknown;
      detail?: unknown;
      title?: unknown;
      errors?: unknown;
    };
    const fields = Array.isArray(problem.errors)
      ? problem.errors.flatMap((entry: unknown) => {
          const text = (entry as { problem?: unknown } | null)?.problem;
          return typeof text === "string" ? [text] : [];
        })
      : [];
    const detail =
      typeof problem.detail === "string"
        ? problem.detail
        : typeof problem.title === "string"
          ? problem.title
          : response.statusText;
    return new ApiError(
      response.status,
      typeof problem.code === "string" ? problem.code : "error",
      detail,
      fields,
    );
  } catch {
    return new ApiError(response.status, "error", `${response.status} ${response.statusText}`);
  }
}
