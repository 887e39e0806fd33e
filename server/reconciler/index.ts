export {
  type ReconcilePass,
  Reconciler,
  type ReconcilerOptions,
  type Repair,
} from './reconciler.ts';
