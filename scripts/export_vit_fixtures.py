#!/usr/bin/env python3
"""Export tiny random-weight ViTs with torch.onnx.export: real exporter graphs for pcam's tests and benchmarks.

Not run by pcam, the tests or CI (the .onnx files it writes are committed). Needs Debian's python3-torch,
python3-torchvision and python3-onnx (torch 1.13, exporter opsets <= 17):

    /usr/bin/python3 scripts/export_vit_fixtures.py                       # -> tests/PCam.MLNet.Tests/Fixtures/vit/
    /usr/bin/python3 scripts/export_vit_fixtures.py --sized vit-s16 --out /tmp/vit   # ViT-S/16-sized (88 MB; do not commit)
    /usr/bin/python3 scripts/export_vit_fixtures.py --sized vit-b16 --out /tmp/vit   # ViT-B/16-sized (343 MB)

Each export gets a backbone JSON beside it (the format scripts/export_backbone.py writes: onnxPath relative to the
JSON, ImageNet mean/std, inputSize 224, tokenPooling, prefixTokens, patchSize, acceptedSizes [224]).

The fixtures (all 224 px, patch 16, 2 blocks, 4 heads, seeded random weights):
- tv-vit-pooled:   torchvision.models.VisionTransformer (hidden 96, MLP 192), heads = Identity -> class token [N,96];
                   opset 17 (LayerNormalization); nn.MultiheadAttention as the exporter writes it (int64 shape
                   arithmetic Shape->Gather->Unsqueeze->Concat->Reshape, Expand of the class token).
- tv-vit-tokens:   the same model's encoder output [N,197,96] (the token sequence; pcam pools "cls+mean": 192 features).
- reg-vit-tokens:  a timm/HF-style ViT written here (hidden 64, MLP 256, class token + 4 register tokens, fused qkv
                   Linear, q @ k^T * scale -> Softmax -> @ v, Erf GELU), opset 14 so LayerNorm is decomposed
                   (ReduceMean/Sub/Pow/Sqrt/Div) -> tokens [N,201,64], prefixTokens 5.
- tv-vit-pooled-b1: tv-vit-pooled exported with a fixed batch of 1 (no dynamic axis).
- drift-vit:       deliberately int8-hostile (for the fallback test): patch embedding, then one activation channel
                   offset by 10^4 (an "outlier feature", as large pretrained ViTs have) feeding a Linear that ignores
                   it; per-tensor uint8 quantisation of that Linear's input wipes out the other channels, so int8
                   features drift from fp32 and pcam must fall back. Pooled mean of tokens [N,32], opset 17.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "tests", "PCam.MLNet.Tests", "Fixtures", "vit")
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


class TorchvisionTokens(nn.Module):
    """torchvision's VisionTransformer up to the encoder: the [N,T,D] token sequence (class token first)."""

    def __init__(self, vit):
        super().__init__()
        self.vit = vit

    def forward(self, x):
        x = self.vit._process_input(x)
        cls = self.vit.class_token.expand(x.shape[0], -1, -1)
        return self.vit.encoder(torch.cat([cls, x], dim=1))


