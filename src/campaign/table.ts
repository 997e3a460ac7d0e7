/** Plain-text tables for the terminal: columns padded to their widest cell, two spaces apart. */

export function formatTable(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((cells) => cells[c].length)));
  return rows.map((cells) => cells.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
}
