import { useEffect, useState } from "preact/hooks";

/** A console page and its parameters, as the URL's fragment names it (`#/customer/acc-1`). */
export type Route =
  | { readonly page: "overview" }
  | { readonly page: "customer"; readonly accountId: string | null }
  | { readonly page: "notifications" }
  | { readonly page: "notification"; readonly notificationId: string }
  | { readonly page: "operations" }
  | { readonly page: "rules" };

/** The route of a fragment; anything unknown is the overview. */
export function parseRoute(hash: string): Route {
  const [page = "", id] = hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  switch (page) {
    case "customer":
      return { page: "customer", accountId: id === undefined || id === "" ? null : id };
    case "notifications":
      return id === undefined || id === ""
        ? { page: "notifications" }
        : { page: "notification", notificationId: id };
    case "operations":
      return { page: "operations" };
    case "rules":
      return { page: "rules" };
    default:
      return { page: "overview" };
  }
}

/** The fragment of a route: what links and `navigate` use. */
export function routeHref(route: Route): string {
  switch (route.page) {
    case "customer":
      return route.accountId === null ? "#/customer" : `#/customer/${encodeURIComponent(route.accountId)}`;
    case "notification":
      return `#/notifications/${encodeURIComponent(route.notificationId)}`;
    case "overview":
    case "notifications":
    case "operations":
    case "rules":
      return `#/${route.page}`;
  }
}

export function navigate(route: Route): void {
  location.hash = routeHref(route);
}

/** The current route, following the fragment. */
export function useHashRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const follow = () => setRoute(parseRoute(location.hash));
    addEventListener("hashchange", follow);
    return () => removeEventListener("hashchange", follow);
  }, []);
  return route;
}
