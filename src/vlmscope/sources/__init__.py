"""Stage 1, reference → config files: the bundled catalog, a local folder or file, or the Hub (config files
only), and the default configs of the transformers zoo."""

from __future__ import annotations

from vlmscope.sources.resolve import ModelSource, read_json, resolve

__all__ = ["ModelSource", "read_json", "resolve"]
