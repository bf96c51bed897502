/** Drime Cloud backend (to be written: issue 5). */
export {};
