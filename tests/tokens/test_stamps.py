"""The text a video processor writes beside its placeholder tokens (timestamps, frame labels), counted by the
model's tokenizer: the catalog's cut of Qwen3-VL-4B's tokenizer, a model folder's tokenizer.json, and the cut
itself (scripts/text_tokenizer.py) on a tokenizer trained here. That the pieces are the ones the real
processors write is tested in test_video.py (``_same``)."""

from __future__ import annotations

import importlib.util
import json
import random
import re
import shutil
from pathlib import Path
from types import ModuleType

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

import vlmscope
from vlmscope.data import CostRequest, VideoSpec, VideoTokens
from vlmscope.errors import ConfigError
from vlmscope.records import video_record
from vlmscope.sources.resolve import resolve
from vlmscope.tokens import encoded, stamps
from vlmscope.tokens import video as rules

ROOT = Path(__file__).resolve().parents[2]
QWEN3 = "Qwen3-VL-4B-Instruct"
CUT = Path(vlmscope.__file__).parent / "catalog" / "models" / "Qwen__Qwen3-VL-4B-Instruct" / "text_tokenizer.json"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("text_tokenizer", ROOT / "scripts" / "text_tokenizer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _clip(ref: str, spec: VideoSpec) -> VideoTokens:
    anatomy = vlmscope.inspect(ref)
    return rules.video_tokens(encoded(anatomy.vision, anatomy.connector), resolve(ref), spec)


def test_the_cut_tokenizes_its_alphabet_as_the_whole_tokenizer() -> None:
    """A byte-level BPE trained here on text that mixes the alphabet's characters with others (so that many
    merges join the two), cut to the alphabet: every string of the alphabet gets the same tokens."""
    script = _script()
    rng = random.Random(7)
    words = ["seconds", "second", "Frame", "from", "video", "condense", "scones", "<1.5 seconds>", "00:05",
             "Frame12: ", "fresco", "serene", "vivid", "modern", "ambient", "xylophone", "quartz", "jumped"]
    corpus = [" ".join(rng.choice(words) + rng.choice(["", "!", "?", "q", "z", "12", "\n"]) for _ in range(12))
              for _ in range(3000)]
    whole = Tokenizer(models.BPE())
    whole.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    whole.decoder = decoders.ByteLevel()
    whole.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=1200, show_progress=False,
                                                          initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    alphabet = script.ALPHABET
    keep = {c for piece, _ in whole.pre_tokenizer.pre_tokenize_str(alphabet) for c in piece}
    spec = json.loads(whole.to_str())
    small = script.cut(spec, keep, alphabet)
    assert len(small["model"]["merges"]) < len(spec["model"]["merges"]) / 2  # the others are gone
    cut = Tokenizer.from_str(json.dumps(small))
    samples = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30))) for _ in range(3000)]
    samples += [w for w in words if set(w) <= set(alphabet)]
    for text in samples:
        assert cut.encode(text).tokens == whole.encode(text).tokens, text


@pytest.mark.parametrize("ref", [QWEN3, "Qwen3.5-0.8B"])
def test_qwen3_timestamps_are_counted_by_its_tokenizer(ref: str) -> None:
    """Qwen3-VL-4B and Qwen3.5 (the catalog's cuts of their tokenizers, which differ: Qwen3.5's vocabulary is
    new): every digit of a timestamp is a token of its own, and '<', '.', ' seconds' and '>' one each; a clip
    an hour long (four-digit seconds) is counted too, and the sheet's prefill holds them."""
    path = CUT.parents[1] / f"Qwen__{ref}" / "text_tokenizer.json"
    cut = Tokenizer.from_str(json.dumps(json.loads(path.read_text())["tokenizer"]))
    for spec in (VideoSpec(1800, 1280, 720, 30.0), VideoSpec(3600, 64, 40, 1.0)):
        clip = _clip(ref, spec)
        assert clip.text and len(clip.text) == clip.timestamps == clip.units
        each = [cut.encode(p, add_special_tokens=False).tokens for p in clip.text]
        for piece, tokens in zip(clip.text, each, strict=True):
            number = re.fullmatch(r"<(\d+)\.(\d) seconds>", piece)
            assert number is not None, piece
            assert tokens == ["<", *number[1], ".", number[2], "Ġseconds", ">"]
        assert clip.text_tokens == sum(map(len, each))
    assert clip.text[-1] == "<3596.5 seconds>"  # 768 frames at most: the last pair is frames 3594 and 3599
    _, sheet = vlmscope.cost(ref, CostRequest(images=0, videos=(spec,), text_tokens=5), use_cache=False)
    (counted,) = sheet.tokens.videos
    assert sheet.tokens.prefill == counted.tokens + (counted.text_tokens or 0) + 5
    assert video_record(counted)["text_tokens"] == counted.text_tokens > 0


def test_qwen35s_cut_is_made_from_its_merges(tmp_path: Path) -> None:
    """Qwen3.5's vocab.json was not at hand: its cut was made from merges.txt (scripts/text_tokenizer.py
    --vocab-from-merges), whose SHA-256 is the one a second copy's Git LFS pointer names. The vocabulary made
    from merges is the 256 byte characters, then each merge's parts and result in order (ids not the
    model's: only counts are used)."""
    made = json.loads((CUT.parents[1] / "Qwen__Qwen3.5-0.8B" / "text_tokenizer.json").read_text())
    assert made["files_sha256"]["merges.txt"] == "a9d356d7bdf1ef4949e3e748e95b8e10ad9d4e2e838eddc38a0a7b6b94d1db8d"
    assert "vocab.json" not in made["files_sha256"] and "ids not the model's" in made["vocab"]
    (tmp_path / "merges.txt").write_text("#version: 0.2\nĠ s\ne c\nĠs ec\n", encoding="utf-8")
    vocab = _script().vocab_from_merges(tmp_path / "merges.txt")
    assert len(vocab) == 256 + 3 and list(vocab)[256:] == ["Ġs", "ec", "Ġsec"]
    assert sorted(vocab.values()) == list(range(len(vocab)))


