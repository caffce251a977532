// Validate glTF/GLB files with the Khronos glTF-Validator (npm gltf-validator); prints one JSON report
// per file, one per line. Usage: node tools/validate_gltf.mjs FILE [FILE ...]
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import validator from "gltf-validator";

for (const file of process.argv.slice(2)) {
  const report = await validator.validateBytes(new Uint8Array(readFileSync(file)), {
    uri: basename(file),
    maxIssues: 100,
  });
  console.log(JSON.stringify(report));
}
