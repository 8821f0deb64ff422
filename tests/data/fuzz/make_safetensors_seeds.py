#!/usr/bin/env python3
"""Regenerates the safetensors fuzz seed corpus in ./safetensors from the tiny fixtures.

valid_* files must parse; invalid_* files must be rejected (tests/unit/safetensors_corpus_test.cc
checks both). Every file stays well under 20 KB.
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.dirname(HERE)
OUT = os.path.join(HERE, "safetensors")


def read_st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return b, n, json.loads(b[8:8 + n])


def tensor_bytes(path, name):
    b, n, h = read_st(path)
    s, e = h[name]["data_offsets"]
    return b[8 + n + s:8 + n + e]


def build(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype, shape, bytes) laid out back to back."""
    h, data, off = {}, b"", 0
    if metadata is not None:
        h["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        h[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        data += raw
        off += len(raw)
    js = json.dumps(h, separators=(",", ":")).encode()
    if pad:
        js += b" " * (-len(js) % 8)
    return struct.pack("<Q", len(js)) + js + data


def raw(header, data=b"", n=None):
    header = header.encode() if isinstance(header, str) else header
    return struct.pack("<Q", len(header) if n is None else n) + header + data


def main():
    os.makedirs(OUT, exist_ok=True)
    mx = os.path.join(DATA, "gpt-oss-tiny-mxfp4", "model", "model.safetensors")
    bf = os.path.join(DATA, "gpt-oss-tiny-bf16", "model", "model.safetensors")
    ref = os.path.join(DATA, "gpt-oss-tiny-mxfp4", "reference_logits.safetensors")
    L0 = "model.layers.0."
    blocks = tensor_bytes(mx, L0 + "mlp.experts.down_proj_blocks")[:64]
    scales = tensor_bytes(mx, L0 + "mlp.experts.down_proj_scales")[:4]
    fixture_small = build([
        (L0 + "input_layernorm.weight", "BF16", [96], tensor_bytes(mx, L0 + "input_layernorm.weight")),
        (L0 + "self_attn.sinks", "BF16", [4], tensor_bytes(mx, L0 + "self_attn.sinks")),
        (L0 + "mlp.router.bias", "BF16", [8], tensor_bytes(mx, L0 + "mlp.router.bias")),
        (L0 + "mlp.experts.down_proj_blocks", "U8", [1, 4, 1, 16], blocks),
        (L0 + "mlp.experts.down_proj_scales", "U8", [1, 4, 1], scales),
    ], {"format": "pt"})
    files = {
        "valid_fixture_small.safetensors": fixture_small,
        "valid_bf16_experts_slice.safetensors": build([
            (L0 + "mlp.experts.gate_up_proj", "BF16", [1, 4, 8],
             tensor_bytes(bf, L0 + "mlp.experts.gate_up_proj")[:64])], {"format": "pt"}),
        "valid_reference_logits_slice.safetensors": build([
            ("case0.prompt_logits", "F32", [2, 16], tensor_bytes(ref, "case0.prompt_logits")[:128])]),
        "valid_all_dtypes.safetensors": build([
            ("f32", "F32", [2], bytes(8)), ("f16", "F16", [3], bytes(range(6))),
            ("bf16", "BF16", [1, 2], bytes(range(4))), ("e4m3", "F8_E4M3", [4], bytes(range(4))),
            ("e8m0", "F8_E8M0", [2], b"\x7f\x80"), ("u8", "U8", [5], bytes(range(5))),
            ("i8", "I8", [1], b"\xff"), ("i32", "I32", [2, 1], bytes(8)),
            ("i64", "I64", [], bytes(8))]),
        "valid_empty_header.safetensors": raw("{}      "),
        "valid_zero_size.safetensors": build([("empty", "F32", [0, 4], b""),
                                              ("one", "U8", [1], b"\x01")]),
        "valid_unpadded_gap.safetensors": raw(
            '{"a":{"dtype":"U8","shape":[2],"data_offsets":[4,6]}}', bytes(range(8))),
        # The real fixture headers without their data: every tensor runs past the end.
        "invalid_fixture_mxfp4_header_only.safetensors": open(mx, "rb").read()[:8 + read_st(mx)[1]],
        "invalid_fixture_bf16_header_only.safetensors": open(bf, "rb").read()[:8 + read_st(bf)[1]],
        "invalid_truncated.safetensors": fixture_small[:len(fixture_small) // 2 + 100],
        "invalid_short.safetensors": b"\x10\x00\x00",
        "invalid_header_len_zero.safetensors": raw("", bytes(8)),
        "invalid_header_len_huge.safetensors": raw("{}", n=1 << 62),
        "invalid_json.safetensors": raw('{"a":{"dtype":"U8",'),
        "invalid_not_object.safetensors": raw('[{"dtype":"U8"}]'),
        "invalid_bad_dtype.safetensors": raw(
            '{"a":{"dtype":"F99","shape":[2],"data_offsets":[0,2]}}', b"xy"),
        "invalid_bad_shape.safetensors": raw(
            '{"a":{"dtype":"U8","shape":[-2],"data_offsets":[0,2]}}', b"xy"),
        "invalid_size_mismatch.safetensors": raw(
            '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', b"abcd"),
        "invalid_overlap.safetensors": raw(
            '{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},'
            '"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}', bytes(6)),
        "invalid_end_before_begin.safetensors": raw(
            '{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,2]}}', bytes(6)),
        "invalid_metadata.safetensors": raw('{"__metadata__":{"format":1}}'),
        "invalid_duplicate.safetensors": raw(
            '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
            '"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', b"xy"),
        "invalid_deep_nesting.safetensors": raw("[" * 3000 + "]" * 3000),
    }
    for name, content in files.items():
        assert len(content) < 20000, name
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(content)
    print(f"wrote {len(files)} seeds to {OUT}")


if __name__ == "__main__":
    main()
