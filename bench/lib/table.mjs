// Markdown tables for the bench's output, so figures paste into bench/README.md as printed.

/**
 * Prints a Markdown table. `columns`: header texts; a header ending in `>` is right-aligned (the
 * `>` is not printed), as numbers are. `rows`: arrays of cells (numbers printed as given).
 */
export function printTable(columns, rows, print = console.log) {
  const right = columns.map((column) => column.endsWith('>'))
  const names = columns.map((column, i) => (right[i] ? column.slice(0, -1) : column))
  print(`| ${names.join(' | ')} |`)
  print(`|${right.map((r) => (r ? '---:' : '---')).join('|')}|`)
  for (const row of rows) print(`| ${row.join(' | ')} |`)
}

/** 12345.6 → "12,346". */
export const fmtInt = (value) => Math.round(value).toLocaleString('en-US')

/** A figure with one decimal. */
export const fmt1 = (value) => value.toFixed(1)

/** A ratio, "1.23x". */
export const fmtRatio = (value) => `${value.toFixed(2)}x`
