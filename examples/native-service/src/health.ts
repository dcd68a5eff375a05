// Each check exercises one native addon for real, so /healthz fails if any of them cannot load or run.
import path from "node:path";
import * as bcrypt from "bcrypt";
import Database from "better-sqlite3";
import sharp from "sharp";

// The addon is found from the package root (dist/..), not from the working directory.
const addonPath = path.resolve(__dirname, "..", "native", "build", "Release", "checksum.node");

interface ChecksumAddon {
  fnv1a(text: string): string;
}

async function checkBcrypt(): Promise<{ verified: boolean }> {
  // 4 rounds is bcrypt's minimum: enough to run the native code without slowing every probe.
  const hash = await bcrypt.hash("correct horse", 4);
  return { verified: await bcrypt.compare("correct horse", hash) };
}

function checkSqlite(): { version: string; answer: number } {
  const db = new Database(":memory:");
  try {
    const row = db.prepare("SELECT sqlite_version() AS version, 6 * 7 AS answer").get();
    return row as { version: string; answer: number };
  } finally {
    db.close();
  }
}

async function checkSharp(): Promise<{ libvips: string; png_bytes: number }> {
  const background = { r: 0, g: 128, b: 255 };
  const png = await sharp({ create: { width: 4, height: 4, channels: 3, background } })
    .png()
    .toBuffer();
  return { libvips: sharp.versions.vips, png_bytes: png.length };
}

function checkAddon(): { fnv1a: string } {
  const addon = require(addonPath) as ChecksumAddon;
  return { fnv1a: addon.fnv1a("node-pipelines") };
}

export async function health(): Promise<Record<string, unknown>> {
  return {
    status: "ok",
    node: process.version,
    arch: process.arch,
    bcrypt: await checkBcrypt(),
    sqlite: checkSqlite(),
    sharp: await checkSharp(),
    addon: checkAddon(),
  };
}
