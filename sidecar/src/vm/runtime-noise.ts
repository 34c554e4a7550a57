/**
 * The WebAssembly shell of @rivet-dev/agent-os-posix 0.1.0 prints this
 * warning on stderr every time it starts a child process (a runtime bug, see
 * NOTES.md). It is not the guest program's output, so it is removed; only
 * these exact bytes are, anything else passes untouched.
 */
const NOISE = Buffer.from("\x1b[33m WARN\x1b[0m could not retrieve pid for child process\n");
const NOISE_ON_TTY = Buffer.from("\x1b[33m WARN\x1b[0m could not retrieve pid for child process\r\n");

export function stripRuntimeNoise(data: Uint8Array): Uint8Array {
  let buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (const noise of [NOISE, NOISE_ON_TTY]) {
    let at = buffer.indexOf(noise);
    if (at < 0) continue;
    const parts: Buffer[] = [];
    let from = 0;
    while (at >= 0) {
      parts.push(buffer.subarray(from, at));
      from = at + noise.length;
      at = buffer.indexOf(noise, from);
    }
    parts.push(buffer.subarray(from));
    buffer = Buffer.concat(parts);
  }
  return buffer;
}
