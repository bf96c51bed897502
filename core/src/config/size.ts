/**
 * Sizes as people write them: `500MiB`, `2TB`, `10G`, or plain bytes (`1073741824`, as
 * rest-server's --max-size takes them).
 *
 * - `KiB`, `MiB`, `GiB`, `TiB`, `PiB`: powers of 1024 (IEC).
 * - `KB`, `MB`, `GB`, `TB`, `PB`: powers of 1000 (SI, as disks are sold and `df -H` counts).
 * - `K`, `M`, `G`, `T`, `P` alone: powers of 1024, as restic reads them (`restic prune
 *   --max-repack-size 10G`, `--pack-size`), so a restic user's `10G` means the same here.
 * Case does not matter (`10g`, `2tb`); a space before the unit and a trailing `B` on plain
 * bytes (`100B`) are allowed; a fraction (`1.5GiB`) is rounded down to whole bytes.
 */
const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40, pib: 2 ** 50,
  kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, pb: 1e15,
};

const SIZE = /^(\d+(?:\.\d+)?|\.\d+) ?([a-z]*)$/i;

/** The number of bytes `text` stands for, or undefined when it is not a size (or is past 2^53). */
export function parseSize(text: string): number | undefined {
  const match = SIZE.exec(text.trim());
  if (!match) return undefined;
  const unit = UNITS[match[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  // Plain integers are read exactly (no float rounding on large byte counts).
  const bytes = /^\d+$/.test(match[1]!) ? Number(match[1]) * unit : Math.floor(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** What parseSize accepts, for error messages. */
export const SIZE_FORMS = 'bytes or a size such as 500MiB, 2TB, 10G (K/M/G/T alone and KiB/MiB/GiB/TiB are powers of 1024, KB/MB/GB/TB powers of 1000)';

/** `1610612736` -> `1.5 GiB`: binary units, as restic prints sizes. */
export function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let i = 0;
  while (value >= 1024 && i < units.length - 1) {
    value /= 1024;
    i++;
  }
  return i === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0).replace(/\.0+$/, '')} ${units[i]}`;
}
