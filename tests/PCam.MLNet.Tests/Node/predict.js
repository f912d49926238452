// Runs a model exported by `pcam export --format onnx` in onnxruntime-node and prints one probability per patch (JSON).
// Usage: node predict.js NAME.onnx PATCHES.u8   (PATCHES.u8: N x 96 x 96 x 3 uint8 RGB, patch after patch)
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main(modelPath, patchesPath) {
  const session = await ort.InferenceSession.create(modelPath);
  const pixels = new Uint8Array(fs.readFileSync(patchesPath));
  const n = pixels.length / (96 * 96 * 3);
  const image = new ort.Tensor('uint8', pixels, [n, 96, 96, 3]);
  const { probability } = await session.run({ image });
  console.log(JSON.stringify(Array.from(probability.data)));
}

main(process.argv[2], process.argv[3]).catch((e) => { console.error(`error: ${e.message}`); process.exit(1); });
