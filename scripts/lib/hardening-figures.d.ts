// Types for hardening-figures.js (plain ESM JS, shared by test/property, test/hardening and the scripts).
export declare const FIGURES_DIR: string;

export interface Figures {
  /** Append `item` to the list `name`. */
  list(name: string, item: Record<string, unknown>): void;
  /** Set the value `name`. */
  set(name: string, value: unknown): void;
}

export interface FigureGroup {
  readonly group: string;
  readonly updated: string;
  readonly lists: Record<string, Record<string, unknown>[]>;
  readonly values: Record<string, unknown>;
}

/** Writes docs/.hardening/<group>.json only when HARDENING_FIGURES=1 or `always`. */
export function figures(group: string, opts?: { always?: boolean }): Figures;
export function readFigures(dir?: string): Record<string, FigureGroup>;
