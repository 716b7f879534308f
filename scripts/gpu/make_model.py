#!/usr/bin/env python3
"""Build a small random-weight Llama-style causal LM with our local BPE tokenizer, saved as a
transformers model directory (no hub access). Usage: make_model.py OUT_DIR [hidden] [layers]"""
import os, shutil, sys
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

out = sys.argv[1]
hidden = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
layers = int(sys.argv[3]) if len(sys.argv) > 3 else 8
here = os.path.dirname(os.path.abspath(__file__))
tok_dir = os.path.join(here, "..", "..", "references", "sim", "tiny-model")
os.makedirs(out, exist_ok=True)
for f in os.listdir(tok_dir):
    if f != "config.json":
        shutil.copy(os.path.join(tok_dir, f), out)
tok = AutoTokenizer.from_pretrained(out)
cfg = LlamaConfig(vocab_size=4096, hidden_size=hidden, intermediate_size=hidden * 3, num_hidden_layers=layers,
                  num_attention_heads=hidden // 64, num_key_value_heads=max(1, hidden // 256),
                  max_position_embeddings=8192, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                  pad_token_id=tok.pad_token_id, torch_dtype="bfloat16")
torch.manual_seed(0)
model = LlamaForCausalLM(cfg).to(torch.bfloat16)
model.save_pretrained(out)
tok.save_pretrained(out)
print("saved", out, sum(p.numel() for p in model.parameters()) / 1e6, "M params")