def test_a_model_folders_tokenizer_counts_them(tmp_path: Path) -> None:
    """A model folder's own tokenizer.json counts the text (here the cut's tokenizer, as a whole one); a
    folder without one says the text is not counted, and why."""
    folder = CUT.parent
    for name in ("config.json", "preprocessor_config.json", "video_preprocessor_config.json"):
        shutil.copy(folder / name, tmp_path / name)
    spec = VideoSpec(300, 640, 360, 10.0)
    _, bare = vlmscope.cost(str(tmp_path), CostRequest(images=0, videos=(spec,)), use_cache=False)
    assert bare.tokens.videos[0].text_tokens is None
    assert any("not in the prefill tokens: no tokenizer" in n for n in bare.assumptions)
    (tmp_path / "tokenizer.json").write_text(json.dumps(json.loads(CUT.read_text())["tokenizer"]))
    _, counted = vlmscope.cost(str(tmp_path), CostRequest(images=0, videos=(spec,)), use_cache=False)
    catalog = _clip(QWEN3, spec).text_tokens
    assert catalog and counted.tokens.videos[0].text_tokens == catalog
    assert counted.tokens.prefill == bare.tokens.prefill + catalog
    assert not any("prefill tokens" in n for n in counted.assumptions)


def test_a_bad_tokenizer_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder's tokenizer.json is untrusted: one that is not a tokenizer, or is too large, is one line
    naming it; characters the catalog's cut has no tokens for are not counted (None), never miscounted."""
    bad = tmp_path / "tokenizer.json"
    bad.write_text('{"model": {"type": "BPE", "vocab": 3}}')
    with pytest.raises(ConfigError, match="not a tokenizer vlmscope can read"):
        stamps.count(bad, ("<1.0 seconds>",))
    big = tmp_path / "big" / "tokenizer.json"
    big.parent.mkdir()
    big.write_text(CUT.read_text())
    monkeypatch.setattr(stamps, "MAX_TOKENIZER_BYTES", 1000)
    with pytest.raises(ConfigError, match="over the limit of 1,000"):
        stamps.count(big, ("<1.0 seconds>",))
    assert stamps.count(CUT, ("<1.0 seconds>", "Frame1: ")) is None  # 'F', 'r', 'a', 'm' and ':' are not in it
    assert stamps.count(CUT, ("<1.0 seconds>",)) == 6
    assert stamps.count(None, ("<1.0 seconds>",)) is None


def test_text_not_counted_is_said() -> None:
    """Where the model has no tokenizer at hand (GLM-4.1V's timestamps, MiniCPM-V's newlines in the catalog;
    Gemma 4's are the same case), the sheet says the text is not in the prefill, and why; under a loader
    (qwen-vl-utils: its own frame indices) it is counted."""
    spec = VideoSpec(120, 320, 180, 30.0)
    _, sheet = vlmscope.cost("GLM-4.1V-9B-Thinking", CostRequest(images=0, videos=(spec,)), use_cache=False)
    (clip,) = sheet.tokens.videos
    assert clip.timestamps and clip.text and clip.text_tokens is None
    assert sheet.tokens.prefill == clip.tokens
    assert any("no tokenizer of the model's" in n for n in sheet.assumptions), sheet.assumptions
    _, sheet = vlmscope.cost("MiniCPM-V-4.6-AWQ", CostRequest(images=0, videos=(VideoSpec(90, 1920, 1080, 30.0),)),
                             use_cache=False)  # a newline between its 2 rows of slices, a frame a second
    (clip,) = sheet.tokens.videos
    assert clip.text == ("0", *("\n",) * 3) and clip.timestamps == 0 and clip.text_tokens is None  # its id, rows
    assert any("(4 strings: timestamps, frame labels, ids or newlines) is not in the prefill" in n
               for n in sheet.assumptions)
    _, sheet = vlmscope.cost(QWEN3, CostRequest(images=0, videos=(spec,), video_recipe="qwen-vl-utils"),
                             use_cache=False)
    (clip,) = sheet.tokens.videos
    assert clip.text_tokens and sheet.tokens.prefill == clip.tokens + clip.text_tokens
    assert not any("prefill tokens" in n for n in sheet.assumptions)


def test_text_past_the_limit_is_not_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """A clip whose timestamps pass MAX_TEXT_PIECES (every frame of a long clip) writes none out: their number is
    given, their tokens are not counted, and the sheet says so."""
    from vlmscope.tokens import frames

    monkeypatch.setattr(frames, "MAX_TEXT_PIECES", 10)
    spec = VideoSpec(600, 64, 40, 30.0)
    _, sheet = vlmscope.cost(QWEN3, CostRequest(images=0, videos=(spec,)), use_cache=False)
    (clip,) = sheet.tokens.videos
    assert clip.timestamps == 20 and clip.text == () and clip.text_tokens is None  # 40 frames at 2 fps, in pairs
    assert any("does not write Qwen3VLVideoProcessor's text out yet, or not for so many" in n
               for n in sheet.assumptions)
