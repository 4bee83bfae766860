#!/usr/bin/env python3
"""V2-style group-limited routing fixture (spec §4.2, "group_limited_greedy").

The shared fixtures cover group-limited routing only with the V3 rule (sigmoid + bias, group
score = sum of the two largest biased scores). This builds the V2 rule's case: softmax scores,
no selection bias, group score = the maximum of the group, with transformers'
DeepseekV2ForCausalLM as the reference.

The model is fixtures/models/ds2-lite-tiny.hf (trained weights, 8 routed experts, 2 shared) with
its config changed to n_group 4, topk_group 2, topk_method group_limited_greedy, 3 experts per
token and routed_scaling_factor 1.5. (With the max rule, group limiting can only change the choice
when more experts are chosen than groups are kept, as in V2: 6 experts from 3 of 8 groups.) Matrices are rounded to f16 first (what the f16 GGUF holds), so the
reference and the GGUF carry the same weights. Writes, next to this script:

  ds2-grouped.gguf       layout mla, f16 (converted with fixtures/gen/hf_to_gguf.py)
  ds2-grouped.tokens.txt the first N ids of ds2-lite-tiny.tokens.txt
  ds2-grouped.ref.npy    float32 [N, 2048] logits from transformers (float32, eager)
  ds2-grouped.info.json  how often the rule matters: tokens whose expert set differs between
                         the max rule and the sum-of-top-2 rule, and without group limiting

Run by hand (needs torch, transformers, safetensors, gguf, numpy):
  python3 tests/golden/v2_grouped/gen_v2_grouped.py [--fixtures ../shared/fixtures] [--n 32]
"""
import argparse, json, os, shutil, sys, tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", default=os.path.join(HERE, "../../../../shared/fixtures"))
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--scale", type=float, default=1.5)
    a = ap.parse_args()
    fx = os.path.abspath(a.fixtures)
    sys.path.insert(0, os.path.join(fx, "gen"))
    import models_common as mc  # noqa: E402
    import hf_to_gguf  # noqa: E402
    from transformers import DeepseekV2ForCausalLM

    torch.set_num_threads(2)
    src = os.path.join(fx, "models", "ds2-lite-tiny.hf")
    preset = json.load(open(os.path.join(src, "config.json")))
    preset.update({"n_group": 4, "topk_group": 2, "topk_method": "group_limited_greedy",
                   "num_experts_per_tok": 3, "routed_scaling_factor": a.scale,
                   "tokenizer": "deepseek-llm"})
    for k in ("bos_token_id", "eos_token_id"):
        preset.pop(k, None)

    # Load the trained weights into a model with the grouped config.
    from safetensors.torch import load_file
    file_sd = load_file(os.path.join(src, "model.safetensors"))
    model = DeepseekV2ForCausalLM(mc.hf_config(preset)).float().eval()
    # Build a state dict in transformers' own layout from DeepSeek names (experts fused).
    sd = model.state_dict()
    I = preset["moe_intermediate_size"]
    new = {}
    for k in sd:
        if k.endswith("mlp.experts.gate_up_proj"):
            base = k[: -len("gate_up_proj")]
            E = sd[k].shape[0]
            new[k] = torch.stack([torch.cat([file_sd[f"{base}{e}.gate_proj.weight"],
                                             file_sd[f"{base}{e}.up_proj.weight"]]) for e in range(E)])
        elif k.endswith("mlp.experts.down_proj"):
            base = k[: -len("down_proj")]
            new[k] = torch.stack([file_sd[f"{base}{e}.down_proj.weight"] for e in range(sd[k].shape[0])])
        else:
            new[k] = file_sd[k]
    # The f16 GGUF rounds every matrix except the router (ffn_gate_inp stays f32).
    for k, v in new.items():
        if v.ndim >= 2 and not k.endswith("mlp.gate.weight"):
            new[k] = v.half().float()
    model.load_state_dict(new, strict=True)

    tokens = [int(t) for t in open(os.path.join(fx, "models", "ds2-lite-tiny.tokens.txt")).read().replace(",", " ").split()][: a.n]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([tokens])).logits[0].float().numpy()

    # How much the rule matters on these tokens (per MoE layer).
    effect = []
    hooks = []

    def hook_for(li, gate):
        def hook(mod, inp, out):
            h = inp[0].reshape(-1, gate.weight.shape[1]).float()
            s = torch.softmax(h @ gate.weight.float().t(), -1)
            E, G, K, k = s.shape[-1], gate.num_group, gate.topk_group, gate.top_k

            def choose(score, rule):
                if rule == "none":
                    return torch.topk(score, k, -1)[1].sort(-1)[0]
                g = score.view(-1, G, E // G)
                gs = g.max(-1).values if rule == "max" else g.topk(2, -1)[0].sum(-1)
                keep = torch.zeros_like(gs).scatter_(1, torch.topk(gs, K, -1)[1], 1).bool()
                masked = score.masked_fill(~keep.repeat_interleave(E // G, 1), float("-inf"))
                return torch.topk(masked, k, -1)[1].sort(-1)[0]

            mx, sm, no = choose(s, "max"), choose(s, "sum2"), choose(s, "none")
            hf = out[2].sort(-1)[0]
            effect.append({"layer": li, "tokens": int(s.shape[0]),
                           "hf_equals_max_rule": bool((hf == mx).all()),
                           "max_vs_sum2_differ": int((mx != sm).any(-1).sum()),
                           "max_vs_ungrouped_differ": int((mx != no).any(-1).sum())})
        return hook

    for li, layer in enumerate(model.model.layers):
        gate = getattr(layer.mlp, "gate", None)
        if gate is not None:
            hooks.append(gate.register_forward_hook(hook_for(li, gate)))
    with torch.no_grad():
        model(input_ids=torch.tensor([tokens]))
    for h in hooks:
        h.remove()

    # Checkpoint in DeepSeek's names, then the GGUF with the fixtures' converter.
    tmp = tempfile.mkdtemp()
    try:
        hf_dir = os.path.join(tmp, "ds2-grouped.hf")
        mc.save_checkpoint(hf_dir, preset, mc.to_deepseek_state_dict(model, preset), src)
        hf_to_gguf.convert(hf_dir, os.path.join(HERE, "ds2-grouped.gguf"), "mla", "f16", name="ds2-grouped")
    finally:
        shutil.rmtree(tmp)
    with open(os.path.join(HERE, "ds2-grouped.tokens.txt"), "w") as f:
        f.write(",".join(str(t) for t in tokens) + "\n")
    np.save(os.path.join(HERE, "ds2-grouped.ref.npy"), logits.astype(np.float32))
    info = {"source": "ds2-lite-tiny.hf", "n_group": 4, "topk_group": 2, "experts_per_token": 3,
            "topk_method": "group_limited_greedy", "routed_scaling_factor": a.scale,
            "weights": "matrices rounded to f16 (router f32)", "tokens": len(tokens),
            "routing": effect, "torch": torch.__version__,
            "transformers": __import__("transformers").__version__}
    with open(os.path.join(HERE, "ds2-grouped.info.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
