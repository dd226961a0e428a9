import { useEffect, useState } from "preact/hooks";
import { type Caller, forgetKey, getJson, storedKey } from "./api.ts";
import { CustomerPage } from "./pages/CustomerPage.tsx";
import { NotificationPage } from "./pages/NotificationPage.tsx";
import { NotificationsPage } from "./pages/NotificationsPage.tsx";
import { OperationsPage } from "./pages/OperationsPage.tsx";
import { OverviewPage } from "./pages/OverviewPage.tsx";
import { RulesPage } from "./pages/RulesPage.tsx";
import { SignInPage } from "./pages/SignInPage.tsx";
import { Loading } from "./parts/Loading.tsx";
import { type Route, routeHref, useHashRoute } from "./useHashRoute.ts";

const NAVIGATION: readonly { readonly label: string; readonly route: Route }[] = [
  { label: "Overview", route: { page: "overview" } },
  { label: "Customer", route: { page: "customer", accountId: null } },
  { label: "Notifications", route: { page: "notifications" } },
  { label: "Rules", route: { page: "rules" } },
  { label: "Operations", route: { page: "operations" } },
];

/** The console: sign-in until a key is accepted, then the pages behind a navigation bar. */
export function App() {
  const [caller, setCaller] = useState<Caller | null | "checking">(storedKey() === null ? null : "checking");
  useEffect(() => {
    if (caller !== "checking") return;
    getJson<Caller>("/me").then(setCaller, () => {
      forgetKey();
      setCaller(null);
    });
  }, [caller]);
  if (caller === "checking") return <Loading what="your session" />;
  if (caller === null) return <SignInPage onSignedIn={setCaller} />;
  const signOut = () => {
    forgetKey();
    setCaller(null);
  };
  return <SignedIn caller={caller} onSignOut={signOut} />;
}

function SignedIn({ caller, onSignOut }: { readonly caller: Caller; readonly onSignOut: () => void }) {
  const route = useHashRoute();
  const current = route.page === "notification" ? "notifications" : route.page;
  return (
    <>
      <header class="bar">
        <span class="brand">Tidemark</span>
        <nav aria-label="Pages">
          {NAVIGATION.map((item) => (
            <a href={routeHref(item.route)} aria-current={item.route.page === current ? "page" : undefined}>
              {item.label}
            </a>
          ))}
        </nav>
        <span class="who">
          {caller.name} · {caller.scopes.join(", ")}
          <button type="button" onClick={onSignOut}>
            Sign out
          </button>
        </span>
      </header>
      <main>
        <Page route={route} caller={caller} />
      </main>
    </>
  );
}

function Page({ route, caller }: { readonly route: Route; readonly caller: Caller }) {
  switch (route.page) {
    case "overview":
      return <OverviewPage />;
    case "customer":
      return <CustomerPage accountId={route.accountId} caller={caller} />;
    case "notifications":
      return <NotificationsPage />;
    case "notification":
      return <NotificationPage notificationId={route.notificationId} />;
    case "operations":
      return <OperationsPage caller={caller} />;
    case "rules":
      return <RulesPage caller={caller} />;
  }
}
