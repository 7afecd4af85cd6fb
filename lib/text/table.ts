// Borderless text tables (columns separated by two spaces, the look of `ip` or `lsblk`), shared
// by the `vfio` and `vfio-vm` commands. Colour is the caller's: cells may carry ANSI codes, which
// take no width. Nothing here writes or decides colour, so pipes get exactly what was passed.
// Built from the ESC character so the source holds no control character.
const ANSI_RE = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

/** The width a string takes on a terminal (ANSI colour codes take none). */
export function visibleWidth(s: string): number {
  return [...s.replace(ANSI_RE, '')].length;
}

function pad(s: string, width: number): string {
  return s + ' '.repeat(Math.max(0, width - visibleWidth(s)));
}

/** Splits text into lines of at most `width` characters at blanks (longer words stay whole). */
export function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && visibleWidth(line) + 1 + visibleWidth(word) > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  lines.push(line);
  return lines;
}

export interface TableOptions {
  /** Put before every line (a nested table). */
  indent?: string;
  /** Applied to each header cell (bold, when the caller colours). */
  head?: (s: string) => string;
  /** Per column: wrap the cells to this many characters. */
  maxWidths?: readonly (number | undefined)[];
}

/** The table as lines joined by '\n', without trailing blanks and without a final newline. */
export function table(
  head: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  o: TableOptions = {},
): string {
  const headCells = head.map((h) => (o.head ? o.head(h) : h));
  const split = (r: readonly (string | number)[]) =>
    r.map((cell, i) => {
      const text = String(cell);
      const max = o.maxWidths?.[i];
      return max !== undefined && visibleWidth(text) > max ? wrap(text, max) : text.split('\n');
    });
  const all = [headCells.map((h) => [h]), ...rows.map(split)];
  const columns = Math.max(...all.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, i) =>
    Math.max(0, ...all.map((r) => Math.max(0, ...(r[i] ?? ['']).map(visibleWidth)))),
  );
  const out: string[] = [];
  for (const r of all) {
    const height = Math.max(1, ...r.map((c) => c.length));
    for (let l = 0; l < height; l++) {
      const cells = Array.from({ length: columns }, (_, i) => pad(r[i]?.[l] ?? '', widths[i]));
      out.push(((o.indent ?? '') + cells.join('  ')).trimEnd());
    }
  }
  return out.join('\n');
}
