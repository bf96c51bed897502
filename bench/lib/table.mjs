// Plain-text tables for benchmark output.

/**
 * Renders rows (arrays of cells; undefined shows as "-") under `headers`; the first column is
 * left-aligned, the others right-aligned. With `markdown`, as a Markdown table.
 */
export function formatTable(headers, rows, { markdown = false } = {}) {
  const cells = [headers, ...rows].map((row) => row.map((c) => (c === undefined || c === null ? '-' : String(c))));
  const widths = headers.map((_, i) => Math.max(3, ...cells.map((row) => row[i].length)));
  const join = (parts) => (markdown ? `| ${parts.join(' | ')} |` : parts.join('  '));
  const line = (row) => join(row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))));
  const rule = join(widths.map((w, i) => (markdown && i > 0 ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))));
  return [line(cells[0]), rule, ...cells.slice(1).map(line)].join('\n');
}

/** A number with `digits` decimals, or undefined (shown as "-") when not a finite number. */
export function fixed(value, digits = 1) {
  return Number.isFinite(value) ? value.toFixed(digits) : undefined;
}

/** Bytes as MiB with one decimal. */
export function mib(bytes) {
  return fixed(bytes / 2 ** 20, 1);
}
