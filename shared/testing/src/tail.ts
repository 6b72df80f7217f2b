// Keeps the most recent output of a child process. Children can log without bound in a long
// test run, and only the tail matters for explaining a failure.
export class TailBuffer {
  private chunks: string[] = [];
  private length = 0;

  constructor(private readonly maxChars: number) {}

  push(chunk: string): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    // Drop whole chunks while the rest still fills the cap: cheap, and text() trims the remainder.
    while (this.chunks.length > 1 && this.length - this.chunks[0]!.length >= this.maxChars) {
      this.length -= this.chunks.shift()!.length;
    }
  }

  text(): string {
    const all = this.chunks.join("");
    return all.length > this.maxChars ? all.slice(all.length - this.maxChars) : all;
  }

  lastLines(n: number): string {
    const lines = this.text().split("\n");
    if (lines.at(-1) === "") lines.pop();
    return lines.slice(-n).join("\n");
  }
}
