import * as Y from 'yjs';
import { PLAN_DECISIONS, PLAN_MAP } from '../../shared/yjs-docs.ts';
import type { ReelroomClient } from '../rest-client.ts';
import { byId, el, messageOf } from './dom.ts';

export interface PlanPanelOptions {
  client: ReelroomClient;
  projectId: string;
  /** The plan document, `project/<id>/plan`: a Y.Map `plan` and a Y.Array `decisions`. */
  doc: Y.Doc;
  /** Viewers see the plan; only editors and owners tick tasks and start a plan. */
  canEdit: boolean;
  signal: AbortSignal;
}

interface Template {
  id: string;
  title: string;
  phases: number;
  tasks: number;
  estimateHours: number;
}

const str = (value: unknown): string => (typeof value === 'string' ? value : '');
const num = (value: unknown): number => (typeof value === 'number' ? value : 0);

function maps(value: unknown): Y.Map<unknown>[] {
  if (!(value instanceof Y.Array)) return [];
  return value.toArray().filter((item): item is Y.Map<unknown> => item instanceof Y.Map);
}

function when(value: unknown): string {
  const date = new Date(str(value));
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleString();
}

/**
 * The Plan region: the plan document as a live checklist (phases, tasks, estimates, progress)
 * and the decisions, who made them and when. Ticking a task writes the task's `done` in the
 * Y doc, so every member's page follows at once. Returns what stops it.
 */
export function openPlanPanel(options: PlanPanelOptions): () => void {
  const { doc, canEdit } = options;
  const plan = doc.getMap<unknown>(PLAN_MAP);
  const decisions = doc.getArray<unknown>(PLAN_DECISIONS);
  const body = byId('plan-body');
  const decisionList = byId('decisions');
  const error = byId('plan-error');
  error.textContent = '';

  const render = () => {
    const phases = maps(plan.get('phases'));
    byId('plan-empty').hidden = phases.length > 0;
    const allTasks = phases.flatMap((phase) => maps(phase.get('tasks')));
    const done = allTasks.filter((task) => task.get('done') === true);
    const hours = (tasks: Y.Map<unknown>[]) =>
      tasks.reduce((sum, task) => sum + num(task.get('estimateHours')), 0);
    const progress = byId<HTMLProgressElement>('plan-progress');
    progress.hidden = phases.length === 0;
    progress.max = Math.max(allTasks.length, 1);
    progress.value = done.length;
    byId('plan-summary').textContent =
      phases.length === 0
        ? ''
        : `${str(plan.get('title'))}: ${done.length} of ${allTasks.length} tasks done · ${hours(done)} of ${hours(allTasks)} h`;
    body.replaceChildren(
      ...phases.map((phase) => {
        const tasks = maps(phase.get('tasks'));
        return el(
          'li',
          { className: 'phase', data: { phaseId: str(phase.get('id')) } },
          el('h3', {
            text: `${str(phase.get('title'))} · ${num(phase.get('durationWeeks'))} wk · ${tasks.filter((t) => t.get('done') === true).length}/${tasks.length}`,
          }),
          el('ul', { className: 'plain tasks' }, ...tasks.map(taskItem)),
        );
      }),
    );
    decisionList.replaceChildren(
      ...maps(decisions).map((decision) => {
        const superseded = decision.get('status') === 'superseded';
        return el(
          'li',
          { data: { status: superseded ? 'superseded' : 'active' } },
          el('span', { className: 'badge', text: str(decision.get('category')) }),
          el('span', { className: 'statement', text: ` ${str(decision.get('statement'))}` }),
          el('span', {
            className: 'muted',
            text: ` — ${str(decision.get('decidedByName')) || 'Coach'}, ${when(decision.get('createdAt'))}${superseded ? ' (superseded)' : ''}`,
          }),
        );
      }),
    );
    byId('decisions-empty').hidden = decisionList.children.length > 0;
  };

  const taskItem = (task: Y.Map<unknown>): HTMLElement => {
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = task.get('done') === true;
    box.disabled = !canEdit;
    box.addEventListener('change', () => task.set('done', box.checked));
    const estimate = [`${num(task.get('estimateHours'))} h`];
    const cost = num(task.get('estimateCostUsd'));
    if (cost > 0) estimate.push(`$${cost.toFixed(0)}`);
    const label = el(
      'label',
      { className: 'task' },
      box,
      el('span', { text: ` ${str(task.get('title'))} ` }),
      el('span', { className: 'muted', text: estimate.join(' · ') }),
    );
    return el('li', { data: { taskId: str(task.get('id')), done: String(box.checked) } }, label);
  };

  plan.observeDeep(render);
  decisions.observeDeep(render);
  render();

  // ---- templates
  const form = byId<HTMLFormElement>('plan-template-form');
  form.hidden = !canEdit;
  const select = byId<HTMLSelectElement>('plan-template');
  options.client
    .request<{ templates: Template[] }>('GET', '/coach/templates')
    .then(({ templates }) => {
      select.replaceChildren(
        ...templates.map((template) => {
          const option = el('option', {
            text: `${template.title} (${template.tasks} tasks, ${template.estimateHours} h)`,
          });
          option.value = template.id;
          return option;
        }),
      );
    })
    .catch((caught: unknown) => {
      error.textContent = `Plan templates could not be loaded: ${messageOf(caught)}`;
    });
  form.addEventListener(
    'submit',
    async (event) => {
      event.preventDefault();
      error.textContent = '';
      if (
        maps(plan.get('phases')).length > 0 &&
        !confirm('Replace the current plan? Decisions are kept.')
      ) {
        return;
      }
      try {
        await options.client.request(
          'POST',
          `/projects/${encodeURIComponent(options.projectId)}/plan`,
          { templateId: select.value },
        );
      } catch (caught) {
        error.textContent = messageOf(caught);
      }
    },
    { signal: options.signal },
  );

  return () => {
    plan.unobserveDeep(render);
    decisions.unobserveDeep(render);
  };
}
