// Validates an AsyncAPI document with the reference parser (@asyncapi/parser, pinned in
// package.json): prints every diagnostic of severity error and exits 1 when there is one,
// or when the parser made no document of it; exits 0 when it is valid.
//   node validate.mjs <document.json>
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const path = process.argv[2];
if (!path) {
  console.error("usage: node validate.mjs <asyncapi document>");
  process.exit(2);
}
const { document, diagnostics } = await new Parser().parse(await readFile(path, "utf8"));
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
for (const d of errors) {
  console.log(`error ${d.code} at ${d.path.join("/") || "(document)"}: ${d.message}`);
}
const warnings = diagnostics.length - errors.length;
if (errors.length > 0 || document === undefined) {
  console.log(`invalid: ${errors.length} errors, ${warnings} other diagnostics`);
  process.exit(1);
}
console.log(`valid AsyncAPI ${document.version()}: ${document.channels().length} channels, ` +
  `${document.allMessages().length} messages, ${warnings} non-error diagnostics`);
