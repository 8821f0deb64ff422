#!/usr/bin/env python3
"""Hugging Face reference logits for any gpt-oss checkpoint, in the fixtures' format.

Run on the GPU machine (torch + transformers are there). With --synth it first writes the
checkpoint with `atom synth` (e.g. gpt-oss-20b shapes with 2 layers), so real-dimension models
can be checked against transformers the way tests/data/gpt-oss-tiny-* are:

  tools/hf_reference.py --atom build/gpu/atom --synth "--preset 20b --layers 2 --seed 1" \
      --out /tmp/ref-20b-2l

writes OUT/model (the checkpoint), OUT/reference_logits.safetensors (float32 `caseN.prompt_logits`
[L, vocab] at every prompt position, `caseN.full_logits` [L + G, vocab] at every position of
prompt + greedy continuation) and OUT/cases.json (prompt ids, the G greedy ids,
min_top1_margin), exactly as the fixtures' README describes, and
OUT/reference_logits_hf_bf16.safetensors: transformers itself in bfloat16 on prompt + greedy ids
(`caseN.full_logits`), the yardstick a bf16 engine is held to (--bf16-only adds just this file to
an existing reference folder, e.g. the fixtures), and OUT/router_gaps.safetensors:
`caseN.full_router_gaps` f32 [layers, L + G], per layer and position of prompt + greedy ids the
float32 router's k-th minus (k+1)-th largest logit — where it is nearly 0 the expert choice is a
near-tie that bf16 rounding may break the other way, and tests leave the rows it reaches out of
their logits bound (tests/reference_routing.h; --gaps-only adds just this file to an existing
reference folder). transformers runs GptOssForCausalLM with eager attention in float32 on the
GPU; MXFP4 experts are read through Mxfp4Config(dequantize=True).
"""
import argparse
import json
import os
import shlex
import subprocess

import torch
from safetensors.torch import save_file
from transformers import AutoConfig, GptOssForCausalLM, Mxfp4Config


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--model", help="an existing checkpoint folder (default: OUT/model)")
    parser.add_argument("--atom", help="the atom binary, for --synth")
    parser.add_argument("--synth", help="arguments of `atom synth --arch gpt-oss` (quoted)")
    parser.add_argument("--prompt-lens", default="1,7,130,300",
                        help="prompt lengths; random ids, one case each")
    parser.add_argument("--generate", type=int, default=16, help="greedy tokens per case")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bf16-only", action="store_true",
                        help="only (re)write OUT/reference_logits_hf_bf16.safetensors for the "
                             "cases already in OUT/cases.json")
    parser.add_argument("--gaps-only", action="store_true",
                        help="only (re)write OUT/router_gaps.safetensors for the cases already "
                             "in OUT/cases.json")
    args = parser.parse_args()

    model_dir = args.model or os.path.join(args.out, "model")
    os.makedirs(args.out, exist_ok=True)
    if args.synth:
        if not os.path.exists(os.path.join(model_dir, "config.json")):
            subprocess.run([args.atom, "--log-level", "warn", "synth", "--arch", "gpt-oss",
                            *shlex.split(args.synth), "--out", model_dir], check=True)

    config = AutoConfig.from_pretrained(model_dir)
    if args.bf16_only:
        with open(os.path.join(args.out, "cases.json")) as f:
            write_bf16_reference(model_dir, config, json.load(f)["cases"], args.out)
        return
    model = load_float32(model_dir, config)
    if args.gaps_only:
        with open(os.path.join(args.out, "cases.json")) as f:
            write_router_gaps(model, config, json.load(f)["cases"], args.out)
        return

    gen = torch.Generator().manual_seed(args.seed)
    vocab = config.vocab_size
    tensors, cases = {}, []
    for i, length in enumerate(int(x) for x in args.prompt_lens.split(",")):
        # Ordinary tokens only (the o200k specials start at 199998).
        prompt = torch.randint(0, min(vocab, 199998), (length,), generator=gen).tolist()
        with torch.no_grad():
            ids = torch.tensor([prompt], device="cuda")
            prompt_logits = model(ids).logits[0].float().cpu()
            out = model.generate(ids, max_new_tokens=args.generate, do_sample=False,
                                 min_new_tokens=args.generate, eos_token_id=None, pad_token_id=0)
            greedy = out[0, length:].tolist()
            full_logits = model(out).logits[0].float().cpu()
        top2 = torch.topk(full_logits[length - 1:-1], 2, dim=-1).values
        tensors[f"case{i}.prompt_logits"] = prompt_logits.contiguous()
        tensors[f"case{i}.full_logits"] = full_logits.contiguous()
        cases.append({"name": f"random{length}", "prompt_ids": prompt, "greedy_ids": greedy,
                      "min_top1_margin": float((top2[:, 0] - top2[:, 1]).min())})
        print(f"case{i}: {length} prompt tokens, greedy {greedy[:8]}..., "
              f"min top-1 margin {cases[-1]['min_top1_margin']:.4g}", flush=True)

    save_file(tensors, os.path.join(args.out, "reference_logits.safetensors"))
    import transformers
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump({"generator": "tools/hf_reference.py", "model": os.path.abspath(model_dir),
                   "transformers_version": transformers.__version__,
                   "torch_version": torch.__version__, "seed": args.seed, "cases": cases}, f,
                  indent=1)
    print(f"wrote {args.out}/reference_logits.safetensors and cases.json")
    write_router_gaps(model, config, cases, args.out)
    del model
    torch.cuda.empty_cache()
    write_bf16_reference(model_dir, config, cases, args.out)


