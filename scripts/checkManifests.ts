/**
 * The schema and consistency checks of `npm run check:ops` (scripts/checkOps.sh runs promtool
 * first, then this). Exit status 0 when every check passed, 1 otherwise; each failure is one line
 * naming the file and the object.
 *
 * - Kubernetes: every kustomization is rendered with `kubectl kustomize`; every object is checked
 *   against the Kubernetes 1.27 schema of the `kubernetes-models` package (types, formats, enums,
 *   required fields) and, like `kubeconform -strict`, for unknown fields (the objects are
 *   type-checked against the package's TypeScript types, whose excess-property check names them);
 *   then the references between objects and the deployment's own rules (probes, non-root, limits,
 *   default-deny, no Secret in git).
 * - docker-compose.yml: `dclint` (the Compose Specification's JSON schema, plus its lint rules),
 *   and a health check on every service.
 * - Monitoring: every `tidemark_*` metric a rule or the dashboard names is in METRICS.md, every
 *   alert has a unit test that expects it to fire, every dashboard query parses (promtool), every
 *   Tidemark role is scraped in both Prometheus configurations.
 * - Fluent Bit: the configurations parse and name their plugins.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import { parseAllDocuments, parse as parseYaml } from "yaml";
import { ROLES as ALL_ROLES } from "../bin/roles.ts";

const root = path.resolve(import.meta.dirname, "..");
const scratch = path.join(root, "node_modules", ".cache", "tidemark-check-ops");

/** Every kustomization in the repository: each is rendered and checked on its own. */
const KUSTOMIZATIONS = [
  "ops/k8s/base",
  "ops/k8s/overlays/prod",
  "ops/k8s/overlays/dr",
  "ops/k8s/overlays/prod-rebuild",
  "ops/k8s/overlays/dr-rebuild",
  "ops/prometheus",
  "ops/logging",
];
/** The deployable overlays: these must hold a whole, self-consistent deployment. */
const OVERLAYS = ["ops/k8s/overlays/prod", "ops/k8s/overlays/dr"];
/** Every role a Tidemark deployment runs (the simulators stand in for outside services: compose only). */
const ROLES = ALL_ROLES.filter((role) => role !== "simulators");
const METRICS_PORT = 9464;

type Json = Record<string, unknown>;
interface K8sObject extends Json {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; [key: string]: unknown };
}
interface Rendered {
  readonly source: string;
  readonly objects: readonly K8sObject[];
}

const failures: string[] = [];
let passed = 0;

/** Records one check: `problems` empty means it passed. */
function check(name: string, problems: readonly string[]): void {
  if (problems.length === 0) {
    passed += 1;
    console.log(`ok - ${name}`);
    return;
  }
  console.log(`not ok - ${name}`);
  for (const problem of problems) console.log(`    ${problem}`);
  failures.push(name);
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The value at a path of keys, or undefined where the path stops. */
function at(value: unknown, ...keys: readonly string[]): unknown {
  let current = value;
  for (const key of keys) {
    if (!isObject(current)) return undefined;
    current = current[key];
  }
  return current;
}

function arrayAt(value: unknown, ...keys: readonly string[]): Json[] {
  const found = at(value, ...keys);
  return Array.isArray(found) ? found.filter(isObject) : [];
}

function stringMap(value: unknown): Record<string, string> {
  if (!isObject(value)) return {};
  return Object.fromEntries(
    Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === "string"),
  );
}

function readText(file: string): string {
  return readFileSync(path.join(root, file), "utf8");
}

/** What a failed child process printed (execFileSync's error carries stdout and stderr). */
function outputOf(error: unknown): string {
  if (!isObject(error)) return String(error);
  const text = (value: unknown) => (typeof value === "string" ? value : "");
  return `${text(error.stdout)}${text(error.stderr)}` || text(error.message);
}

function describe(object: K8sObject): string {
  return `${object.kind}/${object.metadata.name}`;
}

// --- Kubernetes ------------------------------------------------------------------------------

