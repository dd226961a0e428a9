import { performance } from "node:perf_hooks";

/** One progress line with events/s: rewritten in place on a terminal, every 5 s otherwise. */
export class ProgressLine {
  readonly #enabled: boolean;
  readonly #tty = process.stderr.isTTY;
  readonly #started = performance.now();
  #lastPrinted = 0;

  constructor(enabled: boolean) {
    this.#enabled = enabled;
  }

  show(text: string, events: number): void {
    if (!this.#enabled) return;
    const now = performance.now();
    if (now - this.#lastPrinted < (this.#tty ? 200 : 5000)) return;
    this.#lastPrinted = now;
    const rate = events / Math.max((now - this.#started) / 1000, 0.001);
    const line = `${text} (${Math.round(rate).toLocaleString("en")} events/s)`;
    process.stderr.write(this.#tty ? `\r${line}\u001b[K` : `${line}\n`);
  }

  done(): void {
    if (this.#enabled && this.#tty) process.stderr.write("\r\u001b[K");
  }
}
