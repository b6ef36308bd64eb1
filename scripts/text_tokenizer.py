"""A model's tokenizer cut down to the characters its processor's timestamps and frame labels are made of: the
catalog's ``text_tokenizer.json`` (vlmscope counts the text a video processor writes with it).

    python scripts/text_tokenizer.py FOLDER OUT --source "github.com/ORG/REPO@COMMIT:PATH"

FOLDER holds the model's tokenizer files (tokenizer.json, or vocab.json + merges.txt + tokenizer_config.json);
transformers loads them as the model's processor would. With ``--vocab-from-merges`` a byte-level BPE's
merges.txt and tokenizer_config.json suffice: the vocabulary is made of the 256 byte characters and the merges'
tokens, numbered in order. The ids are then not the model's, but the tokens are: a BPE splits a word into its
characters and applies the merges in their order, so every token it writes is a byte character or a merge's
result, whatever their ids (the model's tokenizer has no ``ignore_merges``). vlmscope only counts them.

The cut keeps the tokenizer's normalizer, pre-tokenizer and decoder as they are, and of its BPE model only the
tokens made of the alphabet's characters (as the pre-tokenizer writes them: the space as 'Ġ' in a byte-level BPE)
and the merges among them, in their order. BPE only ever merges two tokens that stand side by side in a word, so on
a text of the alphabet's characters the cut tokenizer applies exactly the merges the whole one does: its tokens are
the same. The script checks that on every string of the alphabet's templates up to 10 hours, and on random strings
of the alphabet, before it writes anything.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

# The characters of the text the modelled video processors write (knowledge: tokens/stamps.py): digits, the
# punctuation and the words of their timestamps and frame labels ("<1.5 seconds>", "00:05", "Frame12: ")
ALPHABET = "0123456789 .:<>\nsecondsFramefromvideo"


def cut(tokenizer: dict[str, Any], keep: set[str], alphabet: str) -> dict[str, Any]:
    """``tokenizer`` (tokenizer.json's object, a BPE model) with only the tokens and merges made of ``keep``."""
    model = dict(tokenizer["model"])
    if model.get("type") != "BPE":
        raise SystemExit(f"a BPE tokenizer only: this one's model is {model.get('type')}")
    ours = {token: i for token, i in model["vocab"].items() if set(token) <= keep}
    merges = [m if isinstance(m, list) else m.split(" ", 1) for m in model["merges"]]
    model["vocab"] = ours
    model["merges"] = [[a, b] for a, b in merges if a in ours and b in ours and a + b in ours]
    added = [t for t in tokenizer.get("added_tokens", []) if set(t["content"]) <= set(alphabet)]
    return {**tokenizer, "model": model, "added_tokens": added, "post_processor": None, "truncation": None,
            "padding": None}


def vocab_from_merges(merges: Path) -> dict[str, int]:
    """A byte-level BPE's vocabulary as its merges make it: the 256 byte characters, then every merge's parts
    and result in the merges' order."""
    from tokenizers import pre_tokenizers

    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    for line in merges.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#version"):
            a, b = line.split(" ")
            for token in (a, b, a + b):
                vocab.setdefault(token, len(vocab))
    return vocab


def _samples(alphabet: str, seed: int = 0) -> list[str]:
    """Every timestamp and label the modelled processors write, up to 10 hours and 10,000 frames, and random
    strings of the alphabet."""
    found = []
    for tenth in range(0, 36_000 * 10, 7):
        t = tenth / 10
        found += [f"<{t:.1f} seconds>", f"{t:.1f} seconds", str(int(t)),
                  f"{int(t // 60):02d}:{int(t % 60):02d} ", f" {int(t // 60):02d}:{int(t % 60):02d} "]
    found += [f"Frame{i}: " for i in range(1, 10_001)] + [f"\nFrame{i}: " for i in range(1, 10_001)]
    rng = random.Random(seed)
    found = [s for s in found if set(s) <= set(alphabet)]
    found += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))) for _ in range(20_000)]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--source", required=True, help="where the tokenizer files came from (repo@commit:path)")
    parser.add_argument("--vocab-from-merges", action="store_true", help="make vocab.json from merges.txt (a "
                        "byte-level BPE whose vocab.json is not at hand): the tokens are the model's, the ids not")
    parser.add_argument("--alphabet", default=ALPHABET, help="the characters to keep (default: every modelled "
                        "processor's)")
    args = parser.parse_args()
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    if args.vocab_from_merges:
        (args.folder / "vocab.json").write_text(json.dumps(vocab_from_merges(args.folder / "merges.txt"),
                                                           ensure_ascii=False))
    whole = AutoTokenizer.from_pretrained(args.folder).backend_tokenizer
    spec = json.loads(whole.to_str())
    normal = whole.normalizer.normalize_str(args.alphabet) if whole.normalizer else args.alphabet
    split = whole.pre_tokenizer.pre_tokenize_str(normal) if whole.pre_tokenizer else [(normal, None)]
    keep = {c for piece, _ in split for c in piece}
    small = cut(spec, keep, args.alphabet)
    mini = Tokenizer.from_str(json.dumps(small))
    samples = _samples(args.alphabet)
    wrong = [s for s, a, b in zip(samples, whole.encode_batch(samples, add_special_tokens=False),
                                  mini.encode_batch(samples, add_special_tokens=False), strict=True)
             if a.ids != b.ids]
    if wrong:
        raise SystemExit(f"{len(wrong)} of {len(samples)} strings tokenize differently, e.g. {wrong[:3]!r}")
    files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(args.folder.iterdir())
             if p.is_file() and not (args.vocab_from_merges and p.name == "vocab.json")}
    made = {"vocab": "made from merges.txt (ids not the model's)"} if args.vocab_from_merges else {}
    out = {"source": args.source, "files_sha256": files, **made, "alphabet": args.alphabet,
           "made_by": "scripts/text_tokenizer.py", "checked_strings": len(samples), "tokenizer": small}
    args.out.write_text(json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"{args.out}: {len(small['model']['vocab'])} tokens, {len(small['model']['merges'])} merges; "
          f"{len(samples):,} strings tokenize as the whole tokenizer does", file=sys.stderr)


if __name__ == "__main__":
    main()
