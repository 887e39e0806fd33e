import * as Y from 'yjs';
import type {
  Decision,
  DecisionCategory,
  Plan,
  PlanProgress,
  PlanTemplate,
} from '../../shared/coach.ts';
import { DECISION_CATEGORIES } from '../../shared/coach.ts';
import { PLAN_DECISIONS, PLAN_MAP } from '../../shared/yjs-docs.ts';

/*
 * Layout of `project/<id>/plan` (SPEC, Co-editing): a Y.Map `plan` and a Y.Array `decisions`.
 * Phases, tasks and decisions are nested Y.Maps, so that a member ticking one task and the coach
 * superseding a decision touch one key each and merge with whatever else happens meanwhile.
 *
 *   plan: { templateId, title, summary, category,
 *           phases: [{ id, title, description, durationWeeks,
 *                      tasks: [{ id, title, description, estimateHours, estimateCostUsd, done }] }],
 *           tips: [string], pitfalls: [string],
 *           decisionPoints: [{ id, category, question, taskId }] }
 *   decisions: [{ id, category, statement, confidence, rationale, decidedBy, decidedByName,
 *                 sourceMessageId, status: 'active' | 'superseded', supersededBy, createdAt }]
 */

function yMapOf(entries: Record<string, unknown>): Y.Map<unknown> {
  const map = new Y.Map<unknown>();
  for (const [key, value] of Object.entries(entries)) map.set(key, value);
  return map;
}

function yArrayOf<T>(items: T[]): Y.Array<T> {
  const array = new Y.Array<T>();
  array.push(items);
  return array;
}

/**
 * Writes a template into the plan map, replacing any earlier plan (tasks start open). The
 * decisions array is left alone: what the team decided stays decided under a new plan.
 */
export function writePlanTemplate(doc: Y.Doc, template: PlanTemplate): void {
  const plan = doc.getMap<unknown>(PLAN_MAP);
  for (const key of [...plan.keys()]) plan.delete(key);
  plan.set('templateId', template.id);
  plan.set('title', template.title);
  plan.set('summary', template.summary);
  plan.set('category', template.category);
  plan.set(
    'phases',
    yArrayOf(
      template.phases.map((phase) =>
        yMapOf({
          id: phase.id,
          title: phase.title,
          description: phase.description,
          durationWeeks: phase.durationWeeks,
          tasks: yArrayOf(
            phase.tasks.map((task) =>
              yMapOf({
                id: task.id,
                title: task.title,
                description: task.description,
                estimateHours: task.estimateHours,
                estimateCostUsd: task.estimateCostUsd,
                done: false,
              }),
            ),
          ),
        }),
      ),
    ),
  );
  plan.set('tips', yArrayOf([...template.tips]));
  plan.set('pitfalls', yArrayOf([...template.pitfalls]));
  plan.set(
    'decisionPoints',
    yArrayOf(template.decisionPoints.map((point) => yMapOf({ ...point }))),
  );
}

/** Sets a task's `done` flag; false when no task has that id. */
export function setTaskDone(doc: Y.Doc, taskId: string, done: boolean): boolean {
  for (const phase of mapsIn(doc.getMap<unknown>(PLAN_MAP).get('phases'))) {
    for (const task of mapsIn(phase.get('tasks'))) {
      if (task.get('id') === taskId) {
        task.set('done', done);
        return true;
      }
    }
  }
  return false;
}

/**
 * Appends a decision; every active decision of the same category becomes superseded by it
 * (kept, with `supersededBy`), so the plan shows the history as well as what holds now.
 * A decision already in the document is left alone, so writing one again is harmless.
 */
export function appendDecision(doc: Y.Doc, decision: Decision): void {
  const decisions = doc.getArray<unknown>(PLAN_DECISIONS);
  if (mapsIn(decisions).some((existing) => existing.get('id') === decision.id)) return;
  for (const existing of mapsIn(decisions)) {
    if (existing.get('category') === decision.category && existing.get('status') === 'active') {
      existing.set('status', 'superseded');
      existing.set('supersededBy', decision.id);
    }
  }
  decisions.push([yMapOf({ ...decision })]);
}

