"""Parameters a recipe trains: LoRA adapters against peft's own count on the same meta skeleton, full
fine-tunes against the roles' parameter counts."""

from __future__ import annotations

import copy
import re
from functools import cache

import pytest

from vlmscope.anatomy import Reading
from vlmscope.api import _read
from vlmscope.data.training import TrainRecipe
from vlmscope.errors import RequestError
from vlmscope.sources import resolve
from vlmscope.training.lora import trainable, trained_shapes

ALL_ROLES = ("vision", "connector", "language", "lm_head")
TARGETS = ["all-linear", "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj", r".*\.(q_proj|v_proj|fc1)"]
MODELS = ["llava-hf/llava-1.5-7b-hf", "Qwen/Qwen2.5-VL-7B-Instruct", "HuggingFaceM4/idefics2-8b",
          "google/gemma-3-4b-it"]


@cache
def _reading(ref: str) -> Reading:
    return _read(resolve(ref), False)


def _peft_count(ref: str, targets: str, exclude: str | None = None) -> int:
    from peft import LoraConfig, get_peft_model

    model = copy.deepcopy(_reading(ref).index.model)  # peft adapts the model in place
    wanted = targets if targets == "all-linear" or "," not in targets else targets.split(",")
    peft_model = get_peft_model(model, LoraConfig(r=8, target_modules=wanted, exclude_modules=exclude))
    return int(peft_model.get_nb_trainable_parameters()[0])


@pytest.mark.parametrize("ref", MODELS)
@pytest.mark.parametrize("targets", TARGETS)
def test_lora_counts_equal_peft(ref: str, targets: str) -> None:
    """Every role open to LoRA: the adapters equal what peft itself adds, and their shapes sum to it."""
    reading = _reading(ref)
    recipe = TrainRecipe(method="lora", lora_rank=8, lora_targets=targets, lora_roles=ALL_ROLES)
    ours = trainable(reading.index, reading.roles, recipe)
    assert ours.total == _peft_count(ref, targets) > 0
    assert ours.total == ours.vision + ours.connector + ours.language + ours.lm_head
    assert sum(a * b for a, b in trained_shapes(reading.index, reading.roles, recipe)) == ours.total


@pytest.mark.parametrize(("ref", "tower_hit"), [("Qwen/Qwen2.5-VL-7B-Instruct", True),
                                               ("pbarker/Qwen2-VL-7B-sk-googleflights-full-750-47ep", False)])
def test_lora_on_the_language_model_only_equals_peft_excluding_the_tower(ref: str, tower_hit: bool) -> None:
    """The default roles (language): peft with the vision tower and connector excluded by a regex over their
    paths gives the same count; the usual q_proj…down_proj list lands in Qwen2.5-VL's tower otherwise."""
    reading = _reading(ref)
    roles = reading.roles
    others = [p for p in (roles.vision, *roles.connector, *roles.extra_vision) if p]
    exclude = rf"({'|'.join(re.escape(p) for p in others)})(\..*)?"
    targets = TARGETS[1]
    ours = trainable(reading.index, roles, TrainRecipe(method="lora", lora_rank=8, lora_targets=targets))
    assert ours.vision == ours.connector == 0
    assert ours.total == ours.language == _peft_count(ref, targets, exclude)
    everywhere = trainable(reading.index, roles, TrainRecipe(method="lora", lora_rank=8, lora_targets=targets,
                                                               lora_roles=ALL_ROLES))
    assert (everywhere.vision > 0) == tower_hit


def test_full_fine_tune_trains_the_roles_not_frozen() -> None:
    reading = _reading(MODELS[0])
    from vlmscope.api import _analyze

    params = _analyze(reading, resolve(MODELS[0]), None).params
    whole = trainable(reading.index, reading.roles, TrainRecipe())
    assert whole.total == params.total and whole.frozen == 0
    frozen = trainable(reading.index, reading.roles, TrainRecipe(freeze=("vision", "connector")))
    assert frozen.total == params.language + params.lm_head and frozen.vision == frozen.connector == 0
    assert frozen.frozen == params.vision + params.connector


@pytest.mark.parametrize(("targets", "words"), [("no_such_module", "none matched"), ("(", "a valid regex"),
                                                ("model.language_model.norm", "Linear, convolution")])
def test_bad_targets_are_one_line(targets: str, words: str) -> None:
    reading = _reading(MODELS[0])
    with pytest.raises(RequestError, match=re.escape(words)):
        trainable(reading.index, reading.roles, TrainRecipe(method="lora", lora_targets=targets))
