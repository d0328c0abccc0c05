"""Train the banking77 demo's LoRA adapter on the base model, in exactly evalkit's chat format.

    python scripts/train_adapter.py [--suite suites/banking77] [--epochs 2] [--seed 0]

Each training item becomes the conversation evalkit sends for it: the user message is the
candidate's short prompt rendered by `evalkit.prompts.CompiledPrompt`, the assistant reply is
`{"intent": "<target>"}`; the tokenizer's chat template joins them and the loss covers only
the assistant tokens. Seeded and single-process, so a rerun on the same machine gives the
same adapter. Writes `<suite>/adapter/` (config, float16 weights, CARD.md, card.json).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import peft
import torch
import transformers
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from evalkit.hashing import sha256_file
from evalkit.models import fetch
from evalkit.prompts import CompiledPrompt

BASE = "smollm2-135m-instruct"
TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def encode(tokenizer, prompt: CompiledPrompt, item: dict) -> tuple[list[int], list[int]]:
    """Token ids and labels (-100 on everything but the assistant reply) for one item."""
    messages = prompt.render(item["input"])
    reply = json.dumps({"intent": item["target"]})
    prefix = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    full = tokenizer.apply_chat_template(
        [*messages, {"role": "assistant", "content": reply}], tokenize=False
    )
    assert full.startswith(prefix), "the chat template does not extend the generation prompt"
    # The reply ends at <|im_end|> (the eos the provider stops on); the template's trailing
    # newline after it is never generated, so it is not trained either.
    completion = full[len(prefix) :].rstrip("\n")
    prefix_ids = tokenizer(prefix, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    return prefix_ids + completion_ids, [-100] * len(prefix_ids) + completion_ids


def batches(examples: list, size: int, rng: random.Random):
    order = list(range(len(examples)))
    rng.shuffle(order)
    for start in range(0, len(order), size):
        yield [examples[i] for i in order[start : start + size]]


def collate(batch: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(ids) for ids, _ in batch)
    ids = [x + [pad_id] * (width - len(x)) for x, _ in batch]
    labels = [y + [-100] * (width - len(y)) for _, y in batch]
    mask = [[1] * len(x) + [0] * (width - len(x)) for x, _ in batch]
    return {
        "input_ids": torch.tensor(ids),
        "labels": torch.tensor(labels),
        "attention_mask": torch.tensor(mask),
    }


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=root / "suites" / "banking77")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--alpha", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    random.seed(args.seed)
    torch.manual_seed(args.seed)
    suite = args.suite
    train_path = suite / "data" / "train.jsonl"
    labels = (suite / "data" / "labels.txt").read_text().split()
    items = [json.loads(line) for line in train_path.read_text().splitlines() if line.strip()]
    prompt_path = suite / "prompts" / "candidate_short.jinja"
    prompt = CompiledPrompt(user=prompt_path.read_text(), labels=tuple(labels))

    base_dir = fetch.ensure_model(BASE)
    manifest = json.loads((base_dir / fetch.MANIFEST).read_text())
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    lora = LoraConfig(
        r=args.rank,
        lora_alpha=args.alpha,
        lora_dropout=0.05,
        target_modules=TARGET_MODULES,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)

    examples = [encode(tokenizer, prompt, item) for item in items]
    steps = args.epochs * math.ceil(len(examples) / args.batch_size)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=0.0
    )
    warmup = max(1, steps // 10)
    # linear warm-up, then linear decay to zero
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup)))
    )
    rng = random.Random(args.seed)
    model.train()
    started = time.perf_counter()
    step, losses = 0, []
    for epoch in range(args.epochs):
        for batch in batches(examples, args.batch_size, rng):
            out = model(**collate(batch, tokenizer.pad_token_id))
            out.loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            step += 1
            losses.append(out.loss.item())
            print(
                f"epoch {epoch + 1} step {step}/{steps} loss {losses[-1]:.4f} "
                f"({time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    wall = time.perf_counter() - started

    out_dir = suite / "adapter"
    out_dir.mkdir(parents=True, exist_ok=True)
    # float16 halves the committed size; the provider loads the weights back into fp32.
    state = {
        k: v.detach().to(torch.float16).contiguous()
        for k, v in get_peft_model_state_dict(model).items()
    }
    save_file(state, out_dir / "adapter_model.safetensors", metadata={"format": "pt"})
    config = model.peft_config["default"]
    # the alias, not this machine's cache path: evalkit resolves it wherever the suite runs
    config.base_model_name_or_path = BASE
    config.save_pretrained(out_dir)
    final = sum(losses[-5:]) / len(losses[-5:])
    card = {
        "base_model": BASE,
        "base_model_source": manifest["source_package"] + ":" + manifest["source_file"],
        "base_model_gguf_sha256": manifest["sha256"],
        "training_data": str(train_path.relative_to(suite)),
        "training_data_sha256": sha256_file(train_path),
        "training_rows": len(items),
        "prompt": str(prompt_path.relative_to(suite)),
        "prompt_sha256": sha256_file(prompt_path),
        "reply_format": '{"intent": "<label>"}',
        "hyperparameters": {
            "lora_r": args.rank,
            "lora_alpha": args.alpha,
            "lora_dropout": 0.05,
            "target_modules": TARGET_MODULES,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "optimizer": "AdamW",
            "learning_rate": args.lr,
            "schedule": f"linear warm-up {warmup} steps, linear decay",
            "dtype": "float32 (weights saved as float16)",
            "steps": steps,
            "trainable_parameters": trainable,
        },
        "seed": args.seed,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "train_seconds": round(wall, 1),
        "final_loss": round(final, 4),
        "final_loss_note": "mean of the last 5 steps' batch loss (assistant tokens only)",
        "losses": [round(x, 4) for x in losses],
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, CPU",
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
    }
    (out_dir / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    (out_dir / "CARD.md").write_text(render_card(card))
    size = (out_dir / "adapter_model.safetensors").stat().st_size
    print(f"wrote {out_dir} ({size / 1e6:.1f} MB) in {wall:.0f} s, final loss {final:.4f}")


def render_card(card: dict) -> str:
    hp = card["hyperparameters"]
    lines = [
        "# banking77 demo adapter",
        "",
        f"A LoRA adapter for `{card['base_model']}` (from `{card['base_model_source']}`, "
        f"GGUF sha256 `{card['base_model_gguf_sha256']}`), trained by "
        "`scripts/train_adapter.py` to answer the banking77 demo task as "
        f"`{card['reply_format']}` given the short prompt `{card['prompt']}`.",
        "",
        "| | |",
        "|---|---|",
        f"| training data | `{card['training_data']}`, {card['training_rows']} rows, "
        f"sha256 `{card['training_data_sha256']}` |",
        f"| prompt sha256 | `{card['prompt_sha256']}` |",
        f"| LoRA | r={hp['lora_r']}, alpha={hp['lora_alpha']}, dropout={hp['lora_dropout']}, "
        f"modules {', '.join(hp['target_modules'])} ({hp['trainable_parameters']:,} params) |",
        f"| optimisation | {hp['optimizer']}, lr {hp['learning_rate']}, {hp['schedule']}, "
        f"{hp['epochs']} epochs × batch {hp['batch_size']} = {hp['steps']} steps, "
        f"{hp['dtype']} |",
        f"| seed | {card['seed']} |",
        f"| date | {card['date']} |",
        f"| training time | {card['train_seconds']} s on {card['machine']} |",
        f"| final loss | {card['final_loss']} ({card['final_loss_note']}) |",
        "| versions | " + ", ".join(f"{k} {v}" for k, v in card["versions"].items()) + " |",
        "",
        "Reproduce: `python scripts/build_demo_data.py && python scripts/train_adapter.py`.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
