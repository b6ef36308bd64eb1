"""`train` takes the same untrusted config files as `show`: the values that once reached "internal error"
(test_hardening's ``BAD_VALUES``) give the same one-line error through `train`, and no other exception."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_hardening import BAD_VALUES, _folder
from vlmscope import api
from vlmscope.data.training import TrainRecipe, TrainShape
from vlmscope.errors import VlmscopeError


@pytest.mark.parametrize(("attack", "config", "pre", "message"), BAD_VALUES, ids=[b[0] for b in BAD_VALUES])
def test_bad_values_are_the_configs_error_through_train(tmp_path: Path, attack: str, config: object,
                                                        pre: object | None, message: str) -> None:
    with pytest.raises(VlmscopeError) as raised:
        api.train(_folder(tmp_path, config, pre), TrainRecipe(method="lora"), TrainShape(seq_len=256))
    assert message in str(raised.value), attack
