/**
 * Replaces `node-gyp-build` inside the bundle. A single executable cannot load `.node` files from
 * node_modules, so addons are looked up, in order: $FIELDGATE_NATIVE_DIR, `native/` beside the
 * executable, `linux-<target>/native/` beside it (the dist/ layout), then the executable's embedded
 * SEA assets (written once to a private cache dir, since dlopen needs a file).
 * Kept as plain CommonJS text: it runs inside the SEA where require() only reaches built-ins.
 */
export const NATIVE_LOADER_SOURCE = String.raw`
"use strict";
const path = require("path");
const fs = require("fs");
const os = require("os");
const TARGET = { x64: "x64", arm64: "arm64", arm: "armv7" }[process.arch] || process.arch;
function dirs() {
  const exeDir = path.dirname(process.execPath);
  const out = [];
  if (process.env.FIELDGATE_NATIVE_DIR) out.push(process.env.FIELDGATE_NATIVE_DIR);
  out.push(path.join(exeDir, "native"), path.join(exeDir, "linux-" + TARGET, "native"));
  return out;
}
function fromAsset(file) {
  let sea;
  try { sea = require("node:sea"); } catch { return null; }
  if (!sea.isSea()) return null;
  let data;
  try { data = Buffer.from(sea.getRawAsset(file)); } catch { return null; }
  const hash = require("crypto").createHash("sha256").update(data).digest("hex").slice(0, 16);
  const base = process.env.XDG_RUNTIME_DIR || process.env.STATE_DIRECTORY || os.tmpdir();
  const dir = path.join(base, "fieldgate-native-" + (process.getuid ? process.getuid() : 0));
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const out = path.join(dir, hash + "-" + file);
  if (!fs.existsSync(out)) {
    const tmp = out + "." + process.pid;
    fs.writeFileSync(tmp, data, { mode: 0o500 });
    fs.renameSync(tmp, out);
  }
  return out;
}
const cache = new Map();
module.exports = function loadNative(name) {
  if (cache.has(name)) return cache.get(name);
  const file = name + ".node";
  const tried = [];
  let found = null;
  for (const d of dirs()) {
    const p = path.join(d, file);
    tried.push(p);
    if (fs.existsSync(p)) { found = p; break; }
  }
  if (!found) found = fromAsset(file);
  if (!found) {
    const err = new Error("native addon " + file + " not found; looked in " + tried.join(", ") + " and the embedded assets. Install the native/ folder beside the executable (hardware/install.sh does).");
    err.code = "EXE_NATIVE_MISSING";
    throw err;
  }
  const mod = { exports: {} };
  process.dlopen(mod, found);
  cache.set(name, mod.exports);
  return mod.exports;
};
`
