import type { Page } from 'playwright-core';

/** The password the browser tests sign their users up with. */
export const PASSWORD = 'correct horse battery';

/** Logs in through the page's form and waits for the project list. */
export async function logIn(page: Page, email: string, password = PASSWORD): Promise<void> {
  await page.fill('#email', email);
  await page.fill('#password', password);
  await page.click('#login');
  await page.waitForSelector('#projects-view:not([hidden])');
}

/** Opens a project from the list and waits until its script document has synced. */
export async function openProject(page: Page, projectId: string): Promise<void> {
  await page.click(`#projects li[data-project-id="${projectId}"] button`);
  await page.waitForSelector(`#project-view[data-project-id="${projectId}"]:not([hidden])`);
  // Editable (or, for viewers, bound) once the document has synced.
  await page.waitForFunction(
    () => document.getElementById('doc-status')?.textContent === 'connected',
  );
}
