/** A duration as history shows it: `0.4s`, `42s`, `3m20s`, `5h12m`, `2d3h`. */
export function formatElapsed(ms: number): string {
  if (ms < 1_000) return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
  const seconds = Math.floor(ms / 1000);
  const units: [number, string][] = [
    [86_400, 'd'],
    [3_600, 'h'],
    [60, 'm'],
    [1, 's'],
  ];
  const index = units.findIndex(([size]) => seconds >= size);
  const [size, unit] = units[index] ?? [1, 's'];
  const [smaller, smallerUnit] = units[index + 1] ?? [0, ''];
  const rest = smaller === 0 ? 0 : Math.floor((seconds % size) / smaller);
  return `${Math.floor(seconds / size)}${unit}${rest > 0 ? `${rest}${smallerUnit}` : ''}`;
}
