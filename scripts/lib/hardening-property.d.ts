// Types for hardening-property.js.
import type { IRawProperty, Parameters, RunDetails } from 'fast-check';
import type { Figures } from './hardening-figures.js';

export function checkProperty<Ts>(fig: Figures, name: string, property: IRawProperty<Ts>, params?: Parameters<Ts>): Promise<RunDetails<Ts>>;