def load_float32(model_dir, config):
    kwargs = {"attn_implementation": "eager", "dtype": torch.float32}
    if getattr(config, "quantization_config", None):
        kwargs["quantization_config"] = Mxfp4Config(dequantize=True)
    # Dequantized MXFP4 experts come back in bf16: everything is computed in float32.
    return GptOssForCausalLM.from_pretrained(model_dir, **kwargs).to("cuda", torch.float32).eval()


def router_gaps(model, ids, k):
    """[layers, positions]: each layer's k-th minus (k+1)-th largest router logit, recomputed in
    float32 from the router's input (a forward hook on every layer's mlp.router)."""
    gaps = []

    def hook(router, args, output):
        hidden = args[0].reshape(-1, args[0].shape[-1]).float()
        logits = torch.nn.functional.linear(hidden, router.weight.float(), router.bias.float())
        top = torch.topk(logits, k + 1, dim=-1).values
        gaps.append((top[:, k - 1] - top[:, k]).cpu())

    handles = [layer.mlp.router.register_forward_hook(hook) for layer in model.model.layers]
    try:
        with torch.no_grad():
            model(ids)
    finally:
        for handle in handles:
            handle.remove()
    return torch.stack(gaps).contiguous()


def write_router_gaps(model, config, cases, out):
    tensors = {}
    for i, c in enumerate(cases):
        ids = torch.tensor([c["prompt_ids"] + c["greedy_ids"]], device="cuda")
        gaps = router_gaps(model, ids, config.num_experts_per_tok)
        tensors[f"case{i}.full_router_gaps"] = gaps
        print(f"case{i}: smallest router gap {float(gaps.min()):.4g}", flush=True)
    save_file(tensors, os.path.join(out, "router_gaps.safetensors"))
    print(f"wrote {out}/router_gaps.safetensors")


def write_bf16_reference(model_dir, config, cases, out):
    """transformers itself in bfloat16 on the same cases (prompt + greedy ids): how far bf16
    compute lands from the float32 reference on this model — the yardstick for bf16 engines."""
    kwargs = {"attn_implementation": "eager", "dtype": torch.bfloat16}
    if getattr(config, "quantization_config", None):
        kwargs["quantization_config"] = Mxfp4Config(dequantize=True)
    model = GptOssForCausalLM.from_pretrained(model_dir, **kwargs).to("cuda", torch.bfloat16).eval()
    tensors = {}
    for i, c in enumerate(cases):
        with torch.no_grad():
            ids = torch.tensor([c["prompt_ids"] + c["greedy_ids"]], device="cuda")
            tensors[f"case{i}.full_logits"] = model(ids).logits[0].float().cpu().contiguous()
    save_file(tensors, os.path.join(out, "reference_logits_hf_bf16.safetensors"))
    print(f"wrote {out}/reference_logits_hf_bf16.safetensors")


if __name__ == "__main__":
    main()
