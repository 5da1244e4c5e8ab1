"""The conversion's memoised GGUF reads: one parse per file inside the block, the library restored after it."""

import gguf
import numpy as np

from sublearn.models.hf.install import _gguf_read_once


def _write_gguf(path) -> None:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(2)
    writer.add_tensor("token_embd.weight", np.arange(12, dtype=np.float32).reshape(3, 4))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_each_file_is_parsed_once_inside_the_block_and_the_library_is_restored(tmp_path):
    first, second = tmp_path / "a.gguf", tmp_path / "b.gguf"
    _write_gguf(first)
    _write_gguf(second)
    reader_class, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    with _gguf_read_once():
        a = gguf.GGUFReader(first)
        assert gguf.GGUFReader(str(first)) is a  # same file: the same parse
        b = gguf.GGUFReader(second)
        assert b is not a and [t.name for t in b.tensors] == ["token_embd.weight"]
        assert np.array_equal(a.tensors[0].data, np.arange(12, dtype=np.float32).reshape(3, 4))
        arch = gguf.MODEL_ARCH.LLAMA
        assert gguf.get_tensor_name_map(arch, 2) is gguf.get_tensor_name_map(arch, 2)
    assert gguf.GGUFReader is reader_class and gguf.get_tensor_name_map is name_map
    assert gguf.GGUFReader(first) is not gguf.GGUFReader(first)  # outside: parsed per call, as before
