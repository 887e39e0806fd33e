import { defaultKeymap } from '@codemirror/commands';
import { EditorState, type Extension, RangeSetBuilder } from '@codemirror/state';
import {
  Decoration,
  type DecorationSet,
  drawSelection,
  EditorView,
  keymap,
  placeholder,
  ViewPlugin,
  type ViewUpdate,
} from '@codemirror/view';
import { yCollab, yUndoManagerKeymap } from 'y-codemirror.next';
import type { Awareness } from 'y-protocols/awareness';
import * as Y from 'yjs';

export interface ScriptEditorOptions {
  /** Where the editor goes; it gets `reelroomEditor` (the EditorView) for scripts and tests. */
  parent: HTMLElement;
  /** The `script` Y.Text of `project/<id>/script`. */
  text: Y.Text;
  /** The provider's awareness: remote cursors and selections, with each member's name. */
  awareness: Awareness;
  /** Viewers read the script live but cannot change it. */
  readOnly: boolean;
  /** Called after every change of the text, local or remote. */
  onChange?: (text: string) => void;
}

const separator = Decoration.line({ class: 'cm-rr-separator' });
const title = Decoration.line({ class: 'cm-rr-title' });
const note = Decoration.line({ class: 'cm-rr-note' });

/**
 * Line decorations for the Script format (SPEC, Script format): `---` separators, a scene's first
 * line starting with `# ` (its title), and `//` notes. Scripts are short, so every change
 * re-reads the whole text; the title rule depends on what came before in the scene.
 */
function scriptHighlighting(view: EditorView): DecorationSet {
  const builder = new RangeSetBuilder<Decoration>();
  let sceneStarted = false;
  for (let number = 1; number <= view.state.doc.lines; number++) {
    const line = view.state.doc.line(number);
    const trimmed = line.text.trim();
    if (trimmed === '---') {
      builder.add(line.from, line.from, separator);
      sceneStarted = false;
    } else if (trimmed.startsWith('//')) {
      builder.add(line.from, line.from, note);
    } else if (trimmed !== '') {
      if (!sceneStarted && trimmed.startsWith('# ')) builder.add(line.from, line.from, title);
      sceneStarted = true;
    }
  }
  return builder.finish();
}

const scriptFormat = ViewPlugin.fromClass(
  class {
    decorations: DecorationSet;
    constructor(view: EditorView) {
      this.decorations = scriptHighlighting(view);
    }
    update(update: ViewUpdate) {
      if (update.docChanged) this.decorations = scriptHighlighting(update.view);
    }
  },
  { decorations: (plugin) => plugin.decorations },
);

const theme = EditorView.theme({
  '&': { minHeight: '420px', fontSize: '15px' },
  '.cm-content': { fontFamily: 'ui-monospace, "SFMono-Regular", Menlo, monospace' },
  '.cm-scroller': { lineHeight: '1.6' },
  '.cm-rr-title': { fontWeight: '700', color: '#1d3a8a' },
  '.cm-rr-separator': { color: '#5c6370', letterSpacing: '.3em' },
  '.cm-rr-note': { color: '#5c6370', fontStyle: 'italic' },
});

/**
 * The script editor: CodeMirror 6 bound to the Y.Text with y-codemirror.next (remote cursors
 * from awareness, per-user undo through a Y.UndoManager that only undoes this member's edits).
 * Returns what destroys it.
 */
export function openScriptEditor(options: ScriptEditorOptions): () => void {
  const undoManager = new Y.UndoManager(options.text);
  const extensions: Extension[] = [
    keymap.of([...yUndoManagerKeymap, ...defaultKeymap]),
    drawSelection(),
    EditorView.lineWrapping,
    scriptFormat,
    theme,
    yCollab(options.text, options.awareness, { undoManager }),
    EditorView.contentAttributes.of({
      'aria-label': 'Script',
      'aria-multiline': 'true',
      // A read-only editor is not contenteditable: a tab stop keeps it reachable and
      // scrollable from the keyboard (axe: scrollable-region-focusable).
      ...(options.readOnly ? { 'aria-readonly': 'true', tabindex: '0' } : {}),
    }),
  ];
  if (options.readOnly) {
    extensions.push(EditorState.readOnly.of(true), EditorView.editable.of(false));
  } else {
    extensions.push(placeholder('Write the video script together… (# title, --- between scenes)'));
  }
  if (options.onChange) {
    const onChange = options.onChange;
    extensions.push(
      EditorView.updateListener.of((update) => {
        if (update.docChanged) onChange(update.state.doc.toString());
      }),
    );
  }
  const view = new EditorView({
    parent: options.parent,
    state: EditorState.create({ doc: options.text.toString(), extensions }),
  });
  Object.assign(options.parent, { reelroomEditor: view });
  options.onChange?.(view.state.doc.toString());
  return () => {
    view.destroy();
    undoManager.destroy();
    Object.assign(options.parent, { reelroomEditor: undefined });
    options.parent.replaceChildren();
  };
}
