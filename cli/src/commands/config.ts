import type { CAC } from 'cac';

/** `pyrestserver config` (to be written). */
export function registerConfig(_cli: CAC): void {}