class Attention(nn.Module):
    """timm's Attention: fused qkv, explicit q @ k^T * scale -> softmax -> @ v (no fused kernel in the export)."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, c = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(dim, eps=1e-6), Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))  # nn.GELU = Erf form

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class RegisterViT(nn.Module):
    """timm/HF (DINOv2-with-registers) layout: [cls, registers, patches]; position embedding on cls + patches."""

    def __init__(self, dim=64, depth=2, heads=4, mlp=256, patch=16, size=224, registers=4):
        super().__init__()
        n = (size // patch) ** 2
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.reg_token = nn.Parameter(torch.randn(1, registers, dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.blocks = nn.ModuleList([Block(dim, heads, mlp) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        b = x.shape[0]
        x = torch.cat([self.cls_token.expand(b, -1, -1), x], dim=1) + self.pos_embed
        x = torch.cat([x[:, :1], self.reg_token.expand(b, -1, -1), x[:, 1:]], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)


class DriftViT(nn.Module):
    def __init__(self, dim=32, patch=16):
        super().__init__()
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        offset = torch.zeros(1, 1, dim)
        offset[0, 0, 0] = 1e4
        self.register_buffer("outlier", offset)
        self.fc = nn.Linear(dim, dim)
        with torch.no_grad():
            self.fc.weight[:, 0] = 0  # the outlier channel does not reach the output in fp32
            self.fc.bias.zero_()

    def forward(self, x):
        x = self.patch_embed(x).flatten(2).transpose(1, 2) + self.outlier
        return self.fc(x).mean(dim=1)


def torchvision_vit(hidden, layers, heads, mlp):
    from torchvision.models import VisionTransformer
    vit = VisionTransformer(image_size=224, patch_size=16, num_layers=layers, num_heads=heads, hidden_dim=hidden,
                            mlp_dim=mlp)
    vit.heads = nn.Identity()  # pooled output = the class token after the final LayerNorm
    # torchvision zero-initialises the class token; give it values so the fixture is not degenerate.
    with torch.no_grad():
        vit.class_token.normal_(0, 0.02)
    return vit.eval()


def export(model, name, out, output, pooling, prefix, opset, dynamic=True, note=""):
    path = os.path.join(out, name + ".onnx")
    out_name = "pooler_output" if output == "pooled" else "last_hidden_state"
    dummy = torch.randn(1, 3, 224, 224)
    axes = {"pixel_values": {0: "batch"}, out_name: {0: "batch"}} if dynamic else None
    # Grad mode on: with it off, nn.MultiheadAttention takes its fused fast path, which torch 1.13 cannot export.
    torch.onnx.export(model, (dummy,), path, input_names=["pixel_values"], output_names=[out_name],
                      dynamic_axes=axes, opset_version=opset, do_constant_folding=True)
    import onnx
    onnx.checker.check_model(onnx.load(path))
    config = {
        "name": name, "onnxPath": name + ".onnx", "channelOrder": "RGB", "scale": 1 / 255,
        "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "inputSize": 224, "featureOutputs": [],
        "tokenPooling": pooling, "prefixTokens": prefix, "patchSize": 16, "acceptedSizes": [224],
        "source": f"scripts/export_vit_fixtures.py: {note} (random weights, torch {torch.__version__}, opset {opset})",
    }
    with open(os.path.join(out, name + ".json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    size = os.path.getsize(path)
    print(f"{path}: {sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, {size / 1e6:.2f} MB")


SIZED = {  # (hidden, layers, heads, mlp): timm's vit_small_patch16_224 / vit_base_patch16_224 shapes
    "vit-s16": (384, 12, 6, 1536),
    "vit-b16": (768, 12, 12, 3072),
}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument("--sized", choices=sorted(SIZED), help="export one full-sized random torchvision ViT instead of the fixtures")
    p.add_argument("--seed", type=int, default=15)
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(a.seed)

    if a.sized:
        hidden, layers, heads, mlp = SIZED[a.sized]
        vit = torchvision_vit(hidden, layers, heads, mlp)
        export(vit, a.sized, a.out, "pooled", "cls", 1, 17,
               note=f"torchvision VisionTransformer {a.sized} shape (hidden {hidden}, {layers} layers, {heads} heads)")
        return 0

    vit = torchvision_vit(96, 2, 4, 192)
    note = "torchvision VisionTransformer, hidden 96, 2 layers, 4 heads, patch 16"
    export(vit, "tv-vit-pooled", a.out, "pooled", "cls", 1, 17, note=note + ", heads=Identity (class token)")
    export(TorchvisionTokens(vit).eval(), "tv-vit-tokens", a.out, "tokens", "cls+mean", 1, 17,
           note=note + ", encoder tokens [N,197,96]")
    export(vit, "tv-vit-pooled-b1", a.out, "pooled", "cls", 1, 17, dynamic=False,
           note=note + ", heads=Identity, fixed batch 1")
    reg = RegisterViT().eval()
    export(reg, "reg-vit-tokens", a.out, "tokens", "cls+mean", 5, 14,
           note="timm/HF-style ViT with 4 register tokens, hidden 64, 2 blocks, 4 heads, decomposed LayerNorm, Erf GELU")
    export(DriftViT().eval(), "drift-vit", a.out, "pooled", "cls", 1, 17,
           note="int8-hostile graph: one activation channel offset by 1e4 feeding a Linear that ignores it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
