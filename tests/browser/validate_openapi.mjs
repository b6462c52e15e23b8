// validate_openapi.mjs URL|FILE — validate an OpenAPI document with
// @seriousme/openapi-schema-validator; prints {"valid", "version",
// "errors", "paths"} as JSON and exits 0 only when it is valid.
import { readFile } from "node:fs/promises";
import { Validator } from "@seriousme/openapi-schema-validator";

const src = process.argv[2];
const text = /^https?:/.test(src) ? await (await fetch(src)).text() : await readFile(src, "utf8");
const doc = JSON.parse(text);
const v = new Validator();
const res = await v.validate(doc);
console.log(JSON.stringify({ valid: res.valid, version: v.version, errors: res.errors ?? [],
  paths: Object.keys(doc.paths ?? {}) }));
process.exit(res.valid ? 0 : 1);
