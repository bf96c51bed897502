import type { CAC } from 'cac';

/** `pyrestserver obscure` (to be written). */
export function registerObscure(_cli: CAC): void {}
