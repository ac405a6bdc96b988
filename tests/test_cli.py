"""The `zh-rag` command as a person types it: help with examples, sensible names, one-line errors."""
import json
import os
import shlex
import subprocess
import sys

import pytest

from indexing import layout
from tests.conftest import ROOT, sample_docs, write_corpus


def zh_rag(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.parametrize("command", ["build", "serve", "mcp", "eval", "bench"])
def test_every_command_explains_itself(command):
    done = zh_rag(command, "--help")
    assert done.returncode == 0 and f"zh-rag {command}" in done.stdout
    if command in ("build", "serve", "eval", "bench"):
        assert "examples:" in done.stdout


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "scripts").glob("*.py")))
def test_every_script_still_imports_and_explains_itself(script):
    """Scripts are outside the package's imports: a renamed module would break them silently."""
    done = subprocess.run([sys.executable, f"scripts/{script}", "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "usage:" in done.stdout, done.stderr[-2000:]


def test_two_tasks_named_long_context_get_two_indexes(tmp_path):
    """Every agent task calls its file long_context.json; a default name must tell them apart."""
    for task, n in (("task-001", 2), ("task-002", 3)):
        (tmp_path / task).mkdir()
        write_corpus(tmp_path / task / "long_context.json", sample_docs(n))
        done = zh_rag("build", str(tmp_path / task / "long_context.json"), "--index-dir", str(tmp_path / "idx"),
                      "--no-dense", "--quiet")
        assert done.returncode == 0, done.stderr
    names = layout.list_corpora(tmp_path / "idx")
    assert len(names) == 2 and all(n.startswith(("task-001-long_context-", "task-002-long_context-")) for n in names)


def test_a_chinese_file_name_builds_and_a_bad_name_says_what_to_pass(tmp_path):
    corpus = write_corpus(tmp_path / "语料 样本.json", sample_docs(2))
    done = zh_rag("build", str(corpus), "--index-dir", str(tmp_path / "idx"), "--no-dense", "--quiet")
    assert done.returncode == 0, done.stderr
    (name,) = layout.list_corpora(tmp_path / "idx")
    assert layout.valid_name(name)
    bad = zh_rag("build", str(corpus), "--index-dir", str(tmp_path / "idx"), "--name", "语料 样本", "--no-dense")
    assert bad.returncode == 1 and "--name corpus-1" in bad.stderr and "Traceback" not in bad.stderr


def test_a_corpus_that_is_not_one_fails_in_one_line_and_leaves_nothing_behind(tmp_path):
    single = tmp_path / "one.json"
    single.write_text(json.dumps({"title": "a", "page_body": "正文"}), encoding="utf-8")
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    for corpus in (single, empty):
        done = zh_rag("build", str(corpus), "--index-dir", str(tmp_path / "idx"), "--quiet")
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert done.stderr.startswith("error: ")
    assert "expected a JSON list of documents" in zh_rag("build", str(single), "--index-dir",
                                                         str(tmp_path / "idx")).stderr
    assert not (tmp_path / "idx").exists() or not layout.list_corpora(tmp_path / "idx")
    assert not [p for p in (tmp_path / "idx").iterdir() if not p.name.startswith(".")]


def test_serve_refuses_a_missing_index_directory_in_one_line(tmp_path):
    done = zh_rag("serve", "--index-dir", str(tmp_path / "nope"))
    assert done.returncode == 1 and "does not exist" in done.stderr and "Traceback" not in done.stderr


def test_an_os_error_is_one_line_and_the_published_index_keeps_serving(tmp_path):
    """A disk problem (here: a name too long for the filesystem) is one line naming what failed, no traceback."""
    corpus = write_corpus(tmp_path / "c.json", sample_docs(2))
    assert zh_rag("build", str(corpus), "--index-dir", str(tmp_path / "idx"), "--name", "c", "--no-dense",
                  "--quiet").returncode == 0
    before = layout.published_version(tmp_path / "idx", "c")
    done = zh_rag("build", str(corpus), "--index-dir", str(tmp_path / ("x" * 300)), "--no-dense", "--quiet")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()  # one line, as every zh-rag error
    assert line.startswith("error:") and "name too long" in line.lower()
    assert line.endswith("(the previously published index, if any, is unchanged)")
    assert layout.published_version(tmp_path / "idx", "c") == before


def test_an_unexpected_error_is_one_line_and_debug_adds_the_traceback(tmp_path):
    """The int8 build without sympy (the README install before sympy was declared) ended in a 20-frame traceback.

    The same failure, reproduced by hiding sympy from a real build: one line naming it, exit 1; --debug shows more.
    """
    hide_sympy = "import sys; sys.modules['sympy'] = None; from app.cli import main; sys.exit(main(sys.argv[1:]))"
    args = ["build", "data/cmrc2018_sample.json", "--embedder", "onnx-int8", "--index-dir", str(tmp_path / "idx"),
            "--quiet"]
    env = {**os.environ, "RAG_MODEL_CACHE": str(tmp_path / "models")}  # no converted model yet: int8 is made now
    done = subprocess.run([sys.executable, "-c", hide_sympy, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert done.returncode == 1 and "Traceback" not in done.stderr and "Model producer" not in done.stderr
    assert len(errors) == 1 and "sympy" in errors[0] and errors[0].endswith("(--debug shows the traceback)")
    debug = subprocess.run([sys.executable, "-c", hide_sympy, *args, "--debug"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=600)
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "sympy" in debug.stderr.splitlines()[-1]


OUTPUT_OPTIONS = {"--out", "--plot", "--index-dir", "--name", "--milvus-uri", "--host"}
PLACEHOLDER = "$EVAL_DATA/"  # the evaluation corpora that are not shipped; docs/quality.md "Data" says whence


def help_examples(command: str) -> list[list[str]]:
    """The example command lines of ``zh-rag <command> --help``, as argument lists (comments dropped)."""
    text = zh_rag(command, "--help").stdout
    block = text[text.index("examples"):].split("\n", 1)[1].replace("\\\n", " ")
    lines = [line.split(" # ")[0].strip() for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line.startswith("zh-rag ")]


@pytest.mark.parametrize("command", ["build", "serve", "eval", "bench"])
def test_every_help_example_names_files_a_fresh_clone_has(command):
    """Each file an example reads is in the repository (data/, eval/), or is built by an earlier example, or is
    an evaluation corpus named as such; no path of one machine (seen: a sibling shared folder, /data/tasks/...)."""
    built: set[str] = set()
    examples = help_examples(command)
    assert examples
    for argv in examples:
        values = dict(zip(argv, argv[1:]))
        if argv[1] == "build":
            built.add(f"{values.get('--index-dir', 'indexes')}/{values.get('--name', '')}")
        for before, arg in zip(argv[1:], argv[2:]):
            if arg.startswith("-") or before in OUTPUT_OPTIONS or not ("/" in arg or arg.endswith((".json", ".jsonl"))):
                continue
            assert not arg.startswith(("/", "..")), f"{' '.join(argv)}: {arg} is a path of one machine"
            assert arg.startswith(PLACEHOLDER) or (ROOT / arg).exists() or arg in built, \
                f"{' '.join(argv)}: {arg} is not in a fresh clone"


def test_no_file_of_the_repository_names_a_path_of_one_machine():
    """Examples and docs once pointed at a sibling shared folder and at absolute paths of the build machine."""
    marks = ("../" + "shared", "/wo" + "rk/")
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    found = [f"{name}: {mark}" for name in tracked if name.endswith((".py", ".md", ".toml", ".js", ".html", ".txt"))
             and (ROOT / name).is_file() for mark in marks if mark in (ROOT / name).read_text(encoding="utf-8")]
    assert not found, found
