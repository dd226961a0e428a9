/** Shown while a page's data is on its way. */
export function Loading({ what }: { readonly what: string }) {
  return (
    <p class="loading" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}
