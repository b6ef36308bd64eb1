"""Bounds on the work any input can cause. Config files are untrusted (anyone can publish one on the Hub),
so each value that sets how much is built, looped over or counted has a named limit here, checked before
the work starts: past one, vlmscope refuses with one line naming the key, the value and the limit (exit 2).
No published model comes near them; the tests run the whole catalog and the transformers zoo through the
checks.
"""

from __future__ import annotations

MAX_CONFIG_BYTES = 4 * 1024 * 1024  # one config file; published configs are a few kB, the largest ~1 MB
MAX_CONFIG_DEPTH = 32  # nesting of objects and lists
MAX_CONFIG_ITEMS = 250_000  # keys and list elements in one file (label maps of 22k classes fit)
MAX_LAYERS = 1_000  # blocks in one stack (the deepest published models have ~130)
MAX_DIMENSION = 100_000_000  # any width, size, vocabulary or position count (hidden_size 10**7 is fine)
MAX_CROPS = 10_000  # crops or tiles one image may be cut into (num_crops, max_patches, ...)
MAX_VISUAL_TOKENS = 1_000_000  # visual tokens of one image
MAX_IMAGE_SIDE = 1_000_000  # pixels per side of a requested image
MAX_IMAGES = 10_000  # images in one request
MAX_VIDEOS = 64  # --video values in one request
MAX_VIDEO_FRAMES = 10_000_000  # frames one video holds (a day at 60 fps is 5,184,000)
MAX_TEXT_PIECES = 100_000  # timestamps or frame labels of one video counted by the tokenizer (768 at Qwen3-VL's cap)
MAX_TOKENIZER_BYTES = 64 * 1024 * 1024  # one tokenizer.json (Qwen's ~7 MB, Gemma's ~33 MB)
MAX_FPS = 1_000  # frame rate of a video (high-speed cameras record a few hundred)
MAX_SIZES = 32  # --image-size values in one run: a cost sheet each
MAX_SETTINGS = 32  # --processor settings in one request (published processors take ~25)
MAX_JOBS = 16  # --jobs worker processes: each imports torch and transformers (about 350 MB)
MAX_TOKENS = 100_000_000  # text tokens, context or batch × context of one request
MAX_GPUS = 100_000  # GPUs a training recipe shards over
MAX_LORA_RANK = 65_536  # LoRA rank (published recipes use 4–256)
