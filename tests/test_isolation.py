"""How a parsing child's death is told to the editor (``school/isolation.py``)."""
import signal

import pytest

from school import isolation

TIMEOUT = "文件处理超时（计算量超出限制）"
MEMORY = "文件处理所需内存超出限制"
OUTPUT = "从文件中提取的文字过多"
BROKEN = "文件无法处理（可能已损坏）"
ABORTED_AT_THE_CAP = ("Fatal Python error: _PyErr_NormalizeException: Cannot recover from MemoryErrors "
                      "while normalizing exceptions.")


@pytest.mark.parametrize("code, said, told", [
    (-signal.SIGXCPU, "", TIMEOUT),
    (-signal.SIGKILL, "", TIMEOUT),
    (isolation.EXIT_MEMORY, "", MEMORY),
    # The interpreter aborted before the child's own MemoryError handler could run.
    (-signal.SIGABRT, ABORTED_AT_THE_CAP, MEMORY),
    (-signal.SIGABRT, "Fatal Python error: Segmentation fault", BROKEN),  # aborted for another reason
    (isolation.EXIT_OUTPUT, "", OUTPUT),
    (1, "Traceback … MemoryError", BROKEN),  # a plain failure that mentions memory is still a failure
    (-signal.SIGSEGV, "", BROKEN),
])
def test_a_childs_death_is_told_by_its_cause(code, said, told):
    message = isolation._failure(code, said)
    assert message.startswith(told) and message.endswith("未导入")
