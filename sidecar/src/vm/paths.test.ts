import { describe, expect, it } from "vitest";
import { assertGuestPath } from "./paths.js";

describe("assertGuestPath", () => {
  it("accepts absolute normalised paths", () => {
    for (const path of ["/", "/tmp", "/home/user/a.txt", "/a b/ü"]) expect(assertGuestPath(path)).toBe(path);
  });

  it.each([
    ["", /empty/],
    ["tmp/x", /relative; pass an absolute path \(for example "\/home\/user\/tmp\/x"\)/],
    ["/a/../b", /not normalised; pass "\/b"/],
    ["/a//b", /not normalised; pass "\/a\/b"/],
    ["/a/./b", /not normalised/],
    ["/a/", /not normalised; pass "\/a"/],
    ["/a\0b", /NUL/],
    [`/${"x".repeat(5000)}`, /longer than 4096/],
  ])("refuses %j", (path, message) => {
    expect(() => assertGuestPath(path)).toThrow(message);
    try {
      assertGuestPath(path);
    } catch (error) {
      expect(error).toMatchObject({ code: "INVALID_ARGUMENT", errno: "EINVAL" });
    }
  });
});
