import { describe, expect, it } from "vitest";
import { HeldOutput } from "./held-output.js";

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString();

describe("HeldOutput", () => {
  it("holds output until the first subscriber, then passes it straight through", () => {
    const output = new HeldOutput(100);
    output.push(Buffer.from("early "));
    const seen: string[] = [];
    output.subscribe(
      (data) => seen.push(text(data)),
      () => seen.push("<end>"),
    );
    output.push(Buffer.from("live"));
    output.end();
    expect(seen).toEqual(["early ", "live", "<end>"]);
  });

  it("keeps at most its limit, dropping the oldest bytes and counting them", () => {
    const output = new HeldOutput(4);
    output.push(Buffer.from("abc"));
    output.push(Buffer.from("defg"));
    let dropped = -1;
    let data = "";
    output.subscribe(
      (d, lost) => {
        data = text(d);
        dropped = lost;
      },
      () => {},
    );
    expect(data).toBe("defg");
    expect(dropped).toBe(3);
  });

  it("ends a late subscriber at once after delivering what it held", () => {
    const output = new HeldOutput(100);
    output.push(Buffer.from("last words"));
    output.end();
    const seen: string[] = [];
    output.subscribe(
      (d) => seen.push(text(d)),
      () => seen.push("<end>"),
    );
    expect(seen).toEqual(["last words", "<end>"]);
  });
});
