#!/usr/bin/env python3
"""Export a pathology foundation model (or DINOv2) to ONNX in the form `pcam` accepts, and write its backbone JSON.

Not run in CI. Needs: torch, timm, transformers, onnx, huggingface_hub, and access to the (gated) weights:
accept the model's terms on Hugging Face, then `huggingface-cli login` (or set HF_TOKEN).

    python scripts/export_backbone.py uni2-h                   # -> backbones/onnx/uni2-h.onnx (+ .onnx.data), backbones/uni2-h.json
    python scripts/export_backbone.py virchow2 --fp16          # float16 weights, input and output (half the disk)
    python scripts/export_backbone.py h-optimus-0 --external-data

What it writes (see docs/backbones.md):
- a graph with one input `pixel_values` float [batch,3,224,224] (dynamic batch axis) and one output: the model's
  pooled feature [batch,D] when its card extracts features with `model(x)`, else its tokens [batch,T,D];
- weights as ONNX external data (`NAME.onnx.data` beside the graph) when --external-data is given or the model
  is larger than 1.5 GB (protobuf cannot hold more than 2 GB);
- backbones/NAME.json with mean/std/input size read from the model's own preprocessing config at export time
  (timm pretrained_cfg or transformers preprocessor_config.json), token pooling and prefix tokens.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile

# name: (library, hub id, output, pooling, card)
MODELS = {
    "uni": ("timm", "hf-hub:MahmoodLab/uni", "pooled", "cls", dict(init_values=1e-5, dynamic_img_size=True)),
    "uni2-h": ("timm", "hf-hub:MahmoodLab/UNI2-h", "pooled", "cls", "uni2"),
    "virchow2": ("timm", "hf-hub:paige-ai/Virchow2", "tokens", "cls+mean", "swiglu"),
    "h-optimus-0": ("timm", "hf-hub:bioptimus/H-optimus-0", "pooled", "cls", dict(init_values=1e-5, dynamic_img_size=False)),
    "h-optimus-1": ("timm", "hf-hub:bioptimus/H-optimus-1", "pooled", "cls", dict(init_values=1e-5, dynamic_img_size=False)),
    "prov-gigapath": ("timm", "hf_hub:prov-gigapath/prov-gigapath", "pooled", "cls", {}),
    "phikon": ("transformers", "owkin/phikon", "tokens", "cls", {}),
    "phikon-v2": ("transformers", "owkin/phikon-v2", "tokens", "cls", {}),
    "hibou-b": ("transformers", "histai/hibou-b", "tokens", "cls", dict(trust_remote_code=True)),
    "hibou-l": ("transformers", "histai/hibou-L", "tokens", "cls", dict(trust_remote_code=True)),
    "dinov2-vits14": ("timm", "vit_small_patch14_dinov2.lvd142m", "tokens", "cls+mean", dict(img_size=224)),
    "dinov2-vitb14": ("timm", "vit_base_patch14_dinov2.lvd142m", "tokens", "cls+mean", dict(img_size=224)),
}


def timm_model(hub_id, card):
    import timm
    import torch
    if card == "uni2":  # the kwargs the UNI README gives for UNI2-h
        kwargs = dict(img_size=224, patch_size=14, depth=24, num_heads=24, init_values=1e-5, embed_dim=1536,
                      mlp_ratio=2.66667 * 2, num_classes=0, no_embed_class=True, mlp_layer=timm.layers.SwiGLUPacked,
                      act_layer=torch.nn.SiLU, reg_tokens=8, dynamic_img_size=True)
    elif card == "swiglu":  # Virchow2
        kwargs = dict(mlp_layer=timm.layers.SwiGLUPacked, act_layer=torch.nn.SiLU)
    else:
        kwargs = dict(card)
    model = timm.create_model(hub_id, pretrained=True, **kwargs).eval()
    cfg = timm.data.resolve_data_config(model.pretrained_cfg, model=model)
    size = int(cfg["input_size"][-1])
    patch = model.patch_embed.patch_size[0] if hasattr(model, "patch_embed") else 0
    prefix = int(getattr(model, "num_prefix_tokens", 1))
    return model, list(cfg["mean"]), list(cfg["std"]), size, patch, prefix


def hf_model(hub_id, kwargs):
    from transformers import AutoImageProcessor, AutoModel
    processor = AutoImageProcessor.from_pretrained(hub_id, **kwargs)
    model = AutoModel.from_pretrained(hub_id, **kwargs).eval()
    size = processor.crop_size["height"] if getattr(processor, "do_center_crop", False) else (
        processor.size.get("height") or processor.size.get("shortest_edge"))
    patch = getattr(model.config, "patch_size", 0)
    prefix = 1 + int(getattr(model.config, "num_register_tokens", 0) or 0)
    return model, list(processor.image_mean), list(processor.image_std), int(size), int(patch), prefix


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", choices=sorted(MODELS))
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "backbones"))
    p.add_argument("--fp16", action="store_true", help="float16 weights, input and output (export on a GPU if CPU kernels are missing)")
    p.add_argument("--external-data", action="store_true", help="weights in NAME.onnx.data beside the graph")
    p.add_argument("--opset", type=int, default=17)
    a = p.parse_args()

    import onnx
    import torch

    library, hub_id, output, pooling, extra = MODELS[a.model]
    model, mean, std, size, patch, prefix = (timm_model(hub_id, extra) if library == "timm" else hf_model(hub_id, extra))

    class Export(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, pixel_values):
            if library == "transformers":
                return self.m(pixel_values=pixel_values).last_hidden_state  # [N,T,D], token 0 = class token
            return self.m(pixel_values) if output == "pooled" else self.m.forward_features(pixel_values)

    wrapper = Export(model)
    dtype = torch.float16 if a.fp16 else torch.float32
    device = "cuda" if a.fp16 and torch.cuda.is_available() else "cpu"
    wrapper = wrapper.to(device=device, dtype=dtype)
    dummy = torch.zeros(1, 3, size, size, dtype=dtype, device=device)
    out_name = "pooler_output" if output == "pooled" and library == "timm" else "last_hidden_state"

    onnx_dir = os.path.join(a.out, "onnx")
    os.makedirs(onnx_dir, exist_ok=True)
    onnx_path = os.path.join(onnx_dir, a.model + ".onnx")
    # The exporter may write one external file per tensor (above 2 GB): export into a scratch folder, then re-save.
    scratch = tempfile.mkdtemp(dir=onnx_dir)
    tmp_path = os.path.join(scratch, "export.onnx")
    with torch.inference_mode():
        torch.onnx.export(wrapper, (dummy,), tmp_path, input_names=["pixel_values"], output_names=[out_name],
                          dynamic_axes={"pixel_values": {0: "batch"}, out_name: {0: "batch"}},
                          opset_version=a.opset, do_constant_folding=True, dynamo=False)

    params = sum(t.numel() for t in model.parameters())
    bytes_ = params * (2 if a.fp16 else 4)
    m = onnx.load(tmp_path, load_external_data=True)
    external = a.external_data or bytes_ > 1.5e9
    if external:
        onnx.save_model(m, onnx_path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=a.model + ".onnx.data", size_threshold=1024)
    else:
        onnx.save_model(m, onnx_path)
    shutil.rmtree(scratch)

    config = {
        "name": a.model, "onnxPath": f"onnx/{a.model}.onnx", "channelOrder": "RGB", "scale": 1 / 255,
        "mean": mean, "std": std, "inputSize": size, "featureOutputs": [], "tokenPooling": pooling,
        "prefixTokens": prefix, "patchSize": patch, "acceptedSizes": [size],
        "source": f"exported by scripts/export_backbone.py from {hub_id} ({library}); mean/std/input size from the model's preprocessing config",
    }
    with open(os.path.join(a.out, a.model + ".json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    print(f"{onnx_path}: {params / 1e6:.0f}M parameters, {'external data' if external else 'weights inside'}, "
          f"{'float16' if a.fp16 else 'float32'}; backbone JSON {os.path.join(a.out, a.model + '.json')}")
    print(f"try it: pcam bench featurize --backbone {os.path.join(a.out, a.model + '.json')} --image-size 0 --tta false")


if __name__ == "__main__":
    sys.exit(main())
