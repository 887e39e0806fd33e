import type * as Y from 'yjs';

/** One edit that turns `before` into `after`: delete `remove` characters at `index`, insert `insert`. */
export interface TextEdit {
  index: number;
  remove: number;
  insert: string;
}

/**
 * The smallest single edit between two strings, found by their common prefix and suffix. A
 * textarea's `input` event reports one contiguous change (typing, paste, cut, a selection
 * replaced), which this recovers exactly. Never splits a UTF-16 surrogate pair.
 */
export function diffText(before: string, after: string): TextEdit {
  let start = 0;
  const shortest = Math.min(before.length, after.length);
  while (start < shortest && before.charCodeAt(start) === after.charCodeAt(start)) start++;
  if (start > 0 && isHighSurrogate(before.charCodeAt(start - 1))) start--;
  let end = 0;
  while (
    end < shortest - start &&
    before.charCodeAt(before.length - 1 - end) === after.charCodeAt(after.length - 1 - end)
  ) {
    end++;
  }
  if (end > 0 && isLowSurrogate(before.charCodeAt(before.length - end))) end--;
  return {
    index: start,
    remove: before.length - start - end,
    insert: after.slice(start, after.length - end),
  };
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** Where a caret at `position` lands after a remote change described by a Y.Text delta. */
export function moveThroughDelta(position: number, delta: Y.YTextEvent['delta']): number {
  // `index` walks the text as it was before the change, the coordinates `position` is in.
  let index = 0;
  let moved = position;
  for (const op of delta) {
    // Changes at or after the caret leave it where it is (remote text typed right at the
    // caret goes after it).
    if (index >= position) break;
    if (op.retain !== undefined) {
      index += op.retain;
    } else if (typeof op.insert === 'string') {
      moved += op.insert.length;
    } else if (op.delete !== undefined) {
      moved -= Math.min(op.delete, position - index);
      index += op.delete;
    }
  }
  return moved;
}

/**
 * Keeps a textarea and a Y.Text equal. Local input becomes one delete-and-insert transaction;
 * remote changes rewrite the textarea and carry the caret and selection across them. Returns
 * a function that unbinds.
 */
export function bindTextarea(textarea: HTMLTextAreaElement, text: Y.Text): () => void {
  const origin = Symbol('textarea');
  textarea.value = text.toString();

  const onInput = () => {
    const edit = diffText(text.toString(), textarea.value);
    if (edit.remove === 0 && edit.insert === '') return;
    text.doc?.transact(() => {
      if (edit.remove > 0) text.delete(edit.index, edit.remove);
      if (edit.insert) text.insert(edit.index, edit.insert);
    }, origin);
  };

  const onChange = (event: Y.YTextEvent, transaction: Y.Transaction) => {
    if (transaction.origin === origin) return;
    const { selectionStart, selectionEnd, selectionDirection } = textarea;
    const focused = document.activeElement === textarea;
    textarea.value = text.toString();
    if (focused) {
      textarea.setSelectionRange(
        moveThroughDelta(selectionStart, event.delta),
        moveThroughDelta(selectionEnd, event.delta),
        selectionDirection,
      );
    }
  };

  textarea.addEventListener('input', onInput);
  text.observe(onChange);
  return () => {
    textarea.removeEventListener('input', onInput);
    text.unobserve(onChange);
  };
}
