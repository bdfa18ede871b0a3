/** Edit distance between two short strings, a swap of neighbours counting as one edit (for "did you mean"). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** The name (a command, a config key) a misspelt one most likely meant (at most two edits away, or a prefix), if any. */
export function didYouMean(name: string, names: string[]): string | undefined {
  const visible = names.filter((n) => !n.startsWith("_"));
  const scored = visible.map((n) => [n, n.startsWith(name) && name.length >= 2 ? 0 : distance(name, n)] as const).sort((a, b) => a[1] - b[1]);
  return scored[0] && scored[0][1] <= 2 ? scored[0][0] : undefined;
}
