import type { CAC } from 'cac';

/** `pyrestserver backends` (to be written). */
export function registerBackends(_cli: CAC): void {}
