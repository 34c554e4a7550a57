import type { ContentBlock } from "@agentclientprotocol/sdk";

/** The text Pi is prompted with: text blocks and embedded text resources, in order. */
export function promptText(blocks: readonly ContentBlock[]): string {
  const parts: string[] = [];
  for (const block of blocks) {
    if (block.type === "text") parts.push(block.text);
    else if (block.type === "resource" && "text" in block.resource) {
      parts.push(`<resource uri="${block.resource.uri}">\n${block.resource.text}\n</resource>`);
    } else if (block.type === "resource_link") parts.push(`[${block.name}](${block.uri})`);
  }
  return parts.join("\n\n");
}

/** The text parts of a Pi tool result (`{ content: [{type:"text", text}] }`). */
export function toolResultText(result: unknown): string {
  const content = (result as { content?: unknown } | undefined)?.content;
  if (!Array.isArray(content)) return "";
  return content
    .filter((c): c is { type: "text"; text: string } => c?.type === "text" && typeof c.text === "string")
    .map((c) => c.text)
    .join("");
}
