/** The element with `id`, which the page must have. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`demo page: no #${id}`);
  return element as T;
}

/** A new element with a class, text and data attributes. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  options: { className?: string; text?: string; data?: Record<string, string> } = {},
  ...children: Node[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (options.className) element.className = options.className;
  if (options.text !== undefined) element.textContent = options.text;
  for (const [key, value] of Object.entries(options.data ?? {})) element.dataset[key] = value;
  element.append(...children);
  return element;
}

/** The message of anything thrown, for showing on the page. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
