import type { DeliveryLatenciesTable } from "./DeliveryLatenciesTable.ts";
import type { FunnelCountsTable } from "./FunnelCountsTable.ts";
import type { QualifiedCountsTable } from "./QualifiedCountsTable.ts";
import type { ReportingNotificationsTable } from "./ReportingNotificationsTable.ts";

/** The reporting read model's tables (Kysely's database type for them). */
export interface ReportingTables {
  reporting_funnel_counts: FunnelCountsTable;
  reporting_qualified_counts: QualifiedCountsTable;
  reporting_delivery_latencies: DeliveryLatenciesTable;
  reporting_notifications: ReportingNotificationsTable;
}
