#!/usr/bin/env node
import { createEcmaScriptPlugin, runNodeJs } from "@bufbuild/protoplugin";
import { emitProto } from "./emit-proto.js";
import { emitSide } from "./emit-side.js";
import { buildModel } from "./model.js";
import { schemaHash } from "./schema-hash.js";

type Side = "proto" | "sidecar" | "client";

interface Options {
  side: Side;
}

function parseOptions(raw: { key: string; value: string }[]): Options {
  let side: Side | undefined;
  for (const { key, value } of raw) {
    if (key !== "side") throw new Error(`unknown option ${key}; protoc-gen-agentos takes side=proto|sidecar|client`);
    if (value !== "proto" && value !== "sidecar" && value !== "client") {
      throw new Error(`side=${value} is not one of proto, sidecar, client`);
    }
    side = value;
  }
  if (!side) throw new Error("protoc-gen-agentos needs side=proto|sidecar|client");
  return { side };
}

const plugin = createEcmaScriptPlugin<Options>({
  name: "protoc-gen-agentos",
  version: "v1",
  parseOptions,
  generateTs(schema) {
    const services = buildModel(schema.files);
    const { side } = schema.options;
    if (side === "proto") emitProto(schema, services, schemaHash(schema.files));
    else emitSide(schema, services, side);
  },
});

runNodeJs(plugin);
