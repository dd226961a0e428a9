import { instant } from "../format.ts";
import { Loading } from "../parts/Loading.tsx";
import { ProblemNotice } from "../parts/ProblemNotice.tsx";
import { useApi } from "../useApi.ts";
import { routeHref } from "../useHashRoute.ts";
import type { NotificationView } from "./NotificationsPage.tsx";

interface Transition {
  readonly seq: number;
  readonly position: string;
  readonly type: string;
  readonly at: string;
  readonly statusAfter: string;
  readonly attempt: number | null;
  readonly provider: string | null;
  readonly rawStatus: string | null;
  readonly errorCode: string | null;
  readonly reason: string | null;
  readonly until: string | null;
}

/** One notification: what was sent to whom, and every step of its life. The body is shown as text. */
export function NotificationPage({ notificationId }: { readonly notificationId: string }) {
  const [loaded] = useApi<
    NotificationView & { timeline: readonly Transition[]; templateId: string; segments: number }
  >(`/notifications/${encodeURIComponent(notificationId)}`);
  if (loaded.status === "loading") return <Loading what="the notification" />;
  if (loaded.status === "failed") return <ProblemNotice error={loaded.error} />;
  const view = loaded.data;
  return (
    <section aria-labelledby="notification-title">
      <h1 id="notification-title">Notification {view.notificationId}</h1>
      <dl class="facts card">
        <dt>Account</dt>
        <dd>
          <a href={routeHref({ page: "customer", accountId: view.accountId })}>{view.accountId}</a>
        </dd>
        <dt>Status</dt>
        <dd>
          <span class={`badge ${view.status}`}>{view.status}</span>
        </dd>
        <dt>Rule</dt>
        <dd>
          {view.rule === null
            ? "none (sent through the API)"
            : `${view.rule.ruleId}, episode ${view.rule.episode}`}
        </dd>
        <dt>To</dt>
        <dd>{view.recipient}</dd>
        <dt>Message</dt>
        <dd data-testid="notification-body">{view.body ?? "withheld (needs pii:read)"}</dd>
        <dt>Template</dt>
        <dd>
          {view.templateId}, {view.segments} segment(s)
        </dd>
      </dl>
      <h2>Lifecycle</h2>
      <ol class="card timeline" data-testid="notification-timeline">
        {view.timeline.map((step) => (
          <li>
            <time dateTime={step.at}>{instant(step.at)}</time>
            <span class="event-type">{step.type}</span> → {step.statusAfter}
            <p class="note">
              {[
                step.attempt === null ? null : `attempt ${step.attempt}`,
                step.provider,
                step.rawStatus === null ? null : `raw status "${step.rawStatus}"`,
                step.errorCode === null ? null : `error ${step.errorCode}`,
                step.reason,
                step.until === null ? null : `until ${instant(step.until)}`,
                `position ${step.position}`,
              ]
                .filter((part) => part !== null)
                .join(" · ")}
            </p>
          </li>
        ))}
      </ol>
    </section>
  );
}
