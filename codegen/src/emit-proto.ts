import type { Schema } from "@bufbuild/protoplugin";
import type { ServiceModel } from "./model.js";
import { byCodePoint, HEADER, jsdoc, messageTypes } from "./text.js";

/** proto/src/generated: the method table, the schema hash and the index. */
export function emitProto(schema: Schema, services: ServiceModel[], hash: string): void {
  const table = schema.generateFile("method-table.ts");
  let out = HEADER;
  out += `import { defineMethod } from "../wire/method.js";\n`;
  const byFile = new Map<string, string[]>();
  for (const ref of messageTypes(services)) {
    const names = byFile.get(ref.fileName) ?? [];
    names.push(ref.tsName);
    byFile.set(ref.fileName, names);
  }
  for (const [fileName, names] of [...byFile].sort(([a], [b]) => byCodePoint(a, b))) {
    out += `import {\n${names.map((n) => `  ${n},`).join("\n")}\n} from "./${fileName}.js";\n`;
  }
  out += `\n/** Hash of the wire-relevant schema, compared in the hello. */\nexport const SCHEMA_HASH = ${JSON.stringify(hash)};\n\n`;
  out += "/** Every rpc of every service, keyed by its name in camelCase (unique across services). */\n";
  out += "export const methods = {\n";
  for (const service of services) {
    for (const method of service.methods) {
      out += jsdoc(method.comment || `rpc ${method.fullName}`, "  ");
      out += `  ${method.localName}: defineMethod<${method.request.tsName}, ${method.response.tsName}, "${method.kind}">({\n`;
      out += `    fullName: ${JSON.stringify(method.fullName)},\n`;
      out += `    service: ${JSON.stringify(service.name)},\n`;
      out += `    name: ${JSON.stringify(method.name)},\n`;
      out += `    localName: ${JSON.stringify(method.localName)},\n`;
      out += `    kind: ${JSON.stringify(method.kind)},\n`;
      out += `    implementedBy: ${JSON.stringify(service.implementedBy)},\n`;
      out += `    request: ${method.request.tsName},\n`;
      out += `    response: ${method.response.tsName},\n`;
      out += "  }),\n";
    }
  }
  out += "} as const;\n\n";
  out += "export type MethodName = keyof typeof methods;\n\n";
  out += "/** The services, in schema order, with the names of their rpcs. */\n";
  out += "export const services = [\n";
  for (const service of services) {
    out += `  { name: ${JSON.stringify(service.name)}, typeName: ${JSON.stringify(service.typeName)}, implementedBy: ${JSON.stringify(service.implementedBy)}, methods: [${service.methods.map((m) => JSON.stringify(m.localName)).join(", ")}] as MethodName[] },\n`;
  }
  out += "] as const;\n";
  table.print(out);

  const index = schema.generateFile("index.ts");
  let idx = HEADER;
  for (const file of [...schema.files].sort((a, b) => byCodePoint(a.name, b.name))) {
    idx += `export * from "./${file.name}.js";\n`;
  }
  idx += `export * from "./method-table.js";\n`;
  index.print(idx);
}
