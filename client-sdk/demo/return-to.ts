// Google's consent page and Stripe Checkout send the browser back to `/`, a fresh load of the
// page. What the member had open is remembered for the tab so the page can open it again.

const KEY = 'reelroom.demo.returnTo';

/** Remembers the open project before the browser leaves for Google or Stripe. */
export function rememberProjectForReturn(projectId: string): void {
  sessionStorage.setItem(KEY, projectId);
}

/** The project to open again after coming back, once (the memory is cleared). */
export function takeProjectToReturnTo(): string | undefined {
  const projectId = sessionStorage.getItem(KEY) ?? undefined;
  sessionStorage.removeItem(KEY);
  return projectId;
}