function kubectlAvailable(): boolean {
  try {
    execFileSync("kubectl", ["version", "--client"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function render(directory: string): Rendered {
  const output = execFileSync("kubectl", ["kustomize", path.join(root, directory)], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  const objects = parseAllDocuments(output)
    .map((document) => document.toJSON() as unknown)
    .filter((object): object is K8sObject => isObject(object) && typeof object.kind === "string");
  return { source: directory, objects };
}

/** `kubernetes-models/<group>/<version>/<Kind>`: the package's module for an apiVersion and kind. */
function modelModule(object: K8sObject): string {
  const [group, version] = object.apiVersion.includes("/")
    ? object.apiVersion.split("/")
    : ["", object.apiVersion];
  return group === ""
    ? `kubernetes-models/${version ?? ""}/${object.kind}`
    : `kubernetes-models/${group}/${version ?? ""}/${object.kind}`;
}

/** Schema check (ajv, compiled into kubernetes-models): types, formats, enums, required fields. */
async function schemaProblems(rendered: Rendered): Promise<string[]> {
  const problems: string[] = [];
  for (const object of rendered.objects) {
    let model: unknown;
    try {
      const module = (await import(modelModule(object))) as Record<string, unknown>;
      model = module[object.kind];
    } catch {
      model = undefined;
    }
    if (typeof model !== "function") {
      problems.push(
        `${rendered.source} ${describe(object)}: no schema for ${object.apiVersion} ${object.kind}`,
      );
      continue;
    }
    try {
      const instance = new (model as new (data: unknown) => { validate(): void })(object);
      instance.validate();
    } catch (error) {
      problems.push(
        `${rendered.source} ${describe(object)}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  return problems;
}

/**
 * Unknown fields: every object becomes a typed constant of a generated TypeScript file, and the
 * compiler's excess-property check names each field its Kubernetes type does not have.
 */
function unknownFieldProblems(renderings: readonly Rendered[]): string[] {
  mkdirSync(scratch, { recursive: true });
  const file = path.join(scratch, "manifests.ts");
  let text = "";
  const owners: { offset: number; label: string }[] = [];
  for (const rendered of renderings) {
    for (const object of rendered.objects) {
      owners.push({ offset: text.length, label: `${rendered.source} ${describe(object)}` });
      const type = `import("${modelModule(object)}").I${object.kind}`;
      text += `export const object${owners.length}: ${type} = ${JSON.stringify(object, null, 1)};\n`;
    }
  }
  writeFileSync(file, text);
  const program = ts.createProgram([file], {
    strict: true,
    noEmit: true,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    skipLibCheck: true,
    types: [],
  });
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const start = diagnostic.start ?? 0;
    const owner = owners.filter((candidate) => candidate.offset <= start).at(-1);
    return `${owner?.label ?? file}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, " ")}`;
  });
}

interface PodOwner {
  readonly object: K8sObject;
  readonly pod: Json;
  readonly podLabels: Record<string, string>;
}

/** Deployments, DaemonSets, Jobs and CronJobs with their pod template. */
function podOwners(objects: readonly K8sObject[]): PodOwner[] {
  return objects.flatMap((object): PodOwner[] => {
    const template =
      object.kind === "CronJob"
        ? at(object, "spec", "jobTemplate", "spec", "template")
        : at(object, "spec", "template");
    if (!["Deployment", "DaemonSet", "Job", "CronJob"].includes(object.kind) || !isObject(template))
      return [];
    return [{ object, pod: template, podLabels: stringMap(at(template, "metadata", "labels")) }];
  });
}

function matches(selector: Record<string, string>, labels: Record<string, string>): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([key, value]) => labels[key] === value);
}

/** The rules every pod of the deployment keeps. */
function podProblems(rendered: Rendered): string[] {
  const problems: string[] = [];
  for (const { object, pod } of podOwners(rendered.objects)) {
    const where = `${rendered.source} ${describe(object)}`;
    const podSecurity = at(pod, "spec", "securityContext");
    const isFluentBit = object.metadata.name === "fluent-bit"; // reads the node's root-owned log files
    for (const container of arrayAt(pod, "spec", "containers")) {
      const name = String(container.name);
      if (
        !isFluentBit &&
        at(podSecurity, "runAsNonRoot") !== true &&
        at(container, "securityContext", "runAsNonRoot") !== true
      )
        problems.push(`${where} container ${name}: does not set runAsNonRoot`);
      if (at(container, "securityContext", "readOnlyRootFilesystem") !== true)
        problems.push(`${where} container ${name}: root file system is writable`);
      if (at(container, "securityContext", "allowPrivilegeEscalation") !== false)
        problems.push(`${where} container ${name}: allows privilege escalation`);
      if (
        at(container, "resources", "requests", "memory") === undefined ||
        at(container, "resources", "limits", "memory") === undefined
      )
        problems.push(`${where} container ${name}: needs a memory request and limit`);
      const image = String(container.image);
      if (!image.includes(":") && image !== "tidemark")
        problems.push(`${where} container ${name}: image ${image} has no tag`);
    }
  }
  return problems;
}

/** Every Tidemark role runs, with probes on /health and /ready of its metrics port. */
function roleProblems(rendered: Rendered): string[] {
  const problems: string[] = [];
  const deployments = rendered.objects.filter(
    (object) =>
      object.kind === "Deployment" && object.metadata.labels?.["app.kubernetes.io/name"] === "tidemark",
  );
  for (const role of ROLES) {
    const deployment = deployments.find((object) => object.metadata.name === role);
    if (deployment === undefined) {
      problems.push(`${rendered.source}: no Deployment for the ${role} role`);
      continue;
    }
    const container = arrayAt(deployment, "spec", "template", "spec", "containers").find(
      (entry) => entry.name === "tidemark",
    );
    const args = at(container, "args");
    if (!Array.isArray(args) || args[0] !== role)
      problems.push(`${rendered.source} ${describe(deployment)}: does not run the ${role} role`);
    const port = arrayAt(container, "ports").find((entry) => entry.name === "metrics");
    if (port?.containerPort !== METRICS_PORT)
      problems.push(`${rendered.source} ${describe(deployment)}: no metrics port ${METRICS_PORT}`);
    for (const [probe, probePath] of [
      ["livenessProbe", "/health"],
      ["readinessProbe", "/ready"],
      ["startupProbe", "/health"],
    ] as const) {
      if (
        at(container, probe, "httpGet", "path") !== probePath ||
        at(container, probe, "httpGet", "port") !== "metrics"
      )
        problems.push(
          `${rendered.source} ${describe(deployment)}: ${probe} is not GET ${probePath} on the metrics port`,
        );
    }
    if (
      !rendered.objects.some(
        (object) => object.kind === "Service" && object.metadata.name === `${role}-metrics`,
      )
    )
      problems.push(`${rendered.source}: no Service ${role}-metrics (Prometheus finds ${role} through it)`);
  }
  return problems;
}

/** References between objects resolve: selectors select, names name something that exists. */
function referenceProblems(rendered: Rendered): string[] {
  const problems: string[] = [];
  const objects = rendered.objects;
  const named = (kind: string, name: unknown) =>
    objects.find((object) => object.kind === kind && object.metadata.name === name);
  const owners = podOwners(objects);
  for (const object of objects) {
    const where = `${rendered.source} ${describe(object)}`;
    if (object.kind === "Service") {
      const selector = stringMap(at(object, "spec", "selector"));
      const selected = owners.filter((owner) => matches(selector, owner.podLabels));
      if (selected.length === 0) problems.push(`${where}: selects no pod`);
      for (const port of arrayAt(object, "spec", "ports")) {
        if (typeof port.targetPort !== "string") continue;
        for (const owner of selected) {
          const containers = arrayAt(owner.pod, "spec", "containers");
          if (
            !containers.some((container) =>
              arrayAt(container, "ports").some((entry) => entry.name === port.targetPort),
            )
          )
            problems.push(`${where}: ${describe(owner.object)} has no port named ${port.targetPort}`);
        }
      }
    }
    if (
      object.kind === "HorizontalPodAutoscaler" &&
      named(
        String(at(object, "spec", "scaleTargetRef", "kind")),
        at(object, "spec", "scaleTargetRef", "name"),
      ) === undefined
    )
      problems.push(`${where}: scales a Deployment that does not exist`);
    if (object.kind === "PodDisruptionBudget") {
      const selector = stringMap(at(object, "spec", "selector", "matchLabels"));
      if (!owners.some((owner) => matches(selector, owner.podLabels)))
        problems.push(`${where}: selects no pod`);
    }
    if (object.kind === "Ingress") {
      for (const rule of arrayAt(object, "spec", "rules")) {
        for (const entry of arrayAt(rule, "http", "paths")) {
          const service = named("Service", at(entry, "backend", "service", "name"));
          const portName = at(entry, "backend", "service", "port", "name");
          if (service === undefined) problems.push(`${where}: routes to a Service that does not exist`);
          else if (!arrayAt(service, "spec", "ports").some((port) => port.name === portName))
            problems.push(`${where}: ${describe(service)} has no port ${String(portName)}`);
        }
      }
    }
  }
  for (const owner of owners) {
    const where = `${rendered.source} ${describe(owner.object)}`;
    const spec = at(owner.pod, "spec");
    const account = at(spec, "serviceAccountName");
    if (typeof account === "string" && named("ServiceAccount", account) === undefined)
      problems.push(`${where}: service account ${account} does not exist`);
    const configMaps = [
      ...arrayAt(spec, "volumes").map((volume) => at(volume, "configMap", "name")),
      ...arrayAt(spec, "containers").flatMap((container) => [
        ...arrayAt(container, "envFrom").map((source) => at(source, "configMapRef", "name")),
        ...arrayAt(container, "env").map((variable) => at(variable, "valueFrom", "configMapKeyRef", "name")),
      ]),
    ].filter((name) => typeof name === "string");
    for (const name of configMaps)
      if (named("ConfigMap", name) === undefined) problems.push(`${where}: ConfigMap ${name} does not exist`);
  }
  return problems;
}

/** Nothing secret comes from git; every namespace of an overlay starts from deny-all. */
function overlayProblems(rendered: Rendered): string[] {
  const problems: string[] = [];
  for (const object of rendered.objects)
    if (object.kind === "Secret")
      problems.push(`${rendered.source} ${describe(object)}: Secrets do not belong in git`);
  const denyAll = rendered.objects.find(
    (object) =>
      object.kind === "NetworkPolicy" &&
      Object.keys(at(object, "spec", "podSelector") ?? {}).length === 0 &&
      JSON.stringify(at(object, "spec", "policyTypes")) === JSON.stringify(["Ingress", "Egress"]) &&
      at(object, "spec", "ingress") === undefined &&
      at(object, "spec", "egress") === undefined,
  );
  if (denyAll === undefined)
    problems.push(
      `${rendered.source}: no default-deny NetworkPolicy (empty podSelector, Ingress and Egress, no rules)`,
    );
  for (const owner of podOwners(rendered.objects))
    if (owner.podLabels["app.kubernetes.io/part-of"] !== "tidemark")
      problems.push(
        `${rendered.source} ${describe(owner.object)}: pods lack app.kubernetes.io/part-of=tidemark, which the NetworkPolicies select`,
      );
  return problems;
}

// --- docker-compose.yml ------------------------------------------------------------------------

function composeServices(): Record<string, Json> {
  const compose = parseYaml(readText("docker-compose.yml"), { merge: true }) as unknown;
  const services = at(compose, "services");
  return isObject(services)
    ? Object.fromEntries(
        Object.entries(services).filter((entry): entry is [string, Json] => isObject(entry[1])),
      )
    : {};
}

function dclintProblems(): string[] {
  try {
    execFileSync(
      path.join(root, "node_modules", ".bin", "dclint"),
      [
        "--config",
        "ops/compose/dclint.json",
        "--max-warnings",
        "0",
        "--color",
        "false",
        "docker-compose.yml",
      ],
      { cwd: root, encoding: "utf8", stdio: "pipe", env: { ...process.env, NO_COLOR: "1" } },
    );
    return [];
  } catch (error) {
    return outputOf(error)
      .split("\n")
      .filter((line) => line.trim() !== "");
  }
}

function composeProblems(): string[] {
  const problems: string[] = [];
  const services = composeServices();
  for (const [name, service] of Object.entries(services)) {
    if (!isObject(service.healthcheck)) problems.push(`docker-compose.yml ${name}: no healthcheck`);
    for (const volume of Array.isArray(service.volumes) ? service.volumes : []) {
      if (typeof volume !== "string" || !volume.startsWith("./")) continue;
      const source = volume.split(":")[0] ?? "";
      if (!existsSync(path.join(root, source)))
        problems.push(`docker-compose.yml ${name}: mounts ${source}, which does not exist`);
    }
  }
  for (const role of ALL_ROLES) {
    const service = services[role];
    const command = service?.command;
    if (service === undefined || !Array.isArray(command) || command[0] !== role)
      problems.push(`docker-compose.yml: no service running the ${role} role`);
  }
  return problems;
}

// --- monitoring ------------------------------------------------------------------------------

interface AlertRule {
  readonly alert: string;
  readonly expr: string;
}

function ruleFiles(): string[] {
  return readdirSync(path.join(root, "ops/prometheus/rules"))
    .filter((file) => file.endsWith(".yml"))
    .map((file) => `ops/prometheus/rules/${file}`);
}

function rules(): { alerts: AlertRule[]; records: string[]; exprs: string[] } {
  const alerts: AlertRule[] = [];
  const records: string[] = [];
  const exprs: string[] = [];
  for (const file of ruleFiles()) {
    for (const group of arrayAt(parseYaml(readText(file)) as unknown, "groups")) {
      for (const rule of arrayAt(group, "rules")) {
        const expr = String(rule.expr);
        exprs.push(expr);
        if (typeof rule.alert === "string") alerts.push({ alert: rule.alert, expr });
        if (typeof rule.record === "string") records.push(rule.record);
      }
    }
  }
  return { alerts, records, exprs };
}

function dashboardExprs(): { title: string; expr: string }[] {
  const dashboard = JSON.parse(readText("ops/grafana/tidemark.json")) as unknown;
  return arrayAt(dashboard, "panels").flatMap((panel) =>
    arrayAt(panel, "targets").map((target) => ({ title: String(panel.title), expr: String(target.expr) })),
  );
}

/**
 * `tidemark_*` metric names of a PromQL expression, histogram series folded into their metric;
 * not the middle of a recording rule's `level:metric:operations` name.
 */
function metricNames(expr: string): string[] {
  const names = expr.match(/(?<![\w:])tidemark_[a-z0-9_]+(?![\w:])/g) ?? [];
  return names.map((name) => name.replace(/_(bucket|sum|count)$/, ""));
}

function contractProblems(): string[] {
  const contract = new Set(
    readText("ops/prometheus/METRICS.md")
      .match(/`tidemark_[a-z0-9_]+`/g)
      ?.map((name) => name.slice(1, -1)),
  );
  const used = [
    ...rules().exprs.map((expr) => ({ where: "ops/prometheus/rules", expr })),
    ...dashboardExprs().map(({ title, expr }) => ({ where: `ops/grafana/tidemark.json "${title}"`, expr })),
  ];
  const recorded = new Set(rules().records);
  return used.flatMap(({ where, expr }) => [
    ...metricNames(expr)
      .filter((name) => !contract.has(name))
      .map((name) => `${where}: ${name} is not in ops/prometheus/METRICS.md`),
    ...(expr.match(/\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b/g) ?? [])
      .filter((name) => !recorded.has(name))
      .map((name) => `${where}: the recording rule ${name} does not exist`),
  ]);
}

function alertTestProblems(): string[] {
  const tested = new Set<string>();
  const testDirectory = path.join(root, "ops/prometheus/tests");
  for (const file of readdirSync(testDirectory).filter((entry) => entry.endsWith(".yml"))) {
    const suite = parseYaml(readFileSync(path.join(testDirectory, file), "utf8")) as unknown;
    for (const test of arrayAt(suite, "tests"))
      for (const expectation of arrayAt(test, "alert_rule_test"))
        if (Array.isArray(expectation.exp_alerts) && expectation.exp_alerts.length > 0)
          tested.add(String(expectation.alertname));
  }
  return rules()
    .alerts.filter(({ alert }) => !tested.has(alert))
    .map(({ alert }) => `${alert}: no unit test in ops/prometheus/tests expects it to fire`);
}

/** Grafana's query variables replaced, each dashboard query becomes a recording rule promtool parses. */
function dashboardQueryProblems(): string[] {
  const exprs = dashboardExprs();
  mkdirSync(scratch, { recursive: true });
  const file = path.join(scratch, "dashboard-queries.rules.yml");
  const recordingRules = exprs.map(({ expr }, index) => ({
    record: `dashboard:query_${index}`,
    expr: expr.replaceAll("$__rate_interval", "5m").replaceAll("$__interval", "1m"),
  }));
  writeFileSync(file, JSON.stringify({ groups: [{ name: "dashboard", rules: recordingRules }] }));
  try {
    execFileSync("promtool", ["check", "rules", file], { encoding: "utf8", stdio: "pipe" });
    return [];
  } catch (error) {
    const output = outputOf(error);
    return [
      `ops/grafana/tidemark.json: a query does not parse (${exprs.length} queries):`,
      ...output.split("\n").filter((line) => line.includes("FAILED") || line.includes("err")),
    ];
  }
}

function scrapeProblems(): string[] {
  const problems: string[] = [];
  const compose = readText("ops/prometheus/prometheus.yml");
  const kubernetes = readText("ops/prometheus/prometheus-kubernetes.yml");
  for (const role of ROLES) {
    if (!compose.includes(`"${role}:${METRICS_PORT}"`))
      problems.push(`ops/prometheus/prometheus.yml: does not scrape ${role}:${METRICS_PORT}`);
    if (!kubernetes.includes(`_metrics._tcp.${role}-metrics.tidemark.svc.cluster.local`))
      problems.push(`ops/prometheus/prometheus-kubernetes.yml: does not discover ${role}-metrics`);
  }
  return problems;
}

// --- Fluent Bit ------------------------------------------------------------------------------

function fluentBitProblems(): string[] {
  const problems: string[] = [];
  for (const file of ["ops/logging/fluent-bit.yaml", "ops/logging/fluent-bit-compose.yaml"]) {
    const config = parseYaml(readText(file)) as unknown;
    for (const section of ["inputs", "filters", "outputs"]) {
      const plugins = arrayAt(config, "pipeline", section);
      if (plugins.length === 0) problems.push(`${file}: pipeline.${section} is empty`);
      for (const plugin of plugins) {
        if (typeof plugin.name !== "string")
          problems.push(`${file}: a plugin of pipeline.${section} has no name`);
        if (section !== "inputs" && typeof plugin.match !== "string")
          problems.push(`${file}: ${String(plugin.name)} matches no tag`);
      }
    }
    for (const plugin of arrayAt(config, "pipeline", "filters").filter((entry) => entry.name === "lua"))
      if (!existsSync(path.join(root, "ops/logging", path.basename(String(plugin.script)))))
        problems.push(`${file}: the Lua script ${String(plugin.script)} is not in ops/logging`);
  }
  return problems;
}

// --- main ------------------------------------------------------------------------------------

if (!kubectlAvailable()) {
  console.log(
    "not ok - kubectl (its built-in kustomize renders ops/k8s) is not installed; it is part of the machine image",
  );
  process.exit(1);
}
const renderings: Rendered[] = [];
const renderProblems: string[] = [];
for (const directory of KUSTOMIZATIONS) {
  try {
    renderings.push(render(directory));
  } catch (error) {
    renderProblems.push(`${directory}: ${outputOf(error).trim()}`);
  }
}
check(`kustomize renders ${KUSTOMIZATIONS.length} kustomizations`, renderProblems);
const objectCount = renderings.reduce((count, rendered) => count + rendered.objects.length, 0);
const schema: string[] = [];
for (const rendered of renderings) schema.push(...(await schemaProblems(rendered)));
check(`${objectCount} Kubernetes objects match the Kubernetes 1.27 schema (kubernetes-models)`, schema);
check(`${objectCount} Kubernetes objects have no unknown fields`, unknownFieldProblems(renderings));
check(
  "every pod runs as non-root, read-only, without privilege escalation, with memory limits",
  renderings.flatMap(podProblems),
);
check("references between objects resolve", renderings.flatMap(referenceProblems));
const overlays = renderings.filter((rendered) => OVERLAYS.includes(rendered.source));
check(
  `overlays ${OVERLAYS.join(", ")} run every role with /health and /ready probes`,
  overlays.flatMap(roleProblems),
);
check("overlays hold no Secret and deny all traffic by default", overlays.flatMap(overlayProblems));

check("docker-compose.yml passes dclint (Compose Specification schema and rules)", dclintProblems());
check(
  "docker-compose.yml runs every role, every service has a health check, mounted files exist",
  composeProblems(),
);

check("every tidemark_* metric of the rules and the dashboard is in METRICS.md", contractProblems());
check(`every alert (${rules().alerts.length}) has a unit test that expects it to fire`, alertTestProblems());
check(`every dashboard query (${dashboardExprs().length}) parses`, dashboardQueryProblems());
check("both Prometheus configurations scrape every role", scrapeProblems());
check("the Fluent Bit configurations name their plugins and scripts", fluentBitProblems());

console.log(`check:ops manifests: ${passed} checks passed, ${failures.length} failed`);
process.exit(failures.length === 0 ? 0 : 1);
