// Text that arrives in chunks (a socket, a serial port) cut into lines: a chunk may end inside a
// line, so the unfinished tail is held back until the chunk that completes it.

/** Splits a stream of text into lines, holding back an unfinished last line. */
export class LineSplitter {
  private tail = '';

  /** The lines that `chunk` completes, without their newlines. */
  push(chunk: string): string[] {
    const lines = (this.tail + chunk).split('\n');
    this.tail = lines.pop() ?? ''; // split() gives at least one part
    return lines;
  }

  /** The unfinished line held back ('' when the text so far ended with a newline). */
  get pending(): string {
    return this.tail;
  }
}
