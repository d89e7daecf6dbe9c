"""Every ```python block in README.md and docs/*.md runs as written.

The blocks of one markdown file run in order in one namespace (a later block may use
names an earlier one defined), in a fresh temporary working directory, on the current
Keras backend. A block that cannot run here on purpose (it needs ImageNet, a download,
an accelerator, hours) is marked on the line before its fence:

    <!-- not-run: needs the ViT-H checkpoint (2.5 GB download) -->
    ```python
    ...

and is reported as a skip with that reason (`test_marked_not_run[README.md#not-run-1]`:
the file's first not-run block); every other block runs. Shell blocks (```bash) and
indented blocks are not executed.
"""

import os
import pathlib
import re

import keras
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
MARKDOWN_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^```\s*(\S*)\s*$")
NOT_RUN = re.compile(r"^\s*<!--\s*not-run\s*:\s*(.*?)\s*-->\s*$")
NOT_RUN_LIKE = re.compile(r"<!--\s*not[ _-]?run", re.IGNORECASE)


class Block:
    def __init__(self, path, line, language, code, not_run):
        self.path = path          # absolute path of the markdown file
        self.line = line          # 1-based line of the opening fence
        self.language = language
        self.code = code
        self.not_run = not_run    # the reason, or None

    @property
    def name(self):
        return f"{_relative(self.path)}:{self.line}"


def parse_blocks(path):
    """The fenced code blocks of a markdown file, with their not-run markers.

    Raises `ValueError` for an unclosed fence and for a not-run marker that is not on
    the line just before a ```python fence (a misplaced marker would silently run).
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, index = [], 0
    while index < len(lines):
        match = FENCE.match(lines[index])
        if not match:
            if NOT_RUN_LIKE.search(lines[index]):
                following = lines[index + 1] if index + 1 < len(lines) else ""
                if not NOT_RUN.match(lines[index]) or \
                        FENCE.match(following) is None or \
                        FENCE.match(following).group(1) != "python":
                    raise ValueError(
                        f"{path.name}:{index + 1}: a not-run marker must read "
                        "`<!-- not-run: reason -->` and sit on the line just before a "
                        "```python fence.")
            index += 1
            continue
        start, language = index, match.group(1).lower()
        end = start + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        if end == len(lines):
            raise ValueError(f"{path.name}:{start + 1}: unclosed code fence.")
        marker = NOT_RUN.match(lines[start - 1]) if start > 0 else None
        reason = None
        if marker:
            reason = marker.group(1)
            if not reason:
                raise ValueError(f"{path.name}:{start}: the not-run marker gives no reason.")
        code = "\n".join(lines[start + 1:end]) + "\n"
        blocks.append(Block(path, start + 1, language, code, reason))
        index = end + 1
    return blocks


def python_blocks(path):
    return [block for block in parse_blocks(path) if block.language == "python"]


def _relative(path):
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return path.name


RUNNABLE_FILES = [path for path in MARKDOWN_FILES
                  if any(block.not_run is None for block in python_blocks(path))]
# Ids name the file and the block's rank among its not-run blocks (not its line, which
# moves with every edit above it), e.g. "docs/pretrained.md#not-run-2".
NOT_RUN_BLOCKS = [
    pytest.param(block, id=f"{_relative(path)}#not-run-{rank}")
    for path in MARKDOWN_FILES
    for rank, block in enumerate(
        (block for block in python_blocks(path) if block.not_run is not None), start=1)
]


def run_blocks(blocks):
    """Runs the blocks in order in one namespace; a failure names the block's line."""
    namespace = {"__name__": "__main__"}
    for block in blocks:
        # Pad so that tracebacks show the markdown file's own line numbers.
        source = "\n" * block.line + block.code
        code = compile(source, str(block.path), "exec")
        try:
            exec(code, namespace)
        except Exception as error:
            raise AssertionError(
                f"The code block at {block.name} failed ({type(error).__name__}: {error}); "
                "fix it, or mark it `<!-- not-run: reason -->` if it cannot run here on "
                "purpose.") from error
    return namespace


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A temporary working directory; the environment and dtype policy restored after.

    On torch, one intra-op thread while the blocks run: the suite's two pytest-xdist
    workers share two cores, and torch's default of one thread per core then
    oversubscribes them (a small I-JEPA step measured 20x slower on a loaded machine).
    """
    monkeypatch.chdir(tmp_path)
    environ = dict(os.environ)
    policy = keras.config.dtype_policy()
    threads = None
    if keras.backend.backend() == "torch":
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
    yield tmp_path
    if threads is not None:
        torch.set_num_threads(threads)
    os.environ.clear()
    os.environ.update(environ)
    keras.config.set_dtype_policy(policy)


@pytest.mark.slow
@pytest.mark.parametrize("path", RUNNABLE_FILES, ids=_relative)
def test_code_blocks_run(path, isolated):
    blocks = [block for block in python_blocks(path) if block.not_run is None]
    run_blocks(blocks)


@pytest.mark.parametrize("block", NOT_RUN_BLOCKS)
def test_marked_not_run(block):
    pytest.skip(f"not run: {block.not_run} ({block.name})")


def test_readme_blocks_are_found():
    # Guards the collection itself: a parser that found nothing would pass vacuously.
    assert (ROOT / "README.md") in RUNNABLE_FILES
    assert len([b for b in python_blocks(ROOT / "README.md") if b.not_run is None]) >= 3


def test_parser_reads_markers(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "text\n\n```python\na = 1\n```\n\n```bash\nls\n```\n"
        "<!-- not-run: needs ImageNet -->\n```python\nimagenet()\n```\n"
        "```Python\nb = a + 1\n```\n", encoding="utf-8")
    blocks = python_blocks(page)
    assert [(b.line, b.code, b.not_run) for b in blocks] == [
        (3, "a = 1\n", None), (11, "imagenet()\n", "needs ImageNet"), (14, "b = a + 1\n", None)]
    page.write_text("<!-- not-run: stray -->\n\n```python\nx = 1\n```\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line just before"):
        python_blocks(page)
    page.write_text("```python\nx = 1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="unclosed"):
        python_blocks(page)


def test_failure_names_the_markdown_line(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# t\n\n```python\nx = 1\n\ny = undefined_name\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match=r"page\.md:3 failed \(NameError") as caught:
        run_blocks(python_blocks(page))
    frame = caught.value.__cause__.__traceback__
    while frame.tb_next is not None:
        frame = frame.tb_next
    assert frame.tb_lineno == 6
