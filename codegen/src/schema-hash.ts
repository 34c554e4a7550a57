import { createHash } from "node:crypto";
import type { DescFile } from "@bufbuild/protobuf";
import { clone, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";

/**
 * Hash of everything in the schema that affects the wire: the file
 * descriptors without their source info (comments and positions), in name
 * order. Client and sidecar compare it in the hello.
 */
export function schemaHash(files: readonly DescFile[]): string {
  const hash = createHash("sha256");
  for (const file of [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const proto = clone(FileDescriptorProtoSchema, file.proto);
    proto.sourceCodeInfo = undefined;
    hash.update(file.name);
    hash.update(toBinary(FileDescriptorProtoSchema, proto));
  }
  return `sha256:${hash.digest("hex").slice(0, 32)}`;
}