/** The decisions as plain objects, oldest first (what a client sees in the document). */
export function readDecisions(doc: Y.Doc): Array<Record<string, unknown>> {
  return mapsIn(doc.getArray<unknown>(PLAN_DECISIONS)).map((map) => map.toJSON());
}

function mapsIn(value: unknown): Y.Map<unknown>[] {
  if (!(value instanceof Y.Array)) return [];
  return value.toArray().filter((item): item is Y.Map<unknown> => item instanceof Y.Map);
}

function stringsIn(value: unknown): string[] {
  if (!(value instanceof Y.Array)) return [];
  return value.toArray().filter((item): item is string => typeof item === 'string');
}

const str = (value: unknown, fallback = ''): string =>
  typeof value === 'string' ? value : fallback;
const num = (value: unknown): number =>
  typeof value === 'number' && Number.isFinite(value) ? value : 0;

function progressOf(tasks: Array<{ done: boolean; estimateHours: number }>): PlanProgress {
  const done = tasks.filter((task) => task.done);
  const sum = (list: typeof tasks) => list.reduce((total, task) => total + task.estimateHours, 0);
  return {
    done: done.length,
    total: tasks.length,
    ratio: tasks.length === 0 ? 0 : Math.round((done.length / tasks.length) * 1000) / 1000,
    hoursDone: sum(done),
    hoursTotal: sum(tasks),
  };
}

/**
 * The plan as the REST API returns it, with progress computed from the tasks' `done` flags.
 * Tolerant of what clients may have written: unknown shapes read as empty.
 */
export function readPlan(doc: Y.Doc, projectId: string): Plan {
  const plan = doc.getMap<unknown>(PLAN_MAP);
  const activeByCategory = new Map<string, string>();
  for (const decision of mapsIn(doc.getArray<unknown>(PLAN_DECISIONS))) {
    if (decision.get('status') === 'active') {
      activeByCategory.set(str(decision.get('category')), str(decision.get('id')));
    }
  }
  const phases = mapsIn(plan.get('phases')).map((phase) => {
    const tasks = mapsIn(phase.get('tasks')).map((task) => ({
      id: str(task.get('id')),
      title: str(task.get('title')),
      description: str(task.get('description')),
      estimateHours: num(task.get('estimateHours')),
      estimateCostUsd: num(task.get('estimateCostUsd')),
      done: task.get('done') === true,
    }));
    return {
      id: str(phase.get('id')),
      title: str(phase.get('title')),
      description: str(phase.get('description')),
      durationWeeks: num(phase.get('durationWeeks')),
      tasks,
      progress: progressOf(tasks),
    };
  });
  const decisionPoints = mapsIn(plan.get('decisionPoints')).flatMap((point) => {
    const category = point.get('category');
    if (!DECISION_CATEGORIES.includes(category as DecisionCategory)) return [];
    return [
      {
        id: str(point.get('id')),
        category: category as DecisionCategory,
        question: str(point.get('question')),
        taskId: str(point.get('taskId')),
        decisionId: activeByCategory.get(category as string) ?? null,
      },
    ];
  });
  const templateId = plan.get('templateId');
  return {
    projectId,
    templateId: typeof templateId === 'string' ? templateId : null,
    title: typeof plan.get('title') === 'string' ? (plan.get('title') as string) : null,
    summary: typeof plan.get('summary') === 'string' ? (plan.get('summary') as string) : null,
    phases,
    tips: stringsIn(plan.get('tips')),
    pitfalls: stringsIn(plan.get('pitfalls')),
    decisionPoints,
    progress: progressOf(phases.flatMap((phase) => phase.tasks)),
  };
}
