export * from "./generated/index.js";
export * from "./wire/frame-codec.js";
export * from "./wire/frame-writer.js";
export * from "./wire/method.js";
export * from "./wire/peer.js";
export * from "./wire/rpc-error.js";
