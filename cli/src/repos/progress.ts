/**
 * Progress of a long walk on stderr: nothing for the first second (a small store prints
 * nothing), then a line redrawn in place on a terminal, or a plain line every 5 s otherwise.
 */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export class Progress {
  found = 0;
  done = 0;
  files = 0;
  readonly #stream: ProgressStream;
  readonly #start: NodeJS.Timeout;
  #repeat: NodeJS.Timeout | undefined;
  #shown = false;

  constructor(stream: ProgressStream, { quietMs = 1000, everyMs = stream.isTTY ? 200 : 5000 } = {}) {
    this.#stream = stream;
    this.#start = setTimeout(() => {
      this.#show();
      this.#repeat = setInterval(() => this.#show(), everyMs);
      this.#repeat.unref();
    }, quietMs);
    this.#start.unref();
  }

  get line(): string {
    return `counting: ${this.done} of ${this.found} repositories, ${this.files} files`;
  }

  #show(): void {
    this.#shown = true;
    this.#stream.write(this.#stream.isTTY ? `\r\x1b[K${this.line}` : `${this.line}\n`);
  }

  stop(): void {
    clearTimeout(this.#start);
    clearInterval(this.#repeat);
    if (this.#shown && this.#stream.isTTY) this.#stream.write('\r\x1b[K');
  }
}
