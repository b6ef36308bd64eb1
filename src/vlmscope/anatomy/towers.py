"""Leftover towers: further image encoders (video, high resolution) and other inputs (audio encoders, audio
tokens, image-generation tokenizers), told apart from the connector by their structure."""

from __future__ import annotations

from torch import nn

from vlmscope.anatomy.index import ModuleIndex, under


def is_other_encoder(index: ModuleIndex, path: str) -> bool:
    """An encoder of another modality (e.g. audio): its own input convolution that is not an image patch
    embedding, and a block stack of its own."""
    module = index.modules.get(path)
    if module is None:
        return False
    convs = [m for m in module.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    return bool(convs) and not any(m.in_channels == 3 for m in convs) and any(under(s, path) for s in index.stacks())


def other_modality_input(index: ModuleIndex, path: str, widths: set[int]) -> bool:
    """A module built from a sub-config of its own (``audio_config``, ``vq_config``; not one an image tower is
    built from) that reads neither the image features nor the language model's hidden states: no Linear or
    convolution in it takes either width. It embeds another input (audio tokens, an image-generation
    tokenizer), so it is no connector."""
    module = index.modules.get(path)
    top = getattr(index.model, "config", None)
    sub = getattr(module, "config", None)
    if module is None or sub is None or sub is top or sub is getattr(top, "vision_config", None):
        return False
    if not any(sub is value for value in vars(top).values()):
        return False
    inputs = {m.in_features for m in module.modules() if isinstance(m, nn.Linear)}
    inputs |= {m.in_channels for m in module.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))}
    return not inputs & widths


def projects_other_encoder(index: ModuleIndex, path: str, encoder_widths: set[int], image_width: int | None) -> bool:
    """A projection of another modality's encoder into the language model (Gemma 3n's and 4's ``embed_audio``):
    every Linear in it takes such an encoder's output width, and none the image features' (nor k² times it,
    as after a k × k pixel shuffle), so it cannot be reading the images."""
    module = index.modules.get(path)
    inputs = {m.in_features for m in module.modules() if isinstance(m, nn.Linear)} if module is not None else set()
    image = {image_width * k * k for k in range(1, 5)} if image_width else set()
    return bool(inputs) and inputs <= encoder_widths and not inputs & image


def is_tower(index: ModuleIndex, path: str) -> bool:
    """A further image encoder (e.g. a video or high-resolution tower): a patchifying convolution over image
    channels and a block stack of its own."""
    module = index.modules.get(path)
    if module is None:
        return False
    has_patchify = any(isinstance(m, (nn.Conv2d, nn.Conv3d)) and m.in_channels == 3
                       and tuple(m.kernel_size) == tuple(m.stride) for m in module.modules())
    return has_patchify and any(under(s, path) for s in index.stacks())


def other_inputs(index: ModuleIndex, leftovers: tuple[str, ...], image_towers: tuple[str, ...],
                 widths: set[int]) -> tuple[str, ...]:
    """The leftovers that are another modality's encoder or input, not part of the connector; a module built
    from the same sub-config as an image tower (a high-resolution tower's projection) stays image-side."""
    image = {id(getattr(index.modules[t], "config", None)) for t in image_towers}
    return tuple(p for p in leftovers if is_other_encoder(index, p) or (
        id(getattr(index.modules.get(p), "config", None)) not in image and other_modality_input(index, p, widths)))
