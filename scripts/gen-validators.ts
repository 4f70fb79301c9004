// Precompiles the ajv validator of every schema in schemas/ (ajv standalone code), run by
// `npm run build`: play kube then loads a ready validator (~20 ms) instead of compiling the schema
// (50-200 ms per kind). Output: dist/src/kube/validators/<schema>.cjs, tagged with the digest of
// the schema it was made from (validate.ts falls back to compiling when they differ).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import standaloneCode from 'ajv/dist/standalone/index.js';
import { LIST_KIND, SUPPORTED_KINDS, newAjv, precompiledPath, schemaDigest, schemasDir } from '../src/kube/validate.js';

for (const info of [...SUPPORTED_KINDS, LIST_KIND]) {
  const text = readFileSync(path.join(schemasDir(), info.schema), 'utf8');
  const ajv = newAjv(true);
  const code = standaloneCode.default(ajv, ajv.compile(JSON.parse(text) as object));
  const out = precompiledPath(info.schema);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${code}\nmodule.exports.schemaDigest = ${JSON.stringify(schemaDigest(text))};\n`);
}
