"""Fixtures shared by the unit tests of several packages (models, train).
Nothing here is autouse and torch is imported only inside fixtures, so the
numpy-only tests (core, data, voice) do not pay for it."""
import pytest


@pytest.fixture
def one_torch_thread():
    """Tiny tensors on a shared 2-core machine: one thread avoids thrashing
    (measured several times faster); restores the previous setting."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_tiny_bert_dir(path) -> str:
    """A tiny Hugging Face BERT + word-level tokenizer saved in ``path``
    (tests the local-dir text path without downloads)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "red", "car", "ball"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]")
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32)
    BertModel(cfg).save_pretrained(path)
    fast.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def tiny_bert_dir(tmp_path_factory) -> str:
    return make_tiny_bert_dir(tmp_path_factory.mktemp("tiny_bert"))
